CREATE TABLE "billing_usage_counters" (
	"tenant_id" text NOT NULL,
	"feature_key" text NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"shard" smallint NOT NULL,
	"quantity" bigint NOT NULL,
	"records" bigint NOT NULL,
	CONSTRAINT "billing_usage_counters_tenant_id_feature_key_bucket_shard_pk" PRIMARY KEY("tenant_id","feature_key","bucket","shard")
);
--> statement-breakpoint
-- Usage counted before the counters existed: one bucket per hour (UTC), in shard 0.
INSERT INTO "billing_usage_counters" ("tenant_id", "feature_key", "bucket", "shard", "quantity", "records")
SELECT "tenant_id", "feature_key", date_trunc('hour', "occurred_at" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', 0, sum("quantity"), count(*)
FROM "billing_usage"
GROUP BY 1, 2, 3;
