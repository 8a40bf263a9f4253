CREATE TABLE "automation_runs" (
	"id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"automation_id" text NOT NULL,
	"event_id" text,
	"trigger" text NOT NULL,
	"status" text NOT NULL,
	"depth" integer DEFAULT 0 NOT NULL,
	"input" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"steps" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"error" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"duration_ms" integer,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "automation_runs_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "automations" (
	"id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"trigger_event" text NOT NULL,
	"conditions" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"actions" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"created_by_type" text NOT NULL,
	"created_by_id" text,
	"plugin_id" text,
	"run_count" integer DEFAULT 0 NOT NULL,
	"last_run_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "automations_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "function_logs" (
	"id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"function_id" text NOT NULL,
	"invocation_id" text NOT NULL,
	"level" text NOT NULL,
	"message" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "function_logs_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "functions" (
	"id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"trigger_type" text DEFAULT 'http' NOT NULL,
	"code" text NOT NULL,
	"runtime" text DEFAULT 'javascript' NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"timeout_ms" integer DEFAULT 5000 NOT NULL,
	"memory_mb" integer DEFAULT 64 NOT NULL,
	"invocations" integer DEFAULT 0 NOT NULL,
	"last_invoked_at" timestamp with time zone,
	"plugin_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "functions_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "integration_records" (
	"tenant_id" text NOT NULL,
	"integration_id" text NOT NULL,
	"external_id" text NOT NULL,
	"object_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "integration_records_tenant_id_integration_id_external_id_pk" PRIMARY KEY("tenant_id","integration_id","external_id")
);
--> statement-breakpoint
CREATE TABLE "integration_sync_logs" (
	"id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"integration_id" text NOT NULL,
	"status" text NOT NULL,
	"direction" text NOT NULL,
	"records_created" integer DEFAULT 0 NOT NULL,
	"records_updated" integer DEFAULT 0 NOT NULL,
	"records_failed" integer DEFAULT 0 NOT NULL,
	"messages" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"error" text,
	"duration_ms" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "integration_sync_logs_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "integrations" (
	"id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"provider" text NOT NULL,
	"name" text NOT NULL,
	"config" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"sync_direction" text DEFAULT 'inbound' NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"last_sync_at" timestamp with time zone,
	"last_sync_status" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "integrations_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "plugins" (
	"id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"name" text NOT NULL,
	"version" text NOT NULL,
	"manifest" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"config" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "plugins_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "scheduled_job_runs" (
	"id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"job_id" text NOT NULL,
	"scheduled_for" timestamp with time zone,
	"trigger" text NOT NULL,
	"status" text NOT NULL,
	"output" jsonb,
	"error" text,
	"duration_ms" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "scheduled_job_runs_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "scheduled_jobs" (
	"id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"cron_expression" text,
	"timezone" text DEFAULT 'UTC' NOT NULL,
	"run_at" timestamp with time zone,
	"action_type" text NOT NULL,
	"action_config" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"missed_runs" text DEFAULT 'run_once' NOT NULL,
	"next_run_at" timestamp with time zone,
	"last_run_at" timestamp with time zone,
	"last_status" text,
	"run_count" integer DEFAULT 0 NOT NULL,
	"plugin_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "scheduled_jobs_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "automation_runs_event_idx" ON "automation_runs" USING btree ("tenant_id","automation_id","event_id");--> statement-breakpoint
CREATE INDEX "automation_runs_list_idx" ON "automation_runs" USING btree ("tenant_id","automation_id","created_at");--> statement-breakpoint
CREATE INDEX "automations_trigger_idx" ON "automations" USING btree ("tenant_id","trigger_event");--> statement-breakpoint
CREATE INDEX "automations_created_idx" ON "automations" USING btree ("tenant_id","created_at","id");--> statement-breakpoint
CREATE INDEX "function_logs_list_idx" ON "function_logs" USING btree ("tenant_id","function_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "functions_name_idx" ON "functions" USING btree ("tenant_id","name");--> statement-breakpoint
CREATE INDEX "functions_created_idx" ON "functions" USING btree ("tenant_id","created_at","id");--> statement-breakpoint
CREATE INDEX "integration_sync_logs_list_idx" ON "integration_sync_logs" USING btree ("tenant_id","integration_id","created_at");--> statement-breakpoint
CREATE INDEX "integrations_created_idx" ON "integrations" USING btree ("tenant_id","created_at","id");--> statement-breakpoint
CREATE UNIQUE INDEX "plugins_name_idx" ON "plugins" USING btree ("tenant_id","name");--> statement-breakpoint
CREATE UNIQUE INDEX "scheduled_job_runs_fire_idx" ON "scheduled_job_runs" USING btree ("tenant_id","job_id","scheduled_for");--> statement-breakpoint
CREATE INDEX "scheduled_job_runs_list_idx" ON "scheduled_job_runs" USING btree ("tenant_id","job_id","created_at");--> statement-breakpoint
CREATE INDEX "scheduled_jobs_due_idx" ON "scheduled_jobs" USING btree ("next_run_at");--> statement-breakpoint
CREATE INDEX "scheduled_jobs_created_idx" ON "scheduled_jobs" USING btree ("tenant_id","created_at","id");