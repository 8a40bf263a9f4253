import { eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/events.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { runInTenant } from '../context.ts';
import { purgeEvents } from './retention.ts';
import { eventConsumers, events } from './tables.ts';

let t: TestPlatform;

beforeAll(async () => {
  t = await testPlatform({ EVENTS_RETENTION_DAYS: '30', EVENTS_POLL_MS: '50' });
});
afterAll(() => t?.close());

const emit = (tenantId: string, type: string) =>
  runInTenant(t.kernel, { tenantId, actor: { type: 'system', id: null }, requestId: null }, (ctx) => ctx.emit({ type, data: {}, audit: false }));
const stored = async (ids: string[]) => (await t.db.system.select({ id: events.id }).from(events).where(inArray(events.id, ids))).map((r) => r.id).sort();

describe('outbox retention', () => {
  it('deletes old events only once every durable consumer has passed them', async () => {
    const tenant = await t.newTenant();
    const [e1, e2, e3] = [await emit(tenant.tenantId, 'test.one'), await emit(tenant.tenantId, 'test.two'), await emit(tenant.tenantId, 'test.three')];
    const [row1] = await t.db.system.select().from(events).where(eq(events.id, e1));
    const [row3] = await t.db.system.select().from(events).where(eq(events.id, e3));
    // Every platform consumer passes all three (those not woken by these types on their next poll);
    // a lagging one has handled only e1.
    await waitFor(async () => {
      const consumers = await t.db.system.select().from(eventConsumers);
      const past = (c: (typeof consumers)[number]) => BigInt(c.txId) > BigInt(row3!.txId) || (c.txId === row3!.txId && c.seq >= row3!.seq);
      return consumers.some((c) => c.name === 'webhooks.fanout') && consumers.every(past);
    }, 'every consumer to pass the events');
    await t.db.system.insert(eventConsumers).values({ name: 'test.lagging', txId: row1!.txId, seq: row1!.seq });
    // e1 and e2 are past retention, e3 is young.
    await t.db.system.update(events).set({ createdAt: sql`now() - interval '31 days'` }).where(inArray(events.id, [e1, e2]));

    expect(await purgeEvents(t.kernel)).toBeGreaterThanOrEqual(1);
    expect(await stored([e1, e2, e3])).toEqual([e2, e3].sort());

    // Once the lagging consumer moves past e2, e2 goes too; e3 stays until it is old.
    await t.db.system.update(eventConsumers).set({ txId: row3!.txId, seq: row3!.seq }).where(eq(eventConsumers.name, 'test.lagging'));
    await purgeEvents(t.kernel);
    expect(await stored([e1, e2, e3])).toEqual([e3]);
    await purgeEvents(t.kernel, new Date(Date.now() + 31 * 86_400_000));
    expect(await stored([e3])).toEqual([]);
  });
});
