import { index, jsonb, pgTable, text, integer } from 'drizzle-orm/pg-core';
import { createdAt, idColumn, tenantIdColumn, timestamptz } from '../db/columns.ts';

/**
 * Every message Plinth sends. Without SMTP_URL this table is the mailbox (read it in development);
 * with it, rows are delivered by the `mail.deliver` job and keep their delivery status.
 */
export interface MailAttachment {
  filename: string;
  contentType: string;
  /** base64 */
  content: string;
}

export const mailOutbox = pgTable(
  'mail_outbox',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    to: text('to').notNull(),
    from: text('from').notNull(),
    subject: text('subject').notNull(),
    text: text('text').notNull(),
    html: text('html'),
    replyTo: text('reply_to'),
    template: text('template'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    /** Files sent with the message, base64 (a report's export): small by construction, see MailMessage. */
    attachments: jsonb('attachments').$type<MailAttachment[]>(),
    status: text('status', { enum: ['stored', 'queued', 'sent', 'failed'] }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    error: text('error'),
    providerMessageId: text('provider_message_id'),
    createdAt: createdAt(),
    sentAt: timestamptz('sent_at'),
  },
  (t) => [index('mail_outbox_tenant_created_idx').on(t.tenantId, t.createdAt), index('mail_outbox_tenant_to_idx').on(t.tenantId, t.to)],
);
