import type { Kernel } from '../kernel.ts';

export const EVENT_RETENTION_JOB = 'events.retention';
const BATCH = 10_000;

/**
 * Deletes outbox events older than EVENTS_RETENTION_DAYS that every durable consumer has passed.
 * Webhook messages carry their own copy of the payload, so deliveries and retries do not need the
 * event any more; what ends with it is SSE resumption, webhook replay and the custom events list that
 * far back. A consumer that stopped long ago holds its events back: keeping rows is better than
 * dropping an event nobody has handled. Batches, so a large backlog never holds one long transaction.
 */
export async function purgeEvents(kernel: Kernel, now = new Date()): Promise<number> {
  const before = new Date(now.getTime() - kernel.config.EVENTS_RETENTION_DAYS * 86_400_000);
  let total = 0;
  for (;;) {
    const { rowCount } = await kernel.db.raw(
      `delete from events where seq in (
         select e.seq from events e
         where e.created_at < $1
           and not exists (select 1 from event_consumers c where (e.tx_id, e.seq) > (c.tx_id, c.seq))
         limit ${BATCH})`,
      [before.toISOString()],
    );
    total += rowCount;
    if (rowCount < BATCH) return total;
  }
}

/** The daily sweep. */
export function registerEventRetention(kernel: Kernel): void {
  kernel.jobs.define(EVENT_RETENTION_JOB, {
    retryLimit: 2,
    handler: async () => {
      const deleted = await purgeEvents(kernel);
      if (deleted) kernel.log.info({ deleted }, 'outbox events past retention deleted');
    },
  });
  void kernel.jobs.schedule(EVENT_RETENTION_JOB, '41 3 * * *');
}
