import type { Kernel } from '../../core/kernel.ts';
import { AUDIT_RETENTION_JOB, purgeAuditLogs } from './service.ts';

export {
  getGovernance,
  loadGovernance,
  GOVERNANCE_DEFAULTS,
  type GovernancePatch,
  type GovernanceSettings,
  type GovernanceValidator,
} from './service.ts';
export { GOVERNANCE_EVENTS } from './events.ts';

/** The daily audit retention sweep. */
export function registerGovernanceJobs(kernel: Kernel): void {
  kernel.jobs.define(AUDIT_RETENTION_JOB, {
    retryLimit: 2,
    handler: async () => {
      const deleted = await purgeAuditLogs(kernel);
      if (deleted) kernel.log.info({ deleted }, 'audit entries past retention deleted');
    },
  });
  void kernel.jobs.schedule(AUDIT_RETENTION_JOB, '17 3 * * *');
}
