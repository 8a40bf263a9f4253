import { sql } from 'drizzle-orm';
import { runInTenant } from '../../../core/context.ts';
import { rows } from '../../../core/db/client.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { getGovernance } from '../../governance/index.ts';
import { purgeTrash } from './service.ts';

export const TRASH_RETENTION_JOB = 'objects.trash-retention';

/**
 * Daily: each tenant's records that have been in the trash longer than its governance
 * `trash_retention_days` are deleted for good. Finding the tenants is work about no single tenant
 * (owner connection); the deleting runs in each tenant's own context.
 */
export async function purgeAllTrash(kernel: Kernel): Promise<number> {
  const tenants = rows<{ tenant_id: string }>(
    await kernel.db.system.execute(sql`select distinct tenant_id from objects where deleted_at is not null and deleted_at < now() - interval '1 day'`),
  );
  let purged = 0;
  for (const { tenant_id } of tenants) {
    purged += await runInTenant(kernel, { tenantId: tenant_id, actor: { type: 'system', id: null }, requestId: null }, async (ctx) => {
      const { trash_retention_days } = await getGovernance(ctx);
      const n = await purgeTrash(ctx, trash_retention_days);
      if (n) await ctx.audit({ action: 'objects.trash_purged', resourceType: 'object', metadata: { purged: n, retention_days: trash_retention_days } });
      return n;
    });
  }
  return purged;
}

export function registerObjectJobs(kernel: Kernel): void {
  kernel.jobs.define(TRASH_RETENTION_JOB, {
    retryLimit: 2,
    handler: async () => {
      const purged = await purgeAllTrash(kernel);
      if (purged) kernel.log.info({ purged }, 'trashed records past retention deleted');
    },
  });
  void kernel.jobs.schedule(TRASH_RETENTION_JOB, '37 3 * * *');
}
