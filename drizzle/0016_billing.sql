CREATE TABLE "billing_events" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"stripe_event_id" text NOT NULL,
	"event_type" text NOT NULL,
	"status" text NOT NULL,
	"summary" text,
	"occurred_at" timestamp with time zone NOT NULL,
	"subscription" jsonb,
	"invoice" jsonb,
	"usage" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "billing_events_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "billing_subscriptions" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"plan_code" text NOT NULL,
	"status" text NOT NULL,
	"auto_renew" boolean DEFAULT true NOT NULL,
	"billing_email" text,
	"seat_count" integer,
	"starts_at" timestamp with time zone NOT NULL,
	"current_period_start" timestamp with time zone,
	"current_period_end" timestamp with time zone,
	"trial_ends_at" timestamp with time zone,
	"cancel_at" timestamp with time zone,
	"canceled_at" timestamp with time zone,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"stripe_customer_id" text,
	"stripe_subscription_id" text,
	"stripe_item_id" text,
	"stripe_subscription_at" bigint,
	"stripe_invoice_at" bigint,
	"payment_failed_at" timestamp with time zone,
	"grace_ends_at" timestamp with time zone,
	"suspended_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "billing_usage" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"feature_key" text NOT NULL,
	"quantity" bigint NOT NULL,
	"idempotency_key" text NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"period_start" timestamp with time zone,
	"period_end" timestamp with time zone,
	"pushed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "billing_usage_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "billing_events_stripe_idx" ON "billing_events" USING btree ("tenant_id","stripe_event_id");--> statement-breakpoint
CREATE INDEX "billing_events_type_idx" ON "billing_events" USING btree ("tenant_id","event_type");--> statement-breakpoint
CREATE INDEX "billing_subscriptions_customer_idx" ON "billing_subscriptions" USING btree ("stripe_customer_id");--> statement-breakpoint
CREATE INDEX "billing_subscriptions_grace_idx" ON "billing_subscriptions" USING btree ("grace_ends_at");--> statement-breakpoint
CREATE UNIQUE INDEX "billing_usage_key_idx" ON "billing_usage" USING btree ("tenant_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "billing_usage_feature_idx" ON "billing_usage" USING btree ("tenant_id","feature_key","occurred_at");--> statement-breakpoint
CREATE INDEX "billing_usage_pending_idx" ON "billing_usage" USING btree ("tenant_id","pushed_at");