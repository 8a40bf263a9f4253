import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import type { ObjectDto } from '../../modules/objects/index.ts';
import { surfaceRoute } from '../surface.ts';
import { customerRef } from './customers.ts';
import { CONFLICT_ERROR, dataOf, DateTime, ERRORS, fieldRoute, idFrom, listQuery, NOT_FOUND_ERROR, pageOf, Uuid } from './http.ts';
import { fromUuid, toUuid } from './ids.ts';
import { create, pageOf as recordsPage, recordOf, update, withType, type Filter } from './records.ts';

const TAGS = ['Appointments'];
const STATUSES = ['scheduled', 'confirmed', 'in_progress', 'completed', 'cancelled'] as const;
type Status = (typeof STATUSES)[number];

/**
 * Where an appointment may go from each status. `completed` and `cancelled` are final: a finished or
 * cancelled visit is not rescheduled, a new one is booked.
 */
const NEXT: Record<Status, readonly Status[]> = {
  scheduled: ['confirmed', 'in_progress', 'completed', 'cancelled'],
  confirmed: ['scheduled', 'in_progress', 'completed', 'cancelled'],
  in_progress: ['completed', 'cancelled'],
  completed: [],
  cancelled: [],
};

export const AppointmentSchema = z
  .object({
    id: Uuid,
    customer_id: Uuid,
    status: z.enum(STATUSES).openapi('AppointmentStatus'),
    scheduled_start: DateTime,
    scheduled_end: DateTime,
    assigned_team_member_ids: z.array(Uuid),
  })
  .openapi('Appointment', {
    example: {
      id: '10bdff89-2f4f-4f06-8595-5f971ca0119a',
      customer_id: '8af2ca8e-8f31-4e6e-a46c-0703b61f7ca3',
      status: 'confirmed',
      scheduled_start: '2026-03-24T13:00:00.000Z',
      scheduled_end: '2026-03-24T15:00:00.000Z',
      assigned_team_member_ids: ['95cb6a1e-3792-451a-b905-011946edc191'],
    },
  });

const instant = z.string().datetime({ offset: true }).openapi({ format: 'date-time', example: '2026-03-24T13:00:00.000Z' });
const Upsert = z.object({
  customer_id: Uuid,
  scheduled_start: instant,
  scheduled_end: instant,
  assigned_team_member_ids: z.array(Uuid).max(50).optional(),
});
const CreateAppointment = Upsert.extend({ status: z.enum(['scheduled', 'confirmed']).optional().openapi({ description: 'Default `scheduled`' }) }).openapi('AppointmentUpsertRequest');
const PatchAppointment = Upsert.partial()
  .extend({ status: z.enum(STATUSES).optional().openapi({ description: 'Moves the appointment: `completed` and `cancelled` are final' }) })
  .openapi('AppointmentPatchRequest');

export function appointmentOf(r: ObjectDto) {
  const p = r.properties as Record<string, unknown>;
  return {
    id: toUuid(r.id),
    customer_id: toUuid(String(p.customer_id ?? '')),
    status: (p.status as Status) ?? 'scheduled',
    scheduled_start: new Date(String(p.scheduled_start)).toISOString(),
    scheduled_end: new Date(String(p.scheduled_end)).toISOString(),
    assigned_team_member_ids: Array.isArray(p.assigned_team_member_ids) ? (p.assigned_team_member_ids as string[]) : [],
  };
}

const Params = z.object({ appointmentId: z.string().max(64).openapi({ param: { name: 'appointmentId', in: 'path' }, format: 'uuid' }) });

const list = surfaceRoute(
  {
    method: 'get',
    path: '/api/public/v1/appointments',

    operationId: 'appointments_list',
    tags: TAGS,
    summary: 'List appointments',
    description: 'List appointments by date range (`from`/`to` on the scheduled start), status, customer, or technician, newest first. Requires `read:appointments`.',
    request: {
      query: listQuery({
        status: z.enum(STATUSES).optional(),
        customer_id: Uuid.optional(),
        technician_id: Uuid.optional().openapi({ description: 'Only appointments this team member is assigned to' }),
        from: instant.optional().openapi({ description: 'Scheduled start at or after' }),
        to: instant.optional().openapi({ description: 'Scheduled start at or before' }),
      }),
    },
    responses: { 200: pageOf(AppointmentSchema, 'A page of appointments'), ...ERRORS },
  },
  fieldRoute('read:appointments'),
);

const createAppointment = surfaceRoute(
  {
    method: 'post',
    path: '/api/public/v1/appointments',

    operationId: 'appointments_create',
    tags: TAGS,
    summary: 'Create appointment',
    description: 'Book an appointment for a customer of the organization; emits `appointment.created`. Requires `write:appointments`.',
    request: { body: { content: { 'application/json': { schema: CreateAppointment } }, required: true } },
    responses: { 201: dataOf(AppointmentSchema, 'The appointment'), ...ERRORS, ...NOT_FOUND_ERROR },
  },
  fieldRoute('write:appointments'),
);

const get = surfaceRoute(
  {
    method: 'get',
    path: '/api/public/v1/appointments/{appointmentId}',

    operationId: 'appointments_get',
    tags: TAGS,
    summary: 'Get appointment',
    description: 'Retrieve one appointment. Requires `read:appointments`.',
    request: { params: Params },
    responses: { 200: dataOf(AppointmentSchema, 'The appointment'), ...ERRORS, ...NOT_FOUND_ERROR },
  },
  fieldRoute('read:appointments'),
);

const patch = surfaceRoute(
  {
    method: 'patch',
    path: '/api/public/v1/appointments/{appointmentId}',

    operationId: 'appointments_update',
    tags: TAGS,
    summary: 'Update appointment',
    description:
      'Update appointment timing, assignment, or lifecycle state. Emits `appointment.updated`, and `appointment.completed` or `appointment.cancelled` when the status moves there. Requires `write:appointments`.',
    request: { params: Params, body: { content: { 'application/json': { schema: PatchAppointment } }, required: true } },
    responses: {
      200: dataOf(AppointmentSchema, 'The appointment'),
      ...ERRORS,
      ...NOT_FOUND_ERROR,
      ...CONFLICT_ERROR('The appointment is completed or cancelled, or cannot move to that status'),
    },
  },
  fieldRoute('write:appointments'),
);

const team = (ids: string[]) => {
  const lower = [...new Set(ids.map((id) => id.toLowerCase()))];
  return { assigned_team_member_ids: lower, assigned_team: lower.join(' ') };
};

function checkWindow(start: string, end: string) {
  if (new Date(end).getTime() <= new Date(start).getTime()) {
    throw new ApiError('VALIDATION_ERROR', 'scheduled_end must be after scheduled_start', {
      details: { issues: [{ field: 'scheduled_end', message: 'must be after scheduled_start' }] },
    });
  }
}

export function appointmentRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const filters: Filter[] = [];
    if (q.status) filters.push({ property: 'status', op: 'eq', value: q.status });
    if (q.customer_id) filters.push({ property: 'customer_id', op: 'eq', value: fromUuid('obj', q.customer_id) ?? 'none' });
    if (q.technician_id) filters.push({ property: 'assigned_team', op: 'contains', value: q.technician_id.toLowerCase() });
    if (q.from) filters.push({ property: 'scheduled_start', op: 'gte', value: new Date(q.from).toISOString() });
    if (q.to) filters.push({ property: 'scheduled_start', op: 'lte', value: new Date(q.to).toISOString() });
    const page = await withType(c, 'appointments', (ctx) => recordsPage(ctx, 'appointments', q, filters));
    const data = page.records.map(appointmentOf);
    return c.json({ data, pagination: { count: data.length, limit: q.limit, next_cursor: page.next_cursor } }, 200);
  });

  app.openapi(createAppointment, async (c) => {
    const body = c.req.valid('json');
    checkWindow(body.scheduled_start, body.scheduled_end);
    const data = await withType(c, 'appointments', async (ctx) => {
      const customerId = await customerRef(ctx, body.customer_id);
      const record = await create(ctx, 'appointments', {
        customer_id: customerId,
        status: body.status ?? 'scheduled',
        scheduled_start: new Date(body.scheduled_start).toISOString(),
        scheduled_end: new Date(body.scheduled_end).toISOString(),
        ...team(body.assigned_team_member_ids ?? []),
      });
      return appointmentOf(record);
    });
    return c.json({ data }, 201);
  });

  app.openapi(get, async (c) => {
    const id = idFrom('obj', c.req.valid('param').appointmentId, 'Appointment');
    const data = await withType(c, 'appointments', async (ctx) => appointmentOf(await recordOf(ctx, 'appointments', id, 'Appointment')));
    return c.json({ data }, 200);
  });

  app.openapi(patch, async (c) => {
    const id = idFrom('obj', c.req.valid('param').appointmentId, 'Appointment');
    const body = c.req.valid('json');
    const data = await withType(c, 'appointments', async (ctx) => {
      const current = appointmentOf(await recordOf(ctx, 'appointments', id, 'Appointment'));
      if (NEXT[current.status].length === 0) {
        throw new ApiError('CONFLICT', `The appointment is ${current.status}; it cannot change`, { details: { field: 'status' } });
      }
      if (body.status && body.status !== current.status && !NEXT[current.status].includes(body.status)) {
        throw new ApiError('CONFLICT', `An appointment cannot move from ${current.status} to ${body.status}`, { details: { field: 'status' } });
      }
      const start = body.scheduled_start ?? current.scheduled_start;
      const end = body.scheduled_end ?? current.scheduled_end;
      checkWindow(start, end);
      const changes: Record<string, unknown> = {};
      if (body.customer_id) changes.customer_id = await customerRef(ctx, body.customer_id);
      if (body.scheduled_start) changes.scheduled_start = new Date(body.scheduled_start).toISOString();
      if (body.scheduled_end) changes.scheduled_end = new Date(body.scheduled_end).toISOString();
      if (body.assigned_team_member_ids) Object.assign(changes, team(body.assigned_team_member_ids));
      if (body.status) changes.status = body.status;
      return Object.keys(changes).length ? appointmentOf(await update(ctx, 'appointments', id, changes)) : current;
    });
    return c.json({ data }, 200);
  });
}
