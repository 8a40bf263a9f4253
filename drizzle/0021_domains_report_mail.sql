DROP INDEX "branding_custom_domain_idx";--> statement-breakpoint
ALTER TABLE "mail_outbox" ADD COLUMN "attachments" jsonb;--> statement-breakpoint
ALTER TABLE "saved_reports" ADD COLUMN "email_to" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "branding_verified_domain_idx" ON "branding" USING btree ("custom_domain") WHERE domain_verified_at is not null;--> statement-breakpoint
CREATE INDEX "branding_custom_domain_idx" ON "branding" USING btree ("custom_domain");