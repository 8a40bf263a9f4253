import type { Kernel } from '../../core/kernel.ts';
import { defineModule } from '../../core/module.ts';
import { AutomationEngine } from './automations/engine.ts';
import { AUTOMATION_EVENTS } from './events.ts';
import { collectChanges, isObjectChange, PUSH_CONSUMER, runSync, SYNC_JOB } from './integrations/service.ts';
import { automationsRoutes } from './routes.ts';
import { ScheduleDispatcher } from './schedules/dispatcher.ts';

/** What other modules (agents' tools, later) may use: the action vocabulary and the function runner. */
export { ACTION_TYPES, ActionSchema, type ActionDef, type ActionType } from './actions/vocabulary.ts';
export { performAction, type ActionScope, ActionError } from './actions/run.ts';
export { invokeStoredFunction } from './functions/service.ts';
export { runSandboxed, type SandboxResult } from './functions/sandbox.ts';
export { automationEngine, TRIGGER_CONSUMER, MAX_DEPTH } from './automations/engine.ts';
export { AUTOMATION_EVENTS } from './events.ts';

function register(kernel: Kernel): void {
  AutomationEngine.register(kernel);
  ScheduleDispatcher.register(kernel);
  kernel.jobs.define<{ tenantId: string; syncId: string }>(SYNC_JOB, { retryLimit: 0, expireInSeconds: 30 * 60, handler: (job) => runSync(kernel, job.tenantId, job.syncId) });
  kernel.outbox.consume({ name: PUSH_CONSUMER, batchSize: 500, wakeOn: isObjectChange, handle: (batch) => collectChanges(kernel, batch) });
}

/** Event automations, scheduled jobs, sandboxed functions, integrations and plugins: one action vocabulary. */
export const automationsModule = defineModule({ name: 'automations', events: AUTOMATION_EVENTS, register, routes: (wiring) => automationsRoutes(wiring) });
