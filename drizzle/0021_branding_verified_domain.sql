DROP INDEX "branding_custom_domain_idx";--> statement-breakpoint
CREATE UNIQUE INDEX "branding_verified_domain_idx" ON "branding" USING btree ("custom_domain") WHERE domain_verified_at is not null;--> statement-breakpoint
CREATE INDEX "branding_custom_domain_idx" ON "branding" USING btree ("custom_domain");