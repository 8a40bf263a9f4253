import { defineEvents, z } from '../../core/events/catalog.ts';

export const AGENT_EVENTS = defineEvents('agent', {
  'agent.created': { description: 'An agent was created', payload: z.object({ name: z.string(), version: z.number() }) },
  'agent.updated': { description: 'An agent got a new version', payload: z.object({ name: z.string(), version: z.number() }) },
  'agent.deleted': { description: 'An agent was deleted', payload: z.object({ name: z.string() }) },
  'agent.run.queued': { description: 'A run of an agent was queued', payload: z.object({ agent_id: z.string(), agent_version: z.number(), trigger: z.string() }) },
  'agent.run.finished': {
    description: 'A run ended: succeeded, failed, cancelled or timed_out',
    payload: z.object({ agent_id: z.string(), status: z.string(), error: z.unknown().optional() }),
  },
});
