import { defineEvents, z } from '../../core/events/catalog.ts';

const payload = z.object({
  object_type_id: z.string(),
  object_type: z.string(),
  format: z.string(),
  total: z.number(),
  succeeded: z.number(),
  failed: z.number(),
  error: z.string().optional(),
});

export const DATA_IO_EVENTS = [
  ...defineEvents('data_import', {
    'data_import.completed': { description: 'An import finished; `succeeded` rows were created, `failed` rows were not', payload },
    'data_import.failed': { description: 'An import stopped on an error; rows before it stay imported', payload },
  }),
  ...defineEvents('data_export', {
    'data_export.completed': { description: 'An export is ready to download', payload },
    'data_export.failed': { description: 'An export failed', payload },
  }),
];
