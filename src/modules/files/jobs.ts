import { runInTenant } from '../../core/context.ts';
import type { Kernel } from '../../core/kernel.ts';
import { DELETE_OBJECTS_JOB, expiredTrashTenants, purgeByIds, slotIsStale, staleSlotTenants, trashExpired } from './service.ts';

export const CLEANUP_JOB = 'files.cleanup';
/** Hourly, at an odd minute so it does not pile onto every other hourly job. */
export const CLEANUP_CRON = '17 * * * *';

function byTenant(rows: { tenantId: string; id: string }[]) {
  const groups = new Map<string, string[]>();
  for (const row of rows) groups.set(row.tenantId, [...(groups.get(row.tenantId) ?? []), row.id]);
  return groups;
}

/**
 * Removes upload slots never completed (past their expiry) and purges trashed files older than the
 * retention, each tenant in its own transaction under its row-level security.
 */
export async function runCleanup(kernel: Kernel, now = new Date()): Promise<{ slots: number; purged: number }> {
  const before = new Date(now.getTime() - kernel.config.FILES_TRASH_RETENTION_DAYS * 86_400_000);
  const stale = byTenant(await staleSlotTenants(kernel, now));
  const expired = byTenant(await expiredTrashTenants(kernel, before));
  let slots = 0;
  let purged = 0;
  const meta = (tenantId: string) => ({ tenantId, actor: { type: 'system', id: CLEANUP_JOB }, requestId: null });
  for (const [tenantId, ids] of stale) {
    slots += await runInTenant(kernel, meta(tenantId), (ctx) => purgeByIds(ctx, ids, slotIsStale(now), false));
  }
  for (const [tenantId, ids] of expired) {
    purged += await runInTenant(kernel, meta(tenantId), (ctx) => purgeByIds(ctx, ids, trashExpired(before), true));
  }
  if (slots || purged) kernel.log.info({ slots, purged }, 'files cleanup');
  return { slots, purged };
}

export function registerFileJobs(kernel: Kernel): void {
  kernel.jobs.define<{ keys: string[] }>(DELETE_OBJECTS_JOB, {
    retryLimit: 10,
    retryDelay: 30,
    retryBackoff: true,
    handler: async ({ keys }) => kernel.storage.delete(keys),
  });
  kernel.jobs.define(CLEANUP_JOB, {
    retryLimit: 2,
    expireInSeconds: 30 * 60,
    handler: async () => {
      await runCleanup(kernel);
    },
  });
  void kernel.jobs.schedule(CLEANUP_JOB, CLEANUP_CRON);
}
