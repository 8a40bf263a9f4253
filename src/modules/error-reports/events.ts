import { defineEvents, z } from '../../core/events/catalog.ts';

export const ERROR_REPORT_EVENTS = defineEvents('client_error', {
  'client_error.reported': {
    description: 'A client reported an error (for alerting through webhooks and automations)',
    payload: z.object({ level: z.string(), message: z.string(), source: z.string().nullable(), fingerprint: z.string() }),
  },
});
