CREATE TABLE "agent_containers" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"name" text NOT NULL,
	"memory_mb" integer DEFAULT 64 NOT NULL,
	"timeout_ms" integer DEFAULT 5000 NOT NULL,
	"agent_id" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"invocations" integer DEFAULT 0 NOT NULL,
	"last_used_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "agent_containers_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "agent_workflow_runs" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"application_id" text NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"message" text NOT NULL,
	"context" jsonb,
	"steps" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"stage" integer DEFAULT 0 NOT NULL,
	"output" text,
	"error" jsonb,
	"principal" jsonb NOT NULL,
	"cancel_requested" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "agent_workflow_runs_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "ai_vector_store_files" (
	"tenant_id" text NOT NULL,
	"store_id" text NOT NULL,
	"file_id" text NOT NULL,
	"attributes" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ai_vector_store_files_tenant_id_store_id_file_id_pk" PRIMARY KEY("tenant_id","store_id","file_id")
);
--> statement-breakpoint
CREATE TABLE "ai_vector_stores" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ai_vector_stores_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "agent_containers_agent_idx" ON "agent_containers" USING btree ("tenant_id","agent_id");--> statement-breakpoint
CREATE INDEX "agent_containers_created_idx" ON "agent_containers" USING btree ("tenant_id","created_at");--> statement-breakpoint
CREATE INDEX "agent_workflow_runs_created_idx" ON "agent_workflow_runs" USING btree ("tenant_id","created_at");--> statement-breakpoint
CREATE INDEX "agent_workflow_runs_app_idx" ON "agent_workflow_runs" USING btree ("tenant_id","application_id","created_at");--> statement-breakpoint
CREATE INDEX "ai_vector_stores_created_idx" ON "ai_vector_stores" USING btree ("tenant_id","created_at");