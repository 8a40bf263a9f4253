import { defineEvents, z } from '../../core/events/catalog.ts';

export const GOVERNANCE_EVENTS = defineEvents('governance', {
  'governance.updated': { description: 'The tenant\'s governance settings changed', payload: z.object({ changes: z.array(z.string()) }) },
});
