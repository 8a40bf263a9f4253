CREATE TABLE "acct_accounts" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"code" text NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"sub_type" text,
	"parent_id" text,
	"description" text,
	"currency" text,
	"is_active" boolean DEFAULT true NOT NULL,
	"system_role" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "acct_accounts_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "acct_allocations" (
	"tenant_id" text NOT NULL,
	"payment_id" text NOT NULL,
	"invoice_id" text NOT NULL,
	"amount" numeric NOT NULL,
	"base_amount" numeric NOT NULL,
	"date" date NOT NULL,
	"voided" boolean DEFAULT false NOT NULL,
	CONSTRAINT "acct_allocations_tenant_id_payment_id_invoice_id_pk" PRIMARY KEY("tenant_id","payment_id","invoice_id")
);
--> statement-breakpoint
CREATE TABLE "acct_bank_accounts" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"name" text NOT NULL,
	"account_number" text,
	"bank_name" text,
	"currency" text NOT NULL,
	"gl_account_id" text NOT NULL,
	"is_active" boolean DEFAULT true NOT NULL,
	"last_reconciled_at" timestamp with time zone,
	"reconciled_balance" numeric DEFAULT '0' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "acct_bank_accounts_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "acct_bank_transactions" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"bank_account_id" text NOT NULL,
	"date" date NOT NULL,
	"description" text,
	"amount" numeric NOT NULL,
	"type" text NOT NULL,
	"reference" text,
	"dedupe_key" text NOT NULL,
	"status" text DEFAULT 'unmatched' NOT NULL,
	"entry_id" text,
	"reconciled_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "acct_bank_transactions_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "acct_currencies" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"code" text NOT NULL,
	"name" text NOT NULL,
	"symbol" text,
	"decimal_places" smallint DEFAULT 2 NOT NULL,
	"is_base" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "acct_currencies_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "acct_journal_entries" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"date" date NOT NULL,
	"description" text,
	"reference" text,
	"currency" text NOT NULL,
	"exchange_rate" numeric NOT NULL,
	"status" text NOT NULL,
	"lines" jsonb NOT NULL,
	"total" numeric NOT NULL,
	"source_type" text DEFAULT 'manual' NOT NULL,
	"source_id" text,
	"reversal_of" text,
	"reversed_by" text,
	"posted_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "acct_journal_entries_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "acct_invoices" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"type" text NOT NULL,
	"contact_name" text NOT NULL,
	"date" date NOT NULL,
	"due_date" date NOT NULL,
	"currency" text NOT NULL,
	"status" text NOT NULL,
	"lines" jsonb NOT NULL,
	"subtotal" numeric NOT NULL,
	"tax_total" numeric NOT NULL,
	"total" numeric NOT NULL,
	"amount_paid" numeric DEFAULT '0' NOT NULL,
	"exchange_rate" numeric,
	"base_total" numeric,
	"base_due" numeric,
	"entry_id" text,
	"notes" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "acct_invoices_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "acct_payments" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"type" text NOT NULL,
	"contact_name" text,
	"date" date NOT NULL,
	"amount" numeric NOT NULL,
	"currency" text NOT NULL,
	"exchange_rate" numeric NOT NULL,
	"method" text,
	"bank_account_id" text,
	"reference" text,
	"status" text NOT NULL,
	"entry_id" text NOT NULL,
	"void_entry_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "acct_payments_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "acct_periods" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"name" text NOT NULL,
	"start_date" date NOT NULL,
	"end_date" date NOT NULL,
	"status" text DEFAULT 'open' NOT NULL,
	"closed_at" timestamp with time zone,
	"closed_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "acct_periods_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "acct_postings" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"entry_id" text NOT NULL,
	"line_no" integer NOT NULL,
	"account_id" text NOT NULL,
	"date" date NOT NULL,
	"currency" text NOT NULL,
	"debit" numeric NOT NULL,
	"credit" numeric NOT NULL,
	"base_debit" numeric NOT NULL,
	"base_credit" numeric NOT NULL,
	"description" text,
	"tax_code_id" text,
	"is_tax" boolean DEFAULT false NOT NULL,
	"tax_side" text,
	CONSTRAINT "acct_postings_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "acct_exchange_rates" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"from_currency" text NOT NULL,
	"to_currency" text NOT NULL,
	"rate" numeric NOT NULL,
	"effective_date" date NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "acct_exchange_rates_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "acct_recurring" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"template" jsonb NOT NULL,
	"frequency" text NOT NULL,
	"next_run" date,
	"end_date" date,
	"status" text DEFAULT 'active' NOT NULL,
	"run_count" integer DEFAULT 0 NOT NULL,
	"last_run_at" timestamp with time zone,
	"last_result_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "acct_recurring_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "acct_rollups" (
	"tenant_id" text NOT NULL,
	"account_id" text NOT NULL,
	"day" date NOT NULL,
	"shard" smallint NOT NULL,
	"debit" numeric NOT NULL,
	"credit" numeric NOT NULL,
	CONSTRAINT "acct_rollups_tenant_id_day_account_id_shard_pk" PRIMARY KEY("tenant_id","day","account_id","shard")
);
--> statement-breakpoint
CREATE TABLE "acct_tax_codes" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"code" text NOT NULL,
	"name" text NOT NULL,
	"rate" numeric NOT NULL,
	"type" text NOT NULL,
	"category" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "acct_tax_codes_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "acct_accounts_code_idx" ON "acct_accounts" USING btree ("tenant_id","code");--> statement-breakpoint
CREATE UNIQUE INDEX "acct_accounts_role_idx" ON "acct_accounts" USING btree ("tenant_id","system_role");--> statement-breakpoint
CREATE INDEX "acct_allocations_invoice_idx" ON "acct_allocations" USING btree ("tenant_id","invoice_id");--> statement-breakpoint
CREATE UNIQUE INDEX "acct_bank_tx_dedupe_idx" ON "acct_bank_transactions" USING btree ("tenant_id","bank_account_id","dedupe_key");--> statement-breakpoint
CREATE INDEX "acct_bank_tx_account_idx" ON "acct_bank_transactions" USING btree ("tenant_id","bank_account_id","date");--> statement-breakpoint
CREATE UNIQUE INDEX "acct_currencies_code_idx" ON "acct_currencies" USING btree ("tenant_id","code");--> statement-breakpoint
CREATE UNIQUE INDEX "acct_currencies_base_idx" ON "acct_currencies" USING btree ("tenant_id") WHERE is_base;--> statement-breakpoint
CREATE INDEX "acct_entries_date_idx" ON "acct_journal_entries" USING btree ("tenant_id","date","id");--> statement-breakpoint
CREATE INDEX "acct_invoices_type_idx" ON "acct_invoices" USING btree ("tenant_id","type","status");--> statement-breakpoint
CREATE INDEX "acct_periods_dates_idx" ON "acct_periods" USING btree ("tenant_id","start_date");--> statement-breakpoint
CREATE INDEX "acct_postings_account_idx" ON "acct_postings" USING btree ("tenant_id","account_id","date");--> statement-breakpoint
CREATE INDEX "acct_postings_entry_idx" ON "acct_postings" USING btree ("tenant_id","entry_id");--> statement-breakpoint
CREATE INDEX "acct_postings_tax_idx" ON "acct_postings" USING btree ("tenant_id","tax_code_id","date") WHERE tax_code_id is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "acct_rates_pair_date_idx" ON "acct_exchange_rates" USING btree ("tenant_id","from_currency","to_currency","effective_date");--> statement-breakpoint
CREATE INDEX "acct_recurring_due_idx" ON "acct_recurring" USING btree ("status","next_run");--> statement-breakpoint
CREATE UNIQUE INDEX "acct_tax_codes_code_idx" ON "acct_tax_codes" USING btree ("tenant_id","code");--> statement-breakpoint

-- Row-level security (core/db/migrate.ts adds the tenant_isolation policy and grants for every table with tenant_id).
ALTER TABLE "acct_accounts" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "acct_accounts" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "acct_allocations" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "acct_allocations" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "acct_bank_accounts" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "acct_bank_accounts" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "acct_bank_transactions" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "acct_bank_transactions" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "acct_currencies" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "acct_currencies" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "acct_exchange_rates" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "acct_exchange_rates" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "acct_invoices" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "acct_invoices" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "acct_journal_entries" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "acct_journal_entries" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "acct_payments" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "acct_payments" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "acct_periods" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "acct_periods" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "acct_postings" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "acct_postings" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "acct_recurring" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "acct_recurring" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "acct_rollups" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "acct_rollups" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "acct_tax_codes" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "acct_tax_codes" FORCE ROW LEVEL SECURITY;
