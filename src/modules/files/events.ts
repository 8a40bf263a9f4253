import { defineEvents, z } from '../../core/events/catalog.ts';

/** `folder` is in every payload: realtime publishes each event on `files` and on `files:<folder>`. */
const Folder = z.string().nullable().openapi({ description: 'The file\'s folder (`a/b`); null is the root' });

export const FILE_EVENTS = defineEvents('file', {
  'file.uploaded': {
    description: 'A file\'s bytes were stored: a new file, or a new version of one',
    payload: z.object({
      filename: z.string(),
      folder: Folder,
      mime_type: z.string(),
      size_bytes: z.number().int(),
      sha256: z.string(),
      version: z.number().int(),
    }),
  },
  'file.updated': {
    description: 'A file\'s metadata changed (name, folder, access, tags, meta, linked object)',
    payload: z.object({
      filename: z.string(),
      folder: Folder,
      previous_folder: Folder.optional().openapi({ description: 'Set when the file moved to another folder' }),
      changes: z.array(z.string()),
    }),
  },
  'file.deleted': {
    description: 'A file went to the trash, or was purged for good (`permanent`)',
    payload: z.object({ filename: z.string(), folder: Folder, permanent: z.boolean() }),
  },
  'file.restored': {
    description: 'A file came back from the trash',
    payload: z.object({ filename: z.string(), folder: Folder }),
  },
});
