import { defineEvents, z } from '../../core/events/catalog.ts';

export const EMAIL_EVENTS = defineEvents('email', {
  'email.sent': {
    description: 'A transactional email was accepted for delivery (POST /v1/email/send)',
    payload: z.object({ template: z.string().nullable(), recipients: z.number(), status: z.enum(['stored', 'queued']) }),
  },
});
