CREATE TABLE "data_jobs" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"kind" text NOT NULL,
	"object_type_id" text NOT NULL,
	"object_type" text NOT NULL,
	"format" text NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"total" integer DEFAULT 0 NOT NULL,
	"processed" integer DEFAULT 0 NOT NULL,
	"succeeded" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"errors" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"input" jsonb,
	"params" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"error" text,
	"bytes" integer DEFAULT 0 NOT NULL,
	"created_by_type" text NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"expires_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "data_export_chunks" (
	"tenant_id" text NOT NULL,
	"export_id" text NOT NULL,
	"seq" integer NOT NULL,
	"content" text NOT NULL,
	CONSTRAINT "data_export_chunks_pk" PRIMARY KEY("export_id","seq")
);
--> statement-breakpoint
CREATE TABLE "tenant_governance" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"updated_by" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "object_associations" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"association_type" text NOT NULL,
	"from_type_id" text NOT NULL,
	"from_id" text NOT NULL,
	"to_type_id" text NOT NULL,
	"to_id" text NOT NULL,
	"meta" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "object_comments" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"object_type_id" text NOT NULL,
	"object_id" text NOT NULL,
	"body" text NOT NULL,
	"author_type" text NOT NULL,
	"author_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "object_index" (
	"tenant_id" text NOT NULL,
	"object_id" text NOT NULL,
	"property_id" text NOT NULL,
	"ord" smallint DEFAULT 0 NOT NULL,
	"value_text" text,
	"value_num" double precision,
	"value_ts" timestamp with time zone,
	"unique_key" text,
	CONSTRAINT "object_index_pk" PRIMARY KEY("object_id","property_id","ord")
);
--> statement-breakpoint
CREATE TABLE "object_types" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"name" text NOT NULL,
	"display_name" text NOT NULL,
	"description" text,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "object_versions" (
	"tenant_id" text NOT NULL,
	"object_id" text NOT NULL,
	"version" integer NOT NULL,
	"properties" jsonb NOT NULL,
	"updated_by" text,
	"updated_at" timestamp with time zone NOT NULL,
	"superseded_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "object_versions_pk" PRIMARY KEY("object_id","version")
);
--> statement-breakpoint
CREATE TABLE "objects" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"object_type_id" text NOT NULL,
	"properties" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"search" "tsvector",
	"version" integer DEFAULT 1 NOT NULL,
	"created_by" text,
	"updated_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp with time zone,
	"deleted_by" text
);
--> statement-breakpoint
CREATE TABLE "object_policies" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"object_type_id" text NOT NULL,
	"name" text NOT NULL,
	"action" text NOT NULL,
	"role" text,
	"condition_json" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "object_properties" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"object_type_id" text NOT NULL,
	"name" text NOT NULL,
	"data_type" text NOT NULL,
	"is_indexed" boolean DEFAULT false NOT NULL,
	"is_sortable" boolean DEFAULT false NOT NULL,
	"is_unique" boolean DEFAULT false NOT NULL,
	"is_required" boolean DEFAULT false NOT NULL,
	"default_value" jsonb,
	"enum_values" text[],
	"options" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"description" text,
	"position" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "object_review_history" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"object_id" text NOT NULL,
	"workflow_id" text NOT NULL,
	"action" text NOT NULL,
	"stage" text,
	"actor_type" text NOT NULL,
	"actor_id" text,
	"comment" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "object_reviews" (
	"object_id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"object_type_id" text NOT NULL,
	"workflow_id" text NOT NULL,
	"status" text NOT NULL,
	"stage_index" integer DEFAULT 0 NOT NULL,
	"approvals" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"pending_changes" jsonb,
	"pending_base_version" integer,
	"submitted_by_type" text,
	"submitted_by" text,
	"submitted_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "object_views" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"object_type_id" text NOT NULL,
	"name" text NOT NULL,
	"filters" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"sort" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"columns" text[] DEFAULT '{}' NOT NULL,
	"search" text,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "object_workflows" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"object_type_id" text NOT NULL,
	"name" text NOT NULL,
	"stages" jsonb NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"allow_self_approval" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "data_export_chunks" ADD CONSTRAINT "data_export_chunks_export_id_data_jobs_id_fk" FOREIGN KEY ("export_id") REFERENCES "public"."data_jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_associations" ADD CONSTRAINT "object_associations_from_id_objects_id_fk" FOREIGN KEY ("from_id") REFERENCES "public"."objects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_associations" ADD CONSTRAINT "object_associations_to_id_objects_id_fk" FOREIGN KEY ("to_id") REFERENCES "public"."objects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_comments" ADD CONSTRAINT "object_comments_object_id_objects_id_fk" FOREIGN KEY ("object_id") REFERENCES "public"."objects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_index" ADD CONSTRAINT "object_index_object_id_objects_id_fk" FOREIGN KEY ("object_id") REFERENCES "public"."objects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_versions" ADD CONSTRAINT "object_versions_object_id_objects_id_fk" FOREIGN KEY ("object_id") REFERENCES "public"."objects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_policies" ADD CONSTRAINT "object_policies_object_type_id_object_types_id_fk" FOREIGN KEY ("object_type_id") REFERENCES "public"."object_types"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_properties" ADD CONSTRAINT "object_properties_object_type_id_object_types_id_fk" FOREIGN KEY ("object_type_id") REFERENCES "public"."object_types"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_review_history" ADD CONSTRAINT "object_review_history_object_id_objects_id_fk" FOREIGN KEY ("object_id") REFERENCES "public"."objects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_reviews" ADD CONSTRAINT "object_reviews_object_id_objects_id_fk" FOREIGN KEY ("object_id") REFERENCES "public"."objects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_views" ADD CONSTRAINT "object_views_object_type_id_object_types_id_fk" FOREIGN KEY ("object_type_id") REFERENCES "public"."object_types"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_workflows" ADD CONSTRAINT "object_workflows_object_type_id_object_types_id_fk" FOREIGN KEY ("object_type_id") REFERENCES "public"."object_types"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "data_jobs_tenant_idx" ON "data_jobs" USING btree ("tenant_id","kind","id");--> statement-breakpoint
CREATE INDEX "data_jobs_expires_idx" ON "data_jobs" USING btree ("expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "object_associations_edge_idx" ON "object_associations" USING btree ("from_id","association_type","to_id");--> statement-breakpoint
CREATE INDEX "object_associations_to_idx" ON "object_associations" USING btree ("to_id","association_type","from_id");--> statement-breakpoint
CREATE INDEX "object_comments_object_idx" ON "object_comments" USING btree ("object_id","id");--> statement-breakpoint
CREATE INDEX "object_index_text_idx" ON "object_index" USING btree ("tenant_id","property_id","value_text","object_id") WHERE value_text is not null;--> statement-breakpoint
CREATE INDEX "object_index_num_idx" ON "object_index" USING btree ("tenant_id","property_id","value_num","object_id") WHERE value_num is not null;--> statement-breakpoint
CREATE INDEX "object_index_ts_idx" ON "object_index" USING btree ("tenant_id","property_id","value_ts","object_id") WHERE value_ts is not null;--> statement-breakpoint
CREATE INDEX "object_index_null_idx" ON "object_index" USING btree ("tenant_id","property_id","object_id") WHERE value_text is null and value_num is null and value_ts is null;--> statement-breakpoint
CREATE UNIQUE INDEX "object_index_unique_idx" ON "object_index" USING btree ("tenant_id","property_id","unique_key") WHERE unique_key is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "object_types_tenant_name_idx" ON "object_types" USING btree ("tenant_id","name");--> statement-breakpoint
CREATE INDEX "objects_live_idx" ON "objects" USING btree ("tenant_id","object_type_id","id") WHERE deleted_at is null;--> statement-breakpoint
CREATE INDEX "objects_updated_idx" ON "objects" USING btree ("tenant_id","object_type_id","updated_at","id") WHERE deleted_at is null;--> statement-breakpoint
CREATE INDEX "objects_trash_idx" ON "objects" USING btree ("tenant_id","object_type_id","deleted_at","id") WHERE deleted_at is not null;--> statement-breakpoint
CREATE INDEX "objects_search_idx" ON "objects" USING gin ("search") WHERE deleted_at is null;--> statement-breakpoint
CREATE INDEX "object_policies_type_idx" ON "object_policies" USING btree ("object_type_id");--> statement-breakpoint
CREATE UNIQUE INDEX "object_properties_type_name_idx" ON "object_properties" USING btree ("object_type_id","name");--> statement-breakpoint
CREATE INDEX "object_review_history_object_idx" ON "object_review_history" USING btree ("object_id","id");--> statement-breakpoint
CREATE INDEX "object_reviews_workflow_idx" ON "object_reviews" USING btree ("workflow_id","status");--> statement-breakpoint
CREATE UNIQUE INDEX "object_views_type_name_idx" ON "object_views" USING btree ("object_type_id","name");--> statement-breakpoint
CREATE UNIQUE INDEX "object_workflows_enabled_idx" ON "object_workflows" USING btree ("object_type_id") WHERE enabled;--> statement-breakpoint
CREATE INDEX "object_workflows_type_idx" ON "object_workflows" USING btree ("object_type_id");