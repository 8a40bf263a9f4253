import { defineEvents, z } from '../../core/events/catalog.ts';

/**
 * The seed's webhook events, made from the records' `object.*` events (lifecycle.ts). `data` carries the
 * resource as this contract shows it (UUIDs); a deletion carries only `id` and `organization_id`.
 */
const ids = { id: z.string(), organization_id: z.string() };
const Customer = z.object({
  ...ids,
  account_type: z.string().nullable().optional(),
  display_name: z.string().nullable().optional(),
  email: z.string().nullable().optional(),
  phone: z.string().nullable().optional(),
});
const Appointment = z.object({
  ...ids,
  customer_id: z.string().nullable().optional(),
  status: z.string().nullable().optional(),
  scheduled_start: z.string().nullable().optional(),
  scheduled_end: z.string().nullable().optional(),
  assigned_team_member_ids: z.array(z.string()).optional(),
});

export const FIELD_SERVICE_EVENTS = [
  ...defineEvents('customer', {
    'customer.created': { description: 'A customer (a record of type `customers`) was created', payload: Customer },
    'customer.updated': { description: 'A customer changed', payload: Customer },
    'customer.deleted': { description: 'A customer was deleted (moved to the trash or for good)', payload: Customer },
  }),
  ...defineEvents('appointment', {
    'appointment.created': { description: 'An appointment (a record of type `appointments`) was booked', payload: Appointment },
    'appointment.updated': { description: 'An appointment changed (time, assignment or status)', payload: Appointment },
    'appointment.completed': { description: 'An appointment moved to completed', payload: Appointment },
    'appointment.cancelled': { description: 'An appointment was cancelled', payload: Appointment },
  }),
];
