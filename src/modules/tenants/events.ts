import { defineEvents, z } from '../../core/events/catalog.ts';

export const TENANT_EVENTS = defineEvents('tenant', {
  'tenant.created': {
    description: 'The tenant was provisioned',
    payload: z.object({ name: z.string(), slug: z.string(), plan_tier: z.string() }),
  },
  'tenant.updated': { description: 'The tenant\'s settings or plan changed', payload: z.object({ changes: z.array(z.string()) }) },
  'tenant.suspended': { description: 'The tenant was suspended', payload: z.object({ changes: z.array(z.string()) }) },
  'tenant.reactivated': { description: 'The tenant was reactivated', payload: z.object({ changes: z.array(z.string()) }) },
  'tenant.contact_received': {
    description: 'A message came through the tenant\'s contact form and was mailed to its admins',
    payload: z.object({ topic: z.string().nullable(), recipients: z.number().int() }),
  },
});
