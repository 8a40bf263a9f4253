import { defineEvents } from '../../core/events/catalog.ts';
import { AppointmentSchema } from './appointments.ts';
import { CustomerSchema } from './customers.ts';

/**
 * The seed's webhook events. Their `data` is the resource as this contract shows it (UUIDs); the
 * platform's own `object.*` events fire for the same records beside them.
 */
export const FIELD_SERVICE_EVENTS = [
  ...defineEvents('customer', {
    'customer.created': { description: 'A customer was created through the field-service API', payload: CustomerSchema },
    'customer.updated': { description: 'A customer of the field-service API changed', payload: CustomerSchema },
    'customer.deleted': { description: 'A customer of the field-service API was deleted', payload: CustomerSchema },
  }),
  ...defineEvents('appointment', {
    'appointment.created': { description: 'An appointment was booked through the field-service API', payload: AppointmentSchema },
    'appointment.updated': { description: 'An appointment changed (time, assignment or status)', payload: AppointmentSchema },
    'appointment.completed': { description: 'An appointment moved to completed', payload: AppointmentSchema },
    'appointment.cancelled': { description: 'An appointment was cancelled', payload: AppointmentSchema },
  }),
];
