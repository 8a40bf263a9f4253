CREATE TABLE "integration_changes" (
	"tenant_id" text NOT NULL,
	"integration_id" text NOT NULL,
	"event_id" text NOT NULL,
	"object_id" text NOT NULL,
	"op" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"pushed_at" timestamp with time zone,
	CONSTRAINT "integration_changes_tenant_id_integration_id_event_id_pk" PRIMARY KEY("tenant_id","integration_id","event_id")
);
--> statement-breakpoint
ALTER TABLE "integration_sync_logs" ADD COLUMN "trigger" text DEFAULT 'manual' NOT NULL;--> statement-breakpoint
ALTER TABLE "integration_sync_logs" ADD COLUMN "records_total" integer;--> statement-breakpoint
ALTER TABLE "integration_sync_logs" ADD COLUMN "records_pushed" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "scheduled_jobs" ADD COLUMN "created_by_type" text DEFAULT 'system' NOT NULL;--> statement-breakpoint
ALTER TABLE "scheduled_jobs" ADD COLUMN "created_by_id" text;--> statement-breakpoint
CREATE INDEX "integration_changes_pending_idx" ON "integration_changes" USING btree ("tenant_id","integration_id","status","created_at");--> statement-breakpoint
CREATE INDEX "automation_runs_pending_idx" ON "automation_runs" USING btree ("tenant_id") WHERE "automation_runs"."status" = 'pending';