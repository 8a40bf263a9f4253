import { sql } from 'drizzle-orm';
import type { ConsumerBatch } from '../../../core/events/outbox.ts';
import type { Kernel } from '../../../core/kernel.ts';

export const EVENT_STATS_CONSUMER = 'insights.event-stats';

/**
 * Adds a batch of events to the hourly `event_stats` and daily `active_users` rollups, in the batch's
 * transaction with the consumer's checkpoint: each event is counted exactly once, whoever emitted it.
 */
export async function rollUpEvents(batch: ConsumerBatch): Promise<void> {
  const counts = new Map<string, { tenantId: string; hour: string; type: string; actorType: string; count: number }>();
  const users = new Map<string, { tenantId: string; day: string; userId: string }>();
  for (const e of batch.events) {
    const at = e.createdAt.getTime();
    const hour = new Date(at - (at % 3_600_000)).toISOString();
    const actorType = e.actorType ?? 'system';
    const key = `${e.tenantId}|${hour}|${e.type}|${actorType}`;
    const c = counts.get(key);
    if (c) c.count++;
    else counts.set(key, { tenantId: e.tenantId, hour, type: e.type, actorType, count: 1 });
    if (e.actorType === 'user' && e.actorId) {
      const day = hour.slice(0, 10);
      users.set(`${e.tenantId}|${day}|${e.actorId}`, { tenantId: e.tenantId, day, userId: e.actorId });
    }
  }
  if (counts.size) {
    await batch.tx.execute(sql`insert into event_stats (tenant_id, hour, type, actor_type, count)
      values ${sql.join([...counts.values()].map((c) => sql`(${c.tenantId}, ${c.hour}::timestamptz, ${c.type}, ${c.actorType}, ${c.count})`), sql`, `)}
      on conflict (tenant_id, hour, type, actor_type) do update set count = event_stats.count + excluded.count`);
  }
  if (users.size) {
    await batch.tx.execute(sql`insert into active_users (tenant_id, day, user_id)
      values ${sql.join([...users.values()].map((u) => sql`(${u.tenantId}, ${u.day}, ${u.userId})`), sql`, `)}
      on conflict do nothing`);
  }
}

export function registerEventRollup(kernel: Kernel): void {
  // Hourly counts can lag a poll (EVENTS_POLL_MS): no commit wakes this consumer, so a burst of events
  // is counted in one transaction rather than one per commit.
  kernel.outbox.consume({ name: EVENT_STATS_CONSUMER, batchSize: 1000, wakeOn: () => false, handle: rollUpEvents });
}
