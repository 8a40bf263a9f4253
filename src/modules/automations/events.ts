import { defineEvents, z } from '../../core/events/catalog.ts';

const Named = z.object({ name: z.string() });
const Empty = z.object({});

export const AUTOMATION_EVENTS = [
  ...defineEvents('automation', {
    'automation.created': { description: 'An automation was created', payload: Named.extend({ trigger_event: z.string() }) },
    'automation.updated': { description: 'An automation was changed', payload: Named.extend({ trigger_event: z.string() }) },
    'automation.deleted': { description: 'An automation was deleted', payload: Empty },
  }),
  ...defineEvents('automation_run', {
    'automation.run_succeeded': {
      description: 'A run of an automation finished with every action done',
      payload: z.object({ automation_id: z.string(), trigger: z.string(), duration_ms: z.number().int() }),
    },
    'automation.run_failed': {
      description: 'A run of an automation failed after its retries (it is in the dead-letter queue)',
      payload: z.object({ automation_id: z.string(), trigger: z.string(), error: z.string() }),
    },
  }),
  ...defineEvents('scheduled_job', {
    'scheduled_job.created': { description: 'A scheduled job was created', payload: Named },
    'scheduled_job.updated': { description: 'A scheduled job was changed', payload: Named },
    'scheduled_job.deleted': { description: 'A scheduled job was deleted', payload: Empty },
  }),
  ...defineEvents('function', {
    'function.created': { description: 'A function was created', payload: Named },
    'function.updated': { description: 'A function was changed', payload: Named },
    'function.deleted': { description: 'A function was deleted', payload: Empty },
  }),
  ...defineEvents('integration', {
    'integration.created': { description: 'An integration was created', payload: Named.extend({ provider: z.string() }) },
    'integration.updated': { description: 'An integration was changed', payload: Named.extend({ provider: z.string() }) },
    'integration.deleted': { description: 'An integration was deleted', payload: Empty },
    'integration.synced': {
      description: 'A sync of an integration finished',
      payload: z.object({ sync_id: z.string(), status: z.string(), records_created: z.number().int(), records_updated: z.number().int(), records_failed: z.number().int() }),
    },
  }),
  ...defineEvents('plugin', {
    'plugin.installed': { description: 'A plugin was installed with what its manifest bundles', payload: Named.extend({ version: z.string() }) },
    'plugin.updated': { description: 'A plugin\'s config or state was changed', payload: Named.extend({ version: z.string() }) },
    'plugin.uninstalled': { description: 'A plugin and what it installed were removed', payload: Named },
  }),
];
