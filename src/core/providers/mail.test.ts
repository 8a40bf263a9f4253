import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInTenant } from '../context.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { mailOutbox } from './tables.ts';

const received: ParsedMail[] = [];
let smtp: SMTPServer;
let port: number;

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, _session, done) {
      simpleParser(stream).then((mail) => {
        received.push(mail);
        done();
      }, done);
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  port = (smtp.server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => smtp.close(() => resolve())));

async function send(t: TestPlatform, tenantId: string, to: string) {
  return runInTenant(t.kernel, { tenantId, actor: { type: 'system', id: null }, requestId: null }, (ctx) =>
    t.kernel.mail.queue(ctx, { to, subject: 'Welcome', text: 'Your code is 123456', html: '<p>Your code is <b>123456</b></p>', template: 'welcome' }),
  );
}

describe('mail', () => {
  let t: TestPlatform;
  afterAll(() => t?.close());

  it('delivers through SMTP after commit and records the delivery', async () => {
    t = await testPlatform({ SMTP_URL: `smtp://127.0.0.1:${port}`, MAIL_FROM: 'Acme <no-reply@acme.test>' });
    const { tenantId } = await t.newTenant();
    const id = await send(t, tenantId, 'user@example.test');
    const end = Date.now() + 20_000;
    while (!received.some((m) => m.subject === 'Welcome') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const mail = received.find((m) => m.subject === 'Welcome')!;
    expect(mail.text?.trim()).toBe('Your code is 123456');
    expect(mail.from?.text).toContain('no-reply@acme.test');
    expect((mail.to as { text: string }).text).toBe('user@example.test');
    let row;
    while (Date.now() < end) {
      [row] = await t.db.system.select().from(mailOutbox).where(eq(mailOutbox.id, id));
      if (row?.status === 'sent') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(row).toMatchObject({ status: 'sent', tenantId, attempts: 1 });
  });

  it('keeps the message in the outbox when no SMTP is configured', async () => {
    const local = await testPlatform();
    try {
      const { tenantId } = await local.newTenant();
      const id = await send(local, tenantId, 'dev@example.test');
      const [row] = await local.db.system.select().from(mailOutbox).where(eq(mailOutbox.id, id));
      expect(row).toMatchObject({ status: 'stored', to: 'dev@example.test', subject: 'Welcome', template: 'welcome' });
    } finally {
      await local.close();
    }
  });

  it('stores nothing when the transaction that queued the mail rolls back', async () => {
    const local = await testPlatform();
    try {
      const { tenantId } = await local.newTenant();
      await expect(
        runInTenant(local.kernel, { tenantId, actor: { type: 'system', id: null }, requestId: null }, async (ctx) => {
          await local.kernel.mail.queue(ctx, { to: 'x@example.test', subject: 'Rolled back', text: 'x' });
          throw new Error('change failed');
        }),
      ).rejects.toThrow('change failed');
      const rows = await local.db.system.select().from(mailOutbox).where(eq(mailOutbox.subject, 'Rolled back'));
      expect(rows).toEqual([]);
    } finally {
      await local.close();
    }
  });
});
