CREATE TABLE "status_components" (
	"id" text PRIMARY KEY NOT NULL,
	"status" text DEFAULT 'operational' NOT NULL,
	"last_error" text,
	"latency_ms" integer,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"last_checked_at" timestamp with time zone,
	"changed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "status_incident_updates" (
	"id" text PRIMARY KEY NOT NULL,
	"incident_id" text NOT NULL,
	"state" text NOT NULL,
	"body" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "status_incidents" (
	"id" text PRIMARY KEY NOT NULL,
	"title" text NOT NULL,
	"severity" text NOT NULL,
	"state" text NOT NULL,
	"component_ids" text[] DEFAULT '{}'::text[] NOT NULL,
	"automatic" boolean DEFAULT false NOT NULL,
	"scheduled_for" timestamp with time zone,
	"scheduled_until" timestamp with time zone,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"resolved_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "status_subscriptions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"channel" text NOT NULL,
	"target" text NOT NULL,
	"severity_filter" text NOT NULL,
	"status" text NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"verify_token_hash" text,
	"verify_expires_at" timestamp with time zone,
	"unsubscribe_token_hash" text NOT NULL,
	"unsubscribe_token" text NOT NULL,
	"secret" text,
	"created_by_tenant" text,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "status_uptime_daily" (
	"component_id" text NOT NULL,
	"day" date NOT NULL,
	"checks" integer DEFAULT 0 NOT NULL,
	"ok_checks" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "status_uptime_daily_component_id_day_pk" PRIMARY KEY("component_id","day")
);
--> statement-breakpoint
CREATE INDEX "status_incident_updates_incident_idx" ON "status_incident_updates" USING btree ("incident_id","created_at");--> statement-breakpoint
CREATE INDEX "status_incidents_created_idx" ON "status_incidents" USING btree ("created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "status_incidents_open_auto_idx" ON "status_incidents" USING btree ("component_ids") WHERE "status_incidents"."automatic" and "status_incidents"."resolved_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "status_subscriptions_target_idx" ON "status_subscriptions" USING btree ("channel","target") WHERE "status_subscriptions"."status" <> 'revoked';--> statement-breakpoint
CREATE UNIQUE INDEX "status_subscriptions_verify_idx" ON "status_subscriptions" USING btree ("verify_token_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "status_subscriptions_unsubscribe_idx" ON "status_subscriptions" USING btree ("unsubscribe_token_hash");--> statement-breakpoint
CREATE INDEX "status_subscriptions_created_idx" ON "status_subscriptions" USING btree ("created_at","id");