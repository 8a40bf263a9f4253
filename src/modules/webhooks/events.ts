import { defineEvents, z } from '../../core/events/catalog.ts';

export const WEBHOOK_EVENTS = defineEvents('webhook', {
  'webhook.created': {
    description: 'A webhook endpoint was created',
    payload: z.object({ url: z.string(), events: z.array(z.string()), object_types: z.array(z.string()), application_id: z.string().optional() }),
  },
  'webhook.updated': { description: 'A webhook endpoint\'s settings changed', payload: z.object({ changes: z.array(z.string()) }) },
  'webhook.deleted': { description: 'A webhook endpoint was deleted', payload: z.object({ url: z.string(), cascaded: z.boolean() }) },
  'webhook.secret_rotated': {
    description: 'A webhook endpoint got a new signing secret; the old one signs too for 24 hours',
    payload: z.object({ previous_secret_expires_at: z.string() }),
  },
  'webhook.disabled': {
    description: 'A webhook endpoint was disabled because it answered 410 Gone',
    payload: z.object({ url: z.string(), reason: z.string() }),
  },
  'webhook.test': {
    description: 'Sent only to the endpoint under test by POST /v1/webhooks/:webhook_id/test; never emitted to other consumers',
    payload: z.object({ webhook_id: z.string(), message: z.string() }),
  },
});
