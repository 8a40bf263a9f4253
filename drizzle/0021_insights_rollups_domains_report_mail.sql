CREATE TABLE "request_stats" (
	"tenant_id" text NOT NULL,
	"hour" timestamp with time zone NOT NULL,
	"family" text NOT NULL,
	"status" integer NOT NULL,
	"count" bigint NOT NULL,
	"duration_ms" double precision NOT NULL,
	"buckets" bigint[] NOT NULL,
	CONSTRAINT "request_stats_tenant_id_hour_family_status_pk" PRIMARY KEY("tenant_id","hour","family","status")
);
--> statement-breakpoint
CREATE TABLE "active_users" (
	"tenant_id" text NOT NULL,
	"day" text NOT NULL,
	"user_id" text NOT NULL,
	CONSTRAINT "active_users_tenant_id_day_user_id_pk" PRIMARY KEY("tenant_id","day","user_id")
);
--> statement-breakpoint
CREATE TABLE "event_stats" (
	"tenant_id" text NOT NULL,
	"hour" timestamp with time zone NOT NULL,
	"type" text NOT NULL,
	"actor_type" text NOT NULL,
	"count" integer NOT NULL,
	CONSTRAINT "event_stats_tenant_id_hour_type_actor_type_pk" PRIMARY KEY("tenant_id","hour","type","actor_type")
);
--> statement-breakpoint
DROP INDEX "branding_custom_domain_idx";--> statement-breakpoint
ALTER TABLE "mail_outbox" ADD COLUMN "attachments" jsonb;--> statement-breakpoint
ALTER TABLE "saved_reports" ADD COLUMN "email_to" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "branding_verified_domain_idx" ON "branding" USING btree ("custom_domain") WHERE domain_verified_at is not null;--> statement-breakpoint
CREATE INDEX "branding_custom_domain_idx" ON "branding" USING btree ("custom_domain");