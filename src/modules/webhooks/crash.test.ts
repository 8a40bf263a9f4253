import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { asc, eq } from 'drizzle-orm';
import pino from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterAll, expect, it } from 'vitest';
import { createPlatform, type Platform } from '../../app.ts';
import { loadConfig } from '../../config.ts';
import { FakeClock } from '../../core/clock.ts';
import { spawnPlinth, startReceiver, waitFor, type PlinthProcess, type Receiver } from '../../../test/support/events.ts';
import { ADMIN_KEY, copyPostgresTemplate } from '../../../test/support/platform.ts';
import { RETRY_DELAYS_MS, webhookEngine } from './engine.ts';
import { webhookDeliveries, webhookMessages } from './tables.ts';

const TIMEOUT_MS = 2000;
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

/**
 * A real process is killed (SIGKILL) while its delivery is on the wire; a second process on the same
 * database takes the message over when the lease runs out and sends it again with the same webhook-id.
 */
it('redelivers with the same webhook-id after the worker is killed mid-delivery', async () => {
  const receiver: Receiver = await startReceiver();
  cleanups.push(() => receiver.close());
  receiver.reply = () => 'hang';

  const env: Record<string, string> = {
    PLINTH_ADMIN_KEY: ADMIN_KEY,
    OUTBOUND_ALLOW_LOOPBACK: 'true',
    WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
    EVENTS_POLL_MS: '100',
    WEBHOOK_TICK_MS: '100',
    JOBS_POLL_SECONDS: '0.5',
  };
  if (process.env.DATABASE_URL) {
    const db = await copyPostgresTemplate();
    cleanups.push(db.drop);
    env.DATABASE_URL = db.url;
  } else {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plinth-crash-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    env.DATA_DIR = dir;
  }
  if (process.env.REDIS_URL) env.REDIS_URL = process.env.REDIS_URL;

  const worker: PlinthProcess = await spawnPlinth(env);
  cleanups.push(() => worker.kill());
  const call = async (method: string, url: string, body: unknown) => {
    const res = await fetch(`${worker.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${worker.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const hook = await call('POST', '/v1/webhooks', { url: receiver.url, events: ['order.*'] });
  expect(hook.status).toBe(201);
  const tracked = await call('POST', '/v1/events', { event_type: 'order.placed', data: { total: 42 } });
  expect(tracked.status).toBe(200);

  // The request reaches the receiver, which holds it; the worker dies before any answer.
  await waitFor(() => receiver.requests.length === 1, 'the first delivery to arrive');
  const first = receiver.requests[0]!;
  await worker.kill('SIGKILL');
  receiver.reply = () => ({ status: 200 });

  // Another process on the same database, with a clock it can move.
  const clock = new FakeClock();
  const config = loadConfig({ ...env, LOG_LEVEL: 'silent', PLINTH_ADMIN_KEY: ADMIN_KEY });
  const platform: Platform = await createPlatform(config, { clock, logger: pino({ level: 'silent' }) });
  cleanups.push(() => platform.close());
  const [inFlight] = await platform.kernel.db.system.select().from(webhookMessages);
  expect(inFlight).toMatchObject({ status: 'sending', attempts: 0, id: first.id });

  // Before the lease runs out nothing happens; after it, the attempt counts as failed and the schedule resumes.
  await webhookEngine(platform.kernel).tick();
  expect(receiver.requests).toHaveLength(1);
  clock.advance(TIMEOUT_MS + 30_000 + 1);
  await webhookEngine(platform.kernel).tick();
  clock.advance(RETRY_DELAYS_MS[0]!);
  await webhookEngine(platform.kernel).tick();
  await waitFor(() => receiver.requests.length === 2 && receiver.requests[1]!.status === 200, 'the redelivery');

  const second = receiver.requests[1]!;
  expect(second.id).toBe(first.id);
  expect(second.body).toBe(first.body);
  const event = new Webhook(hook.body.data.secret).verify(second.body, second.headers as Record<string, string>) as any;
  expect(event).toMatchObject({ id: tracked.body.data.id, type: 'order.placed', data: { total: 42 } });

  await waitFor(async () => (await platform.kernel.db.system.select().from(webhookMessages))[0]?.status === 'delivered', 'the message to be delivered');
  const messages = await platform.kernel.db.system.select().from(webhookMessages);
  expect(messages).toHaveLength(1); // the fan-out did not run twice for the event
  const attempts = await platform.kernel.db.system
    .select()
    .from(webhookDeliveries)
    .where(eq(webhookDeliveries.messageId, first.id))
    .orderBy(asc(webhookDeliveries.attempt));
  expect(attempts.map((a) => [a.attempt, a.status])).toEqual([
    [1, 'failed'],
    [2, 'succeeded'],
  ]);
  expect(attempts[0]!.error).toContain('interrupted');
  // Two processes each migrate and open the database (embedded PGlite is slow to start under load).
}, 180_000);
