ALTER TABLE "webhooks" ADD COLUMN "application_id" text;--> statement-breakpoint
CREATE INDEX "webhooks_tenant_application_idx" ON "webhooks" USING btree ("tenant_id","application_id","id");