CREATE TABLE "file_usage" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"bytes" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "file_variants" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"file_id" text NOT NULL,
	"version" integer NOT NULL,
	"spec" text NOT NULL,
	"storage_key" text NOT NULL,
	"size_bytes" bigint NOT NULL,
	"mime_type" text NOT NULL,
	"width" integer NOT NULL,
	"height" integer NOT NULL,
	"sha256" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "file_versions" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"file_id" text NOT NULL,
	"version" integer NOT NULL,
	"storage_key" text NOT NULL,
	"size_bytes" bigint NOT NULL,
	"sha256" text NOT NULL,
	"mime_type" text NOT NULL,
	"filename" text NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "files" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"filename" text NOT NULL,
	"folder" text,
	"mime_type" text NOT NULL,
	"declared_mime_type" text,
	"size_bytes" bigint DEFAULT 0 NOT NULL,
	"sha256" text,
	"status" text NOT NULL,
	"access" text DEFAULT 'private' NOT NULL,
	"tags" text[] DEFAULT '{}' NOT NULL,
	"meta" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"object_type_id" text,
	"object_id" text,
	"version" integer DEFAULT 0 NOT NULL,
	"storage_key" text NOT NULL,
	"expected_size" bigint,
	"expected_sha256" text,
	"received_size" bigint,
	"received_sha256" text,
	"upload_expires_at" timestamp with time zone,
	"replaces_file_id" text,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"uploaded_at" timestamp with time zone,
	"deleted_at" timestamp with time zone,
	"deleted_by" text
);
--> statement-breakpoint
CREATE UNIQUE INDEX "file_variants_spec_idx" ON "file_variants" USING btree ("tenant_id","file_id","version","spec");--> statement-breakpoint
CREATE UNIQUE INDEX "file_versions_file_version_idx" ON "file_versions" USING btree ("tenant_id","file_id","version");--> statement-breakpoint
CREATE INDEX "files_tenant_created_idx" ON "files" USING btree ("tenant_id","created_at","id");--> statement-breakpoint
CREATE INDEX "files_tenant_folder_idx" ON "files" USING btree ("tenant_id","folder") WHERE "files"."deleted_at" is null;--> statement-breakpoint
CREATE INDEX "files_tenant_deleted_idx" ON "files" USING btree ("tenant_id","deleted_at") WHERE "files"."deleted_at" is not null;--> statement-breakpoint
CREATE INDEX "files_pending_expiry_idx" ON "files" USING btree ("upload_expires_at") WHERE "files"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "files_tags_idx" ON "files" USING gin ("tags");--> statement-breakpoint
CREATE INDEX "files_meta_idx" ON "files" USING gin ("meta" jsonb_path_ops);--> statement-breakpoint
CREATE INDEX "files_object_idx" ON "files" USING btree ("tenant_id","object_type_id","object_id");