ALTER TABLE "report_rollups" ADD COLUMN "dimension_buckets" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
-- The cell key now takes the rollup's number buckets: a bucketed number dimension holds the greatest
-- boundary at or below the value (-1e308 below the first), compared as float8 like report filters.
CREATE OR REPLACE FUNCTION plinth_rollup_key(date_property text, date_kind text, dimensions text[], measures text[], properties jsonb, created_at timestamptz, updated_at timestamptz, buckets jsonb)
RETURNS TABLE (bucket timestamptz, dims jsonb, m numeric[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
  raw text;
  at timestamptz;
BEGIN
  IF date_property = 'created_at' THEN at := created_at;
  ELSIF date_property = 'updated_at' THEN at := updated_at;
  ELSIF date_property IS NOT NULL THEN
    raw := properties ->> date_property;
    IF raw IS NOT NULL AND jsonb_typeof(properties -> date_property) = 'string' THEN
      BEGIN
        IF date_kind = 'date' THEN at := (raw::date)::timestamp AT TIME ZONE 'UTC';
        ELSE at := raw::timestamptz;
        END IF;
      EXCEPTION WHEN others THEN at := NULL;
      END;
    END IF;
  END IF;
  bucket := coalesce(date_trunc('hour', at, 'UTC'), '-infinity'::timestamptz);
  SELECT coalesce(jsonb_object_agg(d,
      CASE WHEN buckets ? d AND jsonb_typeof(properties -> d) = 'number' THEN
        coalesce((SELECT to_jsonb(max(b::float8)) FROM jsonb_array_elements_text(buckets -> d) b WHERE b::float8 <= (properties ->> d)::float8), '-1e308'::jsonb)
      ELSE properties -> d END), '{}'::jsonb)
    INTO dims FROM unnest(dimensions) d WHERE properties ? d;
  SELECT array_agg(CASE WHEN jsonb_typeof(properties -> x) = 'number' THEN (properties ->> x)::numeric END ORDER BY i) INTO m
    FROM unnest(measures) WITH ORDINALITY u(x, i);
  RETURN NEXT;
END $$;
--> statement-breakpoint
-- The triggers pass each rollup's buckets.
CREATE OR REPLACE FUNCTION plinth_rollup_deltas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM report_rollups WHERE status <> 'failed') THEN RETURN NULL; END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO report_rollup_deltas (tenant_id, rollup_id, bucket, dims, n, s1, s2, s3, s4, c1, c2, c3, c4)
    SELECT r.tenant_id, r.id, k.bucket, k.dims, count(*), sum(k.m[1]), sum(k.m[2]), sum(k.m[3]), sum(k.m[4]),
      count(k.m[1]), count(k.m[2]), count(k.m[3]), count(k.m[4])
    FROM new_rows o
    JOIN report_rollups r ON r.tenant_id = o.tenant_id AND r.object_type_id = o.object_type_id AND r.status <> 'failed'
    CROSS JOIN LATERAL plinth_rollup_key(r.date_property, r.date_kind, r.dimensions, r.measures, o.properties, o.created_at, o.updated_at, r.dimension_buckets) k
    WHERE o.deleted_at IS NULL
    GROUP BY 1, 2, 3, 4;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO report_rollup_deltas (tenant_id, rollup_id, bucket, dims, n, s1, s2, s3, s4, c1, c2, c3, c4)
    SELECT r.tenant_id, r.id, k.bucket, k.dims, -count(*), -sum(k.m[1]), -sum(k.m[2]), -sum(k.m[3]), -sum(k.m[4]),
      -count(k.m[1]), -count(k.m[2]), -count(k.m[3]), -count(k.m[4])
    FROM old_rows o
    JOIN report_rollups r ON r.tenant_id = o.tenant_id AND r.object_type_id = o.object_type_id AND r.status <> 'failed'
    CROSS JOIN LATERAL plinth_rollup_key(r.date_property, r.date_kind, r.dimensions, r.measures, o.properties, o.created_at, o.updated_at, r.dimension_buckets) k
    WHERE o.deleted_at IS NULL
    GROUP BY 1, 2, 3, 4;
  ELSE
    INSERT INTO report_rollup_deltas (tenant_id, rollup_id, bucket, dims, n, s1, s2, s3, s4, c1, c2, c3, c4)
    SELECT r.tenant_id, r.id, k.bucket, k.dims, sum(o.sign), sum(o.sign * k.m[1]), sum(o.sign * k.m[2]), sum(o.sign * k.m[3]), sum(o.sign * k.m[4]),
      sum(o.sign * (k.m[1] IS NOT NULL)::int), sum(o.sign * (k.m[2] IS NOT NULL)::int), sum(o.sign * (k.m[3] IS NOT NULL)::int), sum(o.sign * (k.m[4] IS NOT NULL)::int)
    FROM (SELECT -1 AS sign, * FROM old_rows UNION ALL SELECT 1, * FROM new_rows) o
    JOIN report_rollups r ON r.tenant_id = o.tenant_id AND r.object_type_id = o.object_type_id AND r.status <> 'failed'
    CROSS JOIN LATERAL plinth_rollup_key(r.date_property, r.date_kind, r.dimensions, r.measures, o.properties, o.created_at, o.updated_at, r.dimension_buckets) k
    WHERE o.deleted_at IS NULL
    GROUP BY 1, 2, 3, 4
    -- An update that changed nothing a rollup reads nets to zero: nothing to append.
    HAVING sum(o.sign) <> 0 OR sum(o.sign * k.m[1]) <> 0 OR sum(o.sign * k.m[2]) <> 0 OR sum(o.sign * k.m[3]) <> 0 OR sum(o.sign * k.m[4]) <> 0
      OR sum(o.sign * (k.m[1] IS NOT NULL)::int) <> 0 OR sum(o.sign * (k.m[2] IS NOT NULL)::int) <> 0
      OR sum(o.sign * (k.m[3] IS NOT NULL)::int) <> 0 OR sum(o.sign * (k.m[4] IS NOT NULL)::int) <> 0;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
DROP FUNCTION IF EXISTS plinth_rollup_key(text, text, text[], text[], jsonb, timestamptz, timestamptz);
