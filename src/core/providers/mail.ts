import { eq } from 'drizzle-orm';
import type { Transporter } from 'nodemailer';
import type Nodemailer from 'nodemailer';
import { lazyRequire } from '../lazy.ts';
import type { Logger } from 'pino';
import type { Database, Db } from '../db/client.ts';
import { newId } from '../http/ids.ts';
import type { Jobs } from '../jobs/jobs.ts';
import { mailOutbox, type MailAttachment } from './tables.ts';

// Loaded only where SMTP_URL is set.
const nodemailer = lazyRequire<typeof Nodemailer>('nodemailer');

/** Mail servers commonly refuse messages past 10 MB; attachments stay well under with their encoding. */
export const MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024;

/** The unit of work a message is queued in (a TenantContext is one); kept narrow so the kernel's providers need not know the context. */
export interface MailWork {
  readonly db: Db;
  readonly tenantId: string;
  afterCommit(fn: () => Promise<void> | void): void;
}

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
  from?: string;
  replyTo?: string;
  /** At most MAX_ATTACHMENT_BYTES in all (base64 counted decoded). */
  attachments?: MailAttachment[];
  /** Which template produced it (verification, magic_link, ...), for finding it again. */
  template?: string;
  metadata?: Record<string, unknown>;
}

const DELIVER_JOB = 'mail.deliver';

/**
 * The mail provider. `queue` stores the message in the caller's transaction, so mail about a change
 * exists exactly when the change does. With SMTP_URL a job delivers it after commit (nodemailer,
 * retried with backoff); without, the outbox row is the delivered mail.
 */
export class Mailer {
  private readonly transport?: Transporter;

  constructor(
    private readonly db: Database,
    private readonly jobs: Jobs,
    private readonly log: Logger,
    private readonly options: { smtpUrl?: string; from: string },
  ) {
    if (options.smtpUrl) {
      this.transport = nodemailer().createTransport(options.smtpUrl);
      jobs.define<{ id: string }>(DELIVER_JOB, {
        retryLimit: 8,
        retryDelay: 10,
        retryBackoff: true,
        handler: (data) => this.deliver(data.id),
      });
    }
  }

  get mode(): 'outbox' | 'smtp' {
    return this.transport ? 'smtp' : 'outbox';
  }

  /**
   * Whether mail can go out now: with SMTP, the server answers and accepts the connection (nodemailer's
   * verify); in outbox mode the outbox is the mailbox, so the database check covers it.
   */
  async verify(): Promise<void> {
    if (this.transport) await this.transport.verify();
    else await this.db.system.select({ id: mailOutbox.id }).from(mailOutbox).limit(1);
  }

  async queue(ctx: MailWork, message: MailMessage): Promise<string> {
    const id = newId('mail');
    const bytes = (message.attachments ?? []).reduce((n, a) => n + Math.floor((a.content.length * 3) / 4), 0);
    if (bytes > MAX_ATTACHMENT_BYTES) throw new Error(`mail attachments of ${bytes} bytes exceed ${MAX_ATTACHMENT_BYTES}`);
    await ctx.db.insert(mailOutbox).values({
      id,
      tenantId: ctx.tenantId,
      to: message.to,
      from: message.from ?? this.options.from,
      subject: message.subject,
      text: message.text,
      html: message.html ?? null,
      replyTo: message.replyTo ?? null,
      template: message.template ?? null,
      metadata: message.metadata ?? {},
      attachments: message.attachments?.length ? message.attachments : null,
      status: this.transport ? 'queued' : 'stored',
    });
    if (this.transport) ctx.afterCommit(async () => void (await this.jobs.send(DELIVER_JOB, { id })));
    return id;
  }

  private async deliver(id: string): Promise<void> {
    const [row] = await this.db.system.select().from(mailOutbox).where(eq(mailOutbox.id, id));
    if (!row || row.status === 'sent' || !this.transport) return;
    try {
      const info = await this.transport.sendMail({
        from: row.from,
        to: row.to,
        replyTo: row.replyTo ?? undefined,
        subject: row.subject,
        text: row.text,
        html: row.html ?? undefined,
        attachments: row.attachments?.map((a) => ({ filename: a.filename, contentType: a.contentType, content: Buffer.from(a.content, 'base64') })),
      });
      await this.db.system
        .update(mailOutbox)
        .set({ status: 'sent', sentAt: new Date(), attempts: row.attempts + 1, providerMessageId: info.messageId ?? null, error: null })
        .where(eq(mailOutbox.id, id));
    } catch (error) {
      await this.db.system
        .update(mailOutbox)
        .set({ status: 'failed', attempts: row.attempts + 1, error: (error as Error).message.slice(0, 500) })
        .where(eq(mailOutbox.id, id));
      this.log.warn({ err: error, mail_id: id }, 'mail delivery failed; will retry');
      throw error;
    }
  }

  close(): void {
    this.transport?.close();
  }
}
