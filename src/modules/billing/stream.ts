import type { Context } from 'hono';
import type { AppEnv } from '../../core/http/context.ts';
import type { Kernel } from '../../core/kernel.ts';
import { eventStream } from '../events/index.ts';

/**
 * The tenant's billing events as Server-Sent Events: the events stream (outbox history after
 * Last-Event-ID, then the live feed, ended when the credential stops working) of `billing.*` only,
 * each message `id: <event id>` and `data: <BillingEventResponse>` with no event name, so
 * EventSource's `onmessage` gets them all.
 */
export async function billingStream(c: Context<AppEnv>, kernel: Kernel, options: { tenantId: string; token: string; lastEventId?: string }) {
  const after = options.lastEventId ? await kernel.outbox.find(options.tenantId, options.lastEventId) : null;
  c.header('Cache-Control', 'no-cache');
  return eventStream(c, kernel, {
    tenantId: options.tenantId,
    token: options.token,
    types: ['billing.*'],
    after,
    userId: null,
    visibility: null,
    frame: (event) => `id: ${event.id}\ndata: ${JSON.stringify(event.data)}\n\n`,
  });
}
