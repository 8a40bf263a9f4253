import type { Kernel } from '../../core/kernel.ts';
import { defineModule } from '../../core/module.ts';
import { GOVERNANCE_EVENTS } from './events.ts';
import { governanceRoutes } from './routes.ts';
import { AUDIT_RETENTION_JOB, purgeAuditLogs, type GovernancePatch } from './service.ts';

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
function registerGovernanceJobs(kernel: Kernel): void {
  kernel.jobs.define(AUDIT_RETENTION_JOB, {
    retryLimit: 2,
    handler: async () => {
      const deleted = await purgeAuditLogs(kernel);
      if (deleted) kernel.log.info({ deleted }, 'audit entries past retention deleted');
    },
  });
  void kernel.jobs.schedule(AUDIT_RETENTION_JOB, '17 3 * * *');
}

export const governanceModule = defineModule({
  name: 'governance',
  events: GOVERNANCE_EVENTS,
  register: registerGovernanceJobs,
  // Other modules check the parts of a change that are theirs (masked properties name object types).
  routes: ({ hooks }) =>
    governanceRoutes({
      validate: async (ctx, patch) => {
        let checked = patch;
        for (const validate of hooks.governanceValidators) checked = (await validate(ctx, checked)) as GovernancePatch;
        return checked;
      },
    }),
});
