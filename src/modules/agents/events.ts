import { defineEvents, z } from '../../core/events/catalog.ts';

export const AGENT_EVENTS = defineEvents('agent', {
  'agent.created': { description: 'An agent was created', payload: z.object({ name: z.string(), version: z.number() }) },
  'agent.updated': { description: 'An agent got a new version', payload: z.object({ name: z.string(), version: z.number() }) },
  'agent.deleted': { description: 'An agent was deleted', payload: z.object({ name: z.string() }) },
  'agent.run.queued': {
    description: 'A run of an agent was queued',
    payload: z.object({ agent_id: z.string(), agent_version: z.number(), trigger: z.string(), application_id: z.string().nullable(), end_user_id: z.string().nullable(), schedule_id: z.string().nullable() }),
  },
  'agent.run.started': {
    description: 'A worker began executing a run (queued -> running)',
    payload: z.object({ agent_id: z.string(), agent_version: z.number(), application_id: z.string().nullable(), end_user_id: z.string().nullable(), attempt: z.number() }),
  },
  'agent.run.finished': {
    description: 'A run ended: succeeded, failed, cancelled or timed_out',
    payload: z.object({
      agent_id: z.string(),
      agent_version: z.number(),
      application_id: z.string().nullable(),
      end_user_id: z.string().nullable(),
      status: z.string(),
      error: z.unknown().optional(),
      usage: z.object({ input_tokens: z.number(), output_tokens: z.number() }).optional(),
    }),
  },
  'agent.workflow_run.queued': { description: 'A workflow (an application\'s agents as stages) was started', payload: z.object({ application_id: z.string() }) },
  'agent.workflow_run.finished': { description: 'A workflow run ended: succeeded, failed or cancelled', payload: z.object({ application_id: z.string(), status: z.string() }) },
  'agent.container.created': { description: 'An agent container (sandbox for code tools) was created', payload: z.object({ name: z.string() }) },
  'agent.container.deleted': { description: 'An agent container was deleted', payload: z.object({}) },
  'agent.connection.created': { description: 'A connection (credentials for agents\' HTTP tools) was created in an application', payload: z.object({ name: z.string(), type: z.string(), application_id: z.string() }) },
  'agent.connection.updated': { description: 'A connection was changed (credentials_rotated: its secret was replaced)', payload: z.object({ name: z.string(), type: z.string(), application_id: z.string(), credentials_rotated: z.boolean() }) },
  'agent.connection.deleted': { description: 'A connection was deleted', payload: z.object({ name: z.string(), application_id: z.string() }) },
  'agent.package.installed': {
    description: 'A package was imported into an application: installed, or updated to another version (previous_version)',
    payload: z.object({ name: z.string(), version: z.string(), previous_version: z.string().nullable(), application_id: z.string(), agent_ids: z.array(z.string()) }),
  },
  'agent.package.uninstalled': { description: 'A package was uninstalled with its agents', payload: z.object({ name: z.string(), version: z.string(), application_id: z.string() }) },
  'agent.container.bound': { description: 'A container was bound to an agent, or unbound (agent_id null)', payload: z.object({ agent_id: z.string().nullable() }) },
});
