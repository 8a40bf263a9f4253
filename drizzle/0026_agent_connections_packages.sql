CREATE TABLE "agent_connections" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"application_id" text NOT NULL,
	"name" text NOT NULL,
	"provider" text,
	"type" text NOT NULL,
	"base_url" text NOT NULL,
	"header_name" text,
	"secret" text NOT NULL,
	"hint" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "agent_connections_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "agent_packages" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"application_id" text NOT NULL,
	"name" text NOT NULL,
	"version" text NOT NULL,
	"description" text,
	"manifest" jsonb NOT NULL,
	"checksum" text NOT NULL,
	"agent_ids" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "agent_packages_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "agent_connections_name_idx" ON "agent_connections" USING btree ("tenant_id","application_id","name");--> statement-breakpoint
CREATE UNIQUE INDEX "agent_packages_name_idx" ON "agent_packages" USING btree ("tenant_id","application_id","name");