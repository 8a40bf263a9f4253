import { defineEvents, z } from '../../core/events/catalog.ts';

export const KEY_EVENTS = defineEvents('key', {
  'key.created': { description: 'An API key was created', payload: z.object({ label: z.string(), scopes: z.array(z.string()) }) },
  'key.updated': { description: 'An API key\'s settings changed', payload: z.object({ changes: z.array(z.string()) }) },
  'key.revoked': { description: 'An API key was revoked', payload: z.object({ label: z.string() }) },
  'key.rotated': {
    description: 'An API key was replaced by a new one',
    payload: z.object({ new_key_id: z.string(), grace_period_seconds: z.number() }),
  },
});
