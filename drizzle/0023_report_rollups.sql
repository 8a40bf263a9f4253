CREATE TABLE "report_rollup_cells" (
	"tenant_id" text NOT NULL,
	"rollup_id" text NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"dims" jsonb NOT NULL,
	"n" bigint NOT NULL,
	"s1" numeric,
	"s2" numeric,
	"s3" numeric,
	"s4" numeric,
	"c1" bigint DEFAULT 0 NOT NULL,
	"c2" bigint DEFAULT 0 NOT NULL,
	"c3" bigint DEFAULT 0 NOT NULL,
	"c4" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "report_rollup_cells_tenant_id_rollup_id_bucket_dims_pk" PRIMARY KEY("tenant_id","rollup_id","bucket","dims")
);
--> statement-breakpoint
CREATE TABLE "report_rollup_deltas" (
	"tenant_id" text NOT NULL,
	"rollup_id" text NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"dims" jsonb NOT NULL,
	"n" bigint NOT NULL,
	"s1" numeric,
	"s2" numeric,
	"s3" numeric,
	"s4" numeric,
	"c1" bigint DEFAULT 0 NOT NULL,
	"c2" bigint DEFAULT 0 NOT NULL,
	"c3" bigint DEFAULT 0 NOT NULL,
	"c4" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "report_rollups" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"object_type_id" text NOT NULL,
	"dimensions" text[] NOT NULL,
	"dimension_ids" text[] NOT NULL,
	"measures" text[] NOT NULL,
	"measure_ids" text[] NOT NULL,
	"date_property" text,
	"date_property_id" text,
	"date_kind" text,
	"status" text NOT NULL,
	"error" text,
	"cell_count" integer DEFAULT 0 NOT NULL,
	"built_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "report_rollup_cells" ADD CONSTRAINT "report_rollup_cells_rollup_id_report_rollups_id_fk" FOREIGN KEY ("rollup_id") REFERENCES "public"."report_rollups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "report_rollup_deltas" ADD CONSTRAINT "report_rollup_deltas_rollup_id_report_rollups_id_fk" FOREIGN KEY ("rollup_id") REFERENCES "public"."report_rollups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "report_rollup_cells_empty_idx" ON "report_rollup_cells" USING btree ("rollup_id") WHERE n = 0;--> statement-breakpoint
CREATE INDEX "report_rollup_deltas_rollup_idx" ON "report_rollup_deltas" USING btree ("tenant_id","rollup_id");--> statement-breakpoint
CREATE INDEX "report_rollups_type_idx" ON "report_rollups" USING btree ("tenant_id","object_type_id");--> statement-breakpoint
-- A rollup cell's key and measures for one record: the UTC hour of its date (-infinity when it has none),
-- its dimension values as a JSON object, and its measures (null where not a number).
CREATE OR REPLACE FUNCTION plinth_rollup_key(date_property text, date_kind text, dimensions text[], measures text[], properties jsonb, created_at timestamptz, updated_at timestamptz)
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
      -- Stored values were checked on write; a value that no longer parses counts as no date, never an error
      -- that would fail the record's own write.
      BEGIN
        IF date_kind = 'date' THEN at := (raw::date)::timestamp AT TIME ZONE 'UTC';
        ELSE at := raw::timestamptz;
        END IF;
      EXCEPTION WHEN others THEN at := NULL;
      END;
    END IF;
  END IF;
  bucket := coalesce(date_trunc('hour', at, 'UTC'), '-infinity'::timestamptz);
  SELECT coalesce(jsonb_object_agg(d, properties -> d), '{}'::jsonb) INTO dims FROM unnest(dimensions) d WHERE properties ? d;
  SELECT array_agg(CASE WHEN jsonb_typeof(properties -> x) = 'number' THEN (properties ->> x)::numeric END ORDER BY i) INTO m
    FROM unnest(measures) WITH ORDINALITY u(x, i);
  RETURN NEXT;
END $$;
--> statement-breakpoint
-- Appends the signed changes of one statement on `objects` to the deltas of the tenant's rollups of the
-- written types: one row per touched cell, in the writer's transaction (exact at every commit, and no
-- shared counter row for concurrent writers to wait on).
CREATE OR REPLACE FUNCTION plinth_rollup_deltas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM report_rollups WHERE status <> 'failed') THEN RETURN NULL; END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO report_rollup_deltas (tenant_id, rollup_id, bucket, dims, n, s1, s2, s3, s4, c1, c2, c3, c4)
    SELECT r.tenant_id, r.id, k.bucket, k.dims, count(*), sum(k.m[1]), sum(k.m[2]), sum(k.m[3]), sum(k.m[4]),
      count(k.m[1]), count(k.m[2]), count(k.m[3]), count(k.m[4])
    FROM new_rows o
    JOIN report_rollups r ON r.tenant_id = o.tenant_id AND r.object_type_id = o.object_type_id AND r.status <> 'failed'
    CROSS JOIN LATERAL plinth_rollup_key(r.date_property, r.date_kind, r.dimensions, r.measures, o.properties, o.created_at, o.updated_at) k
    WHERE o.deleted_at IS NULL
    GROUP BY 1, 2, 3, 4;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO report_rollup_deltas (tenant_id, rollup_id, bucket, dims, n, s1, s2, s3, s4, c1, c2, c3, c4)
    SELECT r.tenant_id, r.id, k.bucket, k.dims, -count(*), -sum(k.m[1]), -sum(k.m[2]), -sum(k.m[3]), -sum(k.m[4]),
      -count(k.m[1]), -count(k.m[2]), -count(k.m[3]), -count(k.m[4])
    FROM old_rows o
    JOIN report_rollups r ON r.tenant_id = o.tenant_id AND r.object_type_id = o.object_type_id AND r.status <> 'failed'
    CROSS JOIN LATERAL plinth_rollup_key(r.date_property, r.date_kind, r.dimensions, r.measures, o.properties, o.created_at, o.updated_at) k
    WHERE o.deleted_at IS NULL
    GROUP BY 1, 2, 3, 4;
  ELSE
    INSERT INTO report_rollup_deltas (tenant_id, rollup_id, bucket, dims, n, s1, s2, s3, s4, c1, c2, c3, c4)
    SELECT r.tenant_id, r.id, k.bucket, k.dims, sum(o.sign), sum(o.sign * k.m[1]), sum(o.sign * k.m[2]), sum(o.sign * k.m[3]), sum(o.sign * k.m[4]),
      sum(o.sign * (k.m[1] IS NOT NULL)::int), sum(o.sign * (k.m[2] IS NOT NULL)::int), sum(o.sign * (k.m[3] IS NOT NULL)::int), sum(o.sign * (k.m[4] IS NOT NULL)::int)
    FROM (SELECT -1 AS sign, * FROM old_rows UNION ALL SELECT 1, * FROM new_rows) o
    JOIN report_rollups r ON r.tenant_id = o.tenant_id AND r.object_type_id = o.object_type_id AND r.status <> 'failed'
    CROSS JOIN LATERAL plinth_rollup_key(r.date_property, r.date_kind, r.dimensions, r.measures, o.properties, o.created_at, o.updated_at) k
    WHERE o.deleted_at IS NULL
    GROUP BY 1, 2, 3, 4
    -- An update that changed nothing a rollup reads nets to zero: nothing to append.
    HAVING sum(o.sign) <> 0 OR sum(o.sign * k.m[1]) <> 0 OR sum(o.sign * k.m[2]) <> 0 OR sum(o.sign * k.m[3]) <> 0 OR sum(o.sign * k.m[4]) <> 0
      OR sum(o.sign * (k.m[1] IS NOT NULL)::int) <> 0 OR sum(o.sign * (k.m[2] IS NOT NULL)::int) <> 0
      OR sum(o.sign * (k.m[3] IS NOT NULL)::int) <> 0 OR sum(o.sign * (k.m[4] IS NOT NULL)::int) <> 0;
  END IF;
  RETURN NULL;
END $$;
