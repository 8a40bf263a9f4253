import { defineEvents, z } from '../../core/events/catalog.ts';
import { events } from '../../core/events/tables.ts';
import type { ConsumerBatch } from '../../core/events/outbox.ts';
import type { OutboxEvent } from '../../core/events/stream.ts';
import { newId } from '../../core/http/ids.ts';
import type { Kernel } from '../../core/kernel.ts';

/**
 * The contract's run events, what an application's webhooks (`/api/webhooks`) subscribe to. One per
 * state a run enters after `queued`, named after the run's `status` (`run.<status>`), so a receiver
 * compares `type` with the run it fetches. `data` is the run as this contract names its fields
 * (camelCase), `applicationId` included: the webhook engine sends an application's endpoint only events
 * that name its application.
 */
const RunEventData = z.object({
  runId: z.string(),
  agentId: z.string(),
  agentVersion: z.number(),
  applicationId: z.string(),
  endUserId: z.string().nullable(),
  status: z.string(),
  attempt: z.number().optional(),
  error: z.object({ code: z.string(), message: z.string() }).nullable().optional(),
  usage: z.object({ inputTokens: z.number(), outputTokens: z.number() }).nullable().optional(),
});

export const RUN_EVENT_TYPES = ['run.started', 'run.succeeded', 'run.failed', 'run.cancelled', 'run.timed_out'] as const;
export type RunEventType = (typeof RUN_EVENT_TYPES)[number];

export const AGENT_PLATFORM_EVENTS = defineEvents('run', {
  'run.started': { description: 'A run of an application\'s agent began executing (status `running`)', payload: RunEventData },
  'run.succeeded': { description: 'A run ended `succeeded`; its output is on GET /api/runs/{runId}', payload: RunEventData },
  'run.failed': { description: 'A run ended `failed` (`error` says why: a provider error, MAX_STEPS, WORKER_LOST...)', payload: RunEventData },
  'run.cancelled': { description: 'A run ended `cancelled` (POST /api/runs/{runId}/cancel)', payload: RunEventData },
  'run.timed_out': { description: 'A run ended `timed_out`: it ran past its agent\'s `timeoutMs`', payload: RunEventData },
});

export const RUN_EVENTS_CONSUMER = 'agent-platform.run-events';

const ENDS = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

type RunData = {
  agent_id?: string;
  agent_version?: number;
  application_id?: string | null;
  end_user_id?: string | null;
  status?: string;
  attempt?: number;
  error?: { code?: unknown; message?: unknown } | null;
  usage?: { input_tokens?: number; output_tokens?: number };
};

/** The contract event an agents-module run event stands for: only runs of an application have one. */
export function runContractEvent(e: OutboxEvent): { type: RunEventType; data: Record<string, unknown> } | null {
  const d = e.data as RunData;
  if (!d.application_id || !e.resourceId) return null;
  const base = { runId: e.resourceId, agentId: d.agent_id ?? '', agentVersion: d.agent_version ?? 0, applicationId: d.application_id, endUserId: d.end_user_id ?? null };
  if (e.type === 'agent.run.started') return { type: 'run.started', data: { ...base, status: 'running', attempt: d.attempt ?? 1 } };
  if (e.type !== 'agent.run.finished' || !d.status || !ENDS.has(d.status)) return null;
  const error = d.error && typeof d.error === 'object' ? { code: String(d.error.code ?? ''), message: String(d.error.message ?? '') } : null;
  const usage = d.usage ? { inputTokens: d.usage.input_tokens ?? 0, outputTokens: d.usage.output_tokens ?? 0 } : null;
  return { type: `run.${d.status}` as RunEventType, data: { ...base, status: d.status, error, usage } };
}

/**
 * A durable outbox consumer turns the agents module's `agent.run.started` and `agent.run.finished`
 * events of an application's runs into this contract's `run.*` events, appended in the transaction
 * that moves its checkpoint: each becomes its contract event exactly once, whichever path ended the
 * run (the worker, a cancel, the sweeper). The platform's events stay as they are for /v1 subscribers.
 */
export function registerRunEvents(kernel: Kernel): void {
  kernel.outbox.consume({
    name: RUN_EVENTS_CONSUMER,
    batchSize: 500,
    wakeOn: (type) => type === 'agent.run.started' || type === 'agent.run.finished',
    handle: async (batch: ConsumerBatch) => {
      const rows = batch.events
        .filter((e) => e.type === 'agent.run.started' || e.type === 'agent.run.finished')
        .flatMap((e) => {
          const c = runContractEvent(e);
          return c
            ? [{ id: newId('evt'), tenantId: e.tenantId, type: c.type, resourceType: 'run', resourceId: e.resourceId, data: c.data, actorType: e.actorType, actorId: e.actorId, requestId: e.requestId }]
            : [];
        });
      if (!rows.length) return;
      await batch.tx.insert(events).values(rows);
      batch.afterCommit(() => kernel.outbox.notify(new Set(rows.map((r) => r.type))));
    },
  });
}
