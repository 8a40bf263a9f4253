CREATE TABLE "auth_devices" (
	"id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"user_id" text NOT NULL,
	"token_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "auth_devices_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "auth_devices_token_idx" ON "auth_devices" USING btree ("tenant_id","token_hash");--> statement-breakpoint
CREATE INDEX "auth_devices_user_idx" ON "auth_devices" USING btree ("tenant_id","user_id","last_used_at");