import { eq, inArray, sql } from 'drizzle-orm';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { waitFor } from '../../../test/support/events.ts';
import { runInTenant } from '../context.ts';
import { newId } from '../http/ids.ts';
import type { Redis } from 'ioredis';
import { redisBus, type Bus } from '../providers/bus.ts';
import { connectRedis } from '../providers/redis.ts';
import { comparePositions, endedBefore, Outbox, parseSnapshot, positionOf, type OutboxEvent } from './outbox.ts';
import { eventConsumers, events } from './tables.ts';

let t: TestPlatform;
const log = pino({ level: 'silent' });
const connections: Redis[] = [];

beforeAll(async () => {
  t = await testPlatform({ EVENTS_POLL_MS: '50' });
});
afterAll(async () => {
  await t?.close();
  await Promise.allSettled(connections.map((c) => c.quit()));
});

/**
 * The bus another process of the deployment would have: with REDIS_URL, its own Redis connections
 * on the platform's prefix, so wake-ups cross through Redis as between real processes; alone (the
 * embedded database is one process's), the process's own in-memory bus.
 */
function busOfAnotherProcess(): Bus {
  if (!process.env.REDIS_URL) return t.kernel.bus;
  const publisher = connectRedis(process.env.REDIS_URL, log);
  const subscriber = connectRedis(process.env.REDIS_URL, log);
  connections.push(publisher, subscriber);
  return redisBus(publisher, subscriber, t.env.REDIS_PREFIX!);
}

/** An outbox reader as another process would have one: its own instance over the same database. */
function process2(options: { pollMs?: number } = {}) {
  return new Outbox(t.db, busOfAnotherProcess(), log, { pollMs: options.pollMs ?? 50 });
}

async function emit(tenantId: string, type: string, data: Record<string, unknown> = {}) {
  return runInTenant(t.kernel, { tenantId, actor: { type: 'system', id: null }, requestId: null }, (ctx) => ctx.emit({ type, data, audit: false }));
}

describe('durable consumers', () => {
  it('see every event once, in stream order, and resume from their checkpoint in another process', async () => {
    const a = await t.newTenant();
    const b = await t.newTenant();
    const name = `test.${newId('c')}`;
    const seen: OutboxEvent[] = [];
    const first = process2();
    first.consume({ name, batchSize: 3, handle: async ({ events: batch }) => void seen.push(...batch) });
    const emitted: string[] = [];
    for (let i = 0; i < 5; i++) emitted.push(await emit(i % 2 ? a.tenantId : b.tenantId, 'test.tick', { i }));
    // Drain what exists; batches of 3.
    while ((await first.runConsumer(name)).more);
    const mine = seen.filter((e) => emitted.includes(e.id));
    expect(mine.map((e) => e.id)).toEqual(emitted);
    for (let i = 1; i < seen.length; i++) expect(comparePositions(positionOf(seen[i - 1]!), positionOf(seen[i]!))).toBeLessThan(0);
    const checkpoint = await first.checkpoint(name);
    expect(checkpoint.processed).toBe(seen.length);
    await first.close();

    // "Another process" picks up where the first left off: only new events.
    const later = [await emit(a.tenantId, 'test.tick', { i: 5 }), await emit(b.tenantId, 'test.tick', { i: 6 })];
    const seenLater: OutboxEvent[] = [];
    const second = process2();
    second.consume({ name, handle: async ({ events: batch }) => void seenLater.push(...batch) });
    await second.runConsumer(name);
    expect(seenLater.map((e) => e.id)).toEqual(later);
    await second.close();
  });

  it('roll back a failed batch with the writes it made, and retry it', async () => {
    const tenant = await t.newTenant();
    const name = `test.${newId('c')}`;
    const outbox = process2();
    let fail = true;
    const handled: string[] = [];
    outbox.consume({
      name,
      handle: async ({ events: batch, tx }) => {
        // A write in the consumer's transaction: the consumer's own table would go here.
        await tx.execute(sql`select set_config('app.test', 'x', true)`);
        handled.push(...batch.map((e) => e.id));
        if (fail) throw new Error('handler crashed');
      },
    });
    const id = await emit(tenant.tenantId, 'test.crash');
    await expect(outbox.runConsumer(name)).rejects.toThrow('handler crashed');
    expect((await outbox.checkpoint(name)).processed).toBe(0);
    fail = false;
    await outbox.runConsumer(name);
    expect(handled.filter((e) => e === id)).toHaveLength(2); // handled twice, committed once
    expect((await outbox.checkpoint(name)).processed).toBeGreaterThan(0);
    await outbox.close();
  });

  it('run in one process at a time', async () => {
    const name = `test.${newId('c')}`;
    const one = process2();
    const two = process2();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    one.consume({ name, handle: async () => { entered(); await gate; } });
    two.consume({ name, handle: async () => {} });
    await emit((await t.newTenant()).tenantId, 'test.lock');
    const running = one.runConsumer(name);
    if (t.db.kind === 'postgres') {
      await inside;
      expect((await two.runConsumer(name)).locked).toBe(true);
    }
    release();
    await running;
    await one.close();
    await two.close();
  });

  it('run in the background once started, woken by commits in another process', async () => {
    const tenant = await t.newTenant();
    const name = `test.${newId('c')}`;
    // It would poll only after an hour: what reaches it sooner is the wake-up the emitting process
    // publishes on the bus (through Redis in the Redis pass).
    const outbox = process2({ pollMs: 3_600_000 });
    const got: string[] = [];
    outbox.consume({ name, handle: async ({ events: batch }) => void got.push(...batch.map((e) => e.id)) });
    const before = await emit(tenant.tenantId, 'test.before');
    outbox.start();
    // Its first pass reads what is there; then it waits.
    await waitFor(() => got.includes(before), 'the first pass');
    const id = await emit(tenant.tenantId, 'test.background');
    await waitFor(() => got.includes(id), 'the background consumer');
    await outbox.close();
  });

  it('are woken only by the types they want; the others wait for the poll, and are still read in order', async () => {
    const tenant = await t.newTenant();
    const name = `test.${newId('c')}`;
    const outbox = process2({ pollMs: 3_600_000 });
    const batches: string[][] = [];
    outbox.consume({ name, wakeOn: (type) => type === 'test.wanted', handle: async ({ events: batch }) => void batches.push(batch.map((e) => e.id)) });
    const before = await emit(tenant.tenantId, 'test.before');
    outbox.start();
    await waitFor(() => batches.flat().includes(before), 'the first pass');
    const runs = batches.length;
    const other = await emit(tenant.tenantId, 'test.other');
    // Time for a wake-up to cross the bus and a batch to run, had it been woken.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(batches.length).toBe(runs);
    const wanted = await emit(tenant.tenantId, 'test.wanted');
    await waitFor(() => batches.flat().includes(wanted), 'the wanted event');
    const after = batches.slice(runs).flat();
    expect(after.slice(after.indexOf(other))).toEqual([other, wanted]);
    await outbox.close();
  });
});

describe('the live feed', () => {
  it('hands each tenant only its own events committed after subscribing', async () => {
    const a = await t.newTenant();
    const b = await t.newTenant();
    const before = await emit(a.tenantId, 'feed.before');
    const gotA: string[] = [];
    const gotB: string[] = [];
    const subA = await t.kernel.outbox.feed.subscribe(a.tenantId, (e) => void gotA.push(e.id));
    const subB = await t.kernel.outbox.feed.subscribe(b.tenantId, (e) => void gotB.push(e.id));
    const x = await emit(a.tenantId, 'feed.x');
    const y = await emit(b.tenantId, 'feed.y');
    const z = await emit(a.tenantId, 'feed.z');
    await waitFor(() => gotA.length >= 2 && gotB.length >= 1, 'the feed');
    expect(gotA).toEqual([x, z]);
    expect(gotB).toEqual([y]);
    expect(gotA).not.toContain(before);
    subA.unsubscribe();
    subB.unsubscribe();
  });
});

describe('snapshots', () => {
  it('tell which transactions had ended', () => {
    const snap = parseSnapshot('100:105:101,103');
    expect(endedBefore(snap, '99')).toBe(true);
    expect(endedBefore(snap, '100')).toBe(true);
    expect(endedBefore(snap, '101')).toBe(false);
    expect(endedBefore(snap, '102')).toBe(true);
    expect(endedBefore(snap, '105')).toBe(false);
  });
});

describe.runIf(process.env.DATABASE_URL)('a transaction that commits late', () => {
  it('is never skipped: readers wait for it, then read it before what committed after it', async () => {
    const tenant = await t.newTenant();
    const name = `test.${newId('c')}`;
    const outbox = process2();
    const seen: string[] = [];
    outbox.consume({ name, handle: async ({ events: batch }) => void seen.push(...batch.map((e) => e.id)) });
    await outbox.runConsumer(name);
    while ((await outbox.runConsumer(name)).more);

    // The test database's URL: the platform's pool knows it.
    const url = (t.db.system as unknown as { $client: pg.Pool }).$client.options.connectionString!;
    const slow = new pg.Client({ connectionString: url });
    await slow.connect();
    try {
      const lateId = newId('evt');
      await slow.query('begin');
      // It takes its sequence number first and commits last: a `seq > checkpoint` reader would skip it.
      await slow.query(`insert into events (id, tenant_id, type, data) values ($1, $2, 'test.late', '{}')`, [lateId, tenant.tenantId]);
      const fastId = await emit(tenant.tenantId, 'test.fast');
      expect(await t.db.system.select().from(events).where(inArray(events.id, [fastId]))).toHaveLength(1);
      const result = await outbox.runConsumer(name);
      expect(seen).not.toContain(fastId);
      expect(result.pending).toBe(true);
      await slow.query('commit');
      await outbox.runConsumer(name);
      const lateRow = (await t.db.system.select().from(events).where(eq(events.id, lateId)))[0]!;
      const fastRow = (await t.db.system.select().from(events).where(eq(events.id, fastId)))[0]!;
      expect(lateRow.seq).toBeLessThan(fastRow.seq);
      expect(seen.slice(-2)).toEqual([lateId, fastId]);
    } finally {
      await slow.end();
      await outbox.close();
    }
  });

  it('is not waited for when it runs in another database of the cluster', async () => {
    const tenant = await t.newTenant();
    const name = `test.${newId('c')}`;
    const outbox = process2();
    const seen: string[] = [];
    outbox.consume({ name, handle: async ({ events: batch }) => void seen.push(...batch.map((e) => e.id)) });
    while ((await outbox.runConsumer(name)).more);
    const elsewhere = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await elsewhere.connect();
    try {
      await elsewhere.query('begin');
      await elsewhere.query('select pg_current_xact_id()');
      const id = await emit(tenant.tenantId, 'test.unblocked');
      await outbox.runConsumer(name);
      expect(seen).toContain(id);
      await elsewhere.query('commit');
    } finally {
      await elsewhere.end();
      await outbox.close();
    }
  });
});
