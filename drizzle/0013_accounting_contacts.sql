ALTER TABLE "acct_invoices" ADD COLUMN "contact_id" text;--> statement-breakpoint
ALTER TABLE "acct_payments" ADD COLUMN "contact_id" text;--> statement-breakpoint
CREATE INDEX "acct_invoices_contact_idx" ON "acct_invoices" USING btree ("tenant_id","contact_id");--> statement-breakpoint
CREATE INDEX "acct_payments_contact_idx" ON "acct_payments" USING btree ("tenant_id","contact_id");