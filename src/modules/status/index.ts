import { createHash } from 'node:crypto';
import type { Kernel } from '../../core/kernel.ts';
import { defineModule } from '../../core/module.ts';
import { registerNotifications } from './notify.ts';
import { advanceMaintenance, MAINTENANCE_JOB, pruneSubscriptions, runChecks } from './service.ts';

export { COMPONENTS, COMPONENT_IDS, type CheckResult, type ComponentDefinition } from './components.ts';
export {
  addIncidentUpdate,
  advanceMaintenance,
  confirmSubscription,
  createSubscription,
  FAILURES_TO_OPEN,
  getIncident,
  listSubscriptions,
  maskTarget,
  openIncident,
  overall,
  resendIncident,
  revokeSubscription,
  runChecks,
  statusSnapshot,
  uptimeOver,
  UPTIME_DAYS,
  type ComponentView,
  type IncidentInput,
  type IncidentView,
  type StatusSnapshot,
} from './service.ts';
export { configuredBaseUrl } from './notify.ts';
export {
  COMPONENT_STATUSES,
  INCIDENT_SEVERITIES,
  INCIDENT_STATES,
  SEVERITY_FILTERS,
  SUBSCRIPTION_STATES,
  type ComponentStatus,
  type IncidentSeverity,
  type IncidentState,
  type SeverityFilter,
  type SubscriptionRow,
} from './tables.ts';

const CHECK_JOB = 'status.check';
const PRUNE_JOB = 'status.prune';
/** Seconds between checks: pg-boss schedules by the minute, so each scheduled run queues the half-minute one. */
export const CHECK_INTERVAL_SECONDS = 30;

/** A UUID fixed by `name` (pg-boss ids are UUIDs): the same follow-up from two processes is one job. */
function uuidOf(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function register(kernel: Kernel): void {
  registerNotifications(kernel);
  kernel.jobs.define<{ half?: string }>(CHECK_JOB, {
    // A missed check is replaced by the next one; retrying an old one would only record stale results.
    retryLimit: 0,
    expireInSeconds: 60,
    handler: async (data) => {
      if (!data.half) {
        // The scheduled run is sent once however many processes run; its follow-up is deduplicated the same way.
        const minute = new Date(kernel.clock.now()).toISOString().slice(0, 16);
        await kernel.jobs.send(CHECK_JOB, { half: minute }, { startAfter: CHECK_INTERVAL_SECONDS, id: uuidOf(`status.check:${minute}`) });
      }
      await runChecks(kernel);
      await advanceMaintenance(kernel);
    },
  });
  kernel.jobs.define(MAINTENANCE_JOB, { retryLimit: 2, handler: async () => void (await advanceMaintenance(kernel)) });
  kernel.jobs.define(PRUNE_JOB, { retryLimit: 1, handler: () => pruneSubscriptions(kernel) });
  void kernel.jobs.schedule(CHECK_JOB, '* * * * *');
  void kernel.jobs.schedule(PRUNE_JOB, '23 4 * * *');
}

/**
 * The platform's status page: its own components checked every 30 s by a job (one check across
 * processes), incidents opened and resolved from the checks or by the operator, scheduled maintenance
 * (started and completed on its window, subscribers told of each), daily uptime, and e-mail (or webhook) subscribers told of each incident. Platform-wide: its tables
 * have no tenant_id. The agent service contract (seed 003) serves it at /api/v1/status; the platform
 * contract (seed 004) names no status routes, so the module adds none to /v1.
 */
export const statusModule = defineModule({ name: 'status', register });
