import { defineEvents, z } from '../../core/events/catalog.ts';

export const DLQ_EVENTS = defineEvents('dead_letter', {
  'dead_letter.retried': {
    description: 'A dead letter was sent again by hand',
    payload: z.object({ source: z.string(), reference_id: z.string() }),
  },
  'dead_letter.discarded': {
    description: 'A dead letter was discarded',
    payload: z.object({ source: z.string(), reference_id: z.string() }),
  },
});
