ALTER TABLE "scheduled_jobs" ADD COLUMN "created_by_type" text DEFAULT 'system' NOT NULL;--> statement-breakpoint
ALTER TABLE "scheduled_jobs" ADD COLUMN "created_by_id" text;