CREATE TABLE "ai_chunks" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"seq" bigserial NOT NULL,
	"source" text NOT NULL,
	"source_id" text NOT NULL,
	"object_type_id" text,
	"property" text,
	"chunk_index" integer DEFAULT 0 NOT NULL,
	"text" text NOT NULL,
	"content_hash" text NOT NULL,
	"model" text NOT NULL,
	"embedding" real[],
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ai_chunks_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "ai_file_index" (
	"tenant_id" text NOT NULL,
	"file_id" text NOT NULL,
	"status" text NOT NULL,
	"progress" integer DEFAULT 0 NOT NULL,
	"content_hash" text,
	"chunks" integer DEFAULT 0 NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"indexed_at" timestamp with time zone,
	CONSTRAINT "ai_file_index_tenant_id_file_id_pk" PRIMARY KEY("tenant_id","file_id")
);
--> statement-breakpoint
CREATE TABLE "ai_index_pending" (
	"tenant_id" text NOT NULL,
	"object_id" text NOT NULL,
	"object_type_id" text NOT NULL,
	"purge" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ai_index_pending_tenant_id_object_id_pk" PRIMARY KEY("tenant_id","object_id")
);
--> statement-breakpoint
CREATE TABLE "ai_index_settings" (
	"tenant_id" text NOT NULL,
	"object_type_id" text NOT NULL,
	"auto_index" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ai_index_settings_tenant_id_object_type_id_pk" PRIMARY KEY("tenant_id","object_type_id")
);
--> statement-breakpoint
CREATE INDEX "ai_chunks_source_idx" ON "ai_chunks" USING btree ("tenant_id","source","source_id");--> statement-breakpoint
CREATE INDEX "ai_chunks_seq_idx" ON "ai_chunks" USING btree ("tenant_id","seq");--> statement-breakpoint
CREATE INDEX "ai_chunks_hash_idx" ON "ai_chunks" USING btree ("tenant_id","content_hash");--> statement-breakpoint
CREATE INDEX "ai_file_index_status_idx" ON "ai_file_index" USING btree ("tenant_id","status") WHERE status <> 'indexed';--> statement-breakpoint
-- The vector column and its HNSW index exist only where pgvector is available (PGlite through
-- @electric-sql/pglite-pgvector; PostgreSQL with the extension installed). Elsewhere the embeddings
-- stay in "embedding" (real[]) and the server searches them with an in-process index. The DDL runs
-- through EXECUTE, so this migration parses on a server that has no "vector" type.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    EXECUTE 'CREATE EXTENSION IF NOT EXISTS vector';
    EXECUTE 'ALTER TABLE "ai_chunks" ADD COLUMN IF NOT EXISTS "embedding_v" vector(512)';
    EXECUTE 'CREATE INDEX IF NOT EXISTS "ai_chunks_embedding_hnsw_idx" ON "ai_chunks" USING hnsw ("embedding_v" vector_cosine_ops) WITH (m = 16, ef_construction = 64)';
  END IF;
END
$$;
