import { events } from '../../core/events/tables.ts';
import type { ConsumerBatch } from '../../core/events/outbox.ts';
import type { OutboxEvent } from '../../core/events/stream.ts';
import { newId } from '../../core/http/ids.ts';
import type { Kernel } from '../../core/kernel.ts';
import { toUuid } from './ids.ts';

/**
 * The contract's webhook events (`customer.*`, `appointment.*`) follow the records' own `object.*`
 * events, whoever made the change: this surface, /v1/objects, an import or an automation. A durable
 * outbox consumer appends them in the transaction that moves its checkpoint, so each object event
 * becomes its contract event exactly once, and both reach webhooks (a subscriber picks either).
 */
export const LIFECYCLE_CONSUMER = 'field-service.lifecycle';

type Data = { object_type?: string; properties?: Record<string, unknown>; changes?: unknown; version?: number };

const CUSTOMER_FIELDS = ['account_type', 'display_name', 'email', 'phone'] as const;

function customerData(e: OutboxEvent, props: Record<string, unknown> | undefined) {
  const out: Record<string, unknown> = { id: toUuid(e.resourceId ?? ''), organization_id: toUuid(e.tenantId) };
  if (props) for (const f of CUSTOMER_FIELDS) out[f] = props[f] ?? null;
  return out;
}

function appointmentData(e: OutboxEvent, props: Record<string, unknown> | undefined) {
  const out: Record<string, unknown> = { id: toUuid(e.resourceId ?? ''), organization_id: toUuid(e.tenantId) };
  if (props) {
    out.customer_id = typeof props.customer_id === 'string' && props.customer_id ? toUuid(props.customer_id) : null;
    out.status = props.status ?? null;
    out.scheduled_start = props.scheduled_start ?? null;
    out.scheduled_end = props.scheduled_end ?? null;
    out.assigned_team_member_ids = Array.isArray(props.assigned_team_member_ids) ? props.assigned_team_member_ids : [];
  }
  return out;
}

/** The contract events one object event stands for. */
export function contractEvents(e: OutboxEvent): { type: string; resourceType: string; data: Record<string, unknown> }[] {
  const data = e.data as Data;
  const verb = e.type.slice('object.'.length);
  if (!['created', 'updated', 'deleted'].includes(verb)) return [];
  if (data.object_type === 'customers') return [{ type: `customer.${verb}`, resourceType: 'customer', data: customerData(e, data.properties) }];
  if (data.object_type !== 'appointments') return [];
  const out = [{ type: `appointment.${verb}`, resourceType: 'appointment', data: appointmentData(e, data.properties) }];
  const changed = Array.isArray(data.changes) && data.changes.includes('status');
  const status = data.properties?.status;
  if (verb === 'updated' && changed && (status === 'completed' || status === 'cancelled')) {
    out.push({ type: `appointment.${status}`, resourceType: 'appointment', data: out[0]!.data });
  }
  return out;
}

export function registerLifecycle(kernel: Kernel): void {
  kernel.outbox.consume({
    name: LIFECYCLE_CONSUMER,
    batchSize: 500,
    wakeOn: (type) => type.startsWith('object.'),
    handle: async (batch: ConsumerBatch) => {
      const rows = batch.events
        .filter((e) => e.type.startsWith('object.'))
        .flatMap((e) =>
          contractEvents(e).map((c) => ({
            id: newId('evt'),
            tenantId: e.tenantId,
            type: c.type,
            resourceType: c.resourceType,
            resourceId: e.resourceId,
            data: c.data,
            actorType: e.actorType,
            actorId: e.actorId,
            requestId: e.requestId,
          })),
        );
      if (!rows.length) return;
      await batch.tx.insert(events).values(rows);
      batch.afterCommit(() => kernel.outbox.notify(new Set(rows.map((r) => r.type))));
    },
  });
}
