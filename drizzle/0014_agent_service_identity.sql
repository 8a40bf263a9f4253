CREATE TABLE "service_account_tokens" (
	"tenant_id" text NOT NULL,
	"jti" text NOT NULL,
	"account" text NOT NULL,
	"scopes" text[] NOT NULL,
	"issued_by" text NOT NULL,
	"origin" text NOT NULL,
	"fingerprint" text,
	"reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone,
	"revoke_reason" text,
	CONSTRAINT "service_account_tokens_tenant_id_jti_pk" PRIMARY KEY("tenant_id","jti")
);
--> statement-breakpoint
CREATE TABLE "signup_invites" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"token_hash" text NOT NULL,
	"token_hint" text NOT NULL,
	"email" text,
	"note" text,
	"max_redemptions" integer DEFAULT 1 NOT NULL,
	"redeemed_count" integer DEFAULT 0 NOT NULL,
	"created_by" text,
	"signup_request_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"last_redeemed_at" timestamp with time zone,
	CONSTRAINT "signup_invites_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "signup_requests" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"email" text NOT NULL,
	"full_name" text,
	"organization" text,
	"message" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"ip" text,
	"user_agent" text,
	"decided_by" text,
	"decided_at" timestamp with time zone,
	"decision_reason" text,
	"invite_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "signup_requests_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "contact_messages" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"name" text NOT NULL,
	"email" text NOT NULL,
	"company" text,
	"topic" text,
	"subject" text,
	"message" text NOT NULL,
	"ip" text,
	"user_agent" text,
	"recipients" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "contact_messages_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE INDEX "service_account_tokens_account_idx" ON "service_account_tokens" USING btree ("tenant_id","account","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "signup_invites_token_idx" ON "signup_invites" USING btree ("tenant_id","token_hash");--> statement-breakpoint
CREATE INDEX "signup_requests_status_idx" ON "signup_requests" USING btree ("tenant_id","status","created_at");--> statement-breakpoint
CREATE INDEX "contact_messages_created_idx" ON "contact_messages" USING btree ("tenant_id","created_at");