CREATE TABLE "acct_settings" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"require_reconciled" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
