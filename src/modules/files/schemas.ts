import { z } from '@hono/zod-openapi';
import { IsoDate } from '../../core/http/envelope.ts';
import { jsonObject } from '../../core/http/json.ts';
import { strictInput } from '../../core/http/strict.ts';

/** Control characters never belong in a name (they would break headers and logs); the rest is kept. */
export function cleanFilename(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 255);
}

export const Filename = z
  .string()
  .max(1000)
  .transform(cleanFilename)
  .pipe(z.string().min(1, 'must not be empty').max(255))
  .openapi({ description: 'The file\'s name; kept as a name only (`../x` is a name, never a path)', example: 'invoice-2026-01.pdf' });

/**
 * `a/b/c`: slashes at either end and doubled ones are dropped, `.` and `..` segments are refused.
 * An empty folder (or `/`) is the root, null.
 */
export function normalizeFolder(value: string): { folder: string | null } | { error: string } {
  const segments = value.split('/').filter((s) => s.length > 0);
  if (segments.length > 20) return { error: 'at most 20 levels deep' };
  for (const segment of segments) {
    if (segment === '.' || segment === '..') return { error: '`.` and `..` are not folder names' };
    if (/[\u0000-\u001f\u007f\\]/.test(segment)) return { error: 'control characters and backslashes are not allowed' };
    if (segment.length > 100) return { error: 'a folder name has at most 100 characters' };
  }
  return { folder: segments.length ? segments.join('/') : null };
}

export const Folder = z
  .string()
  .max(500)
  .transform((value, ctx) => {
    const result = normalizeFolder(value);
    if ('error' in result) {
      ctx.addIssue({ code: 'custom', message: result.error });
      return z.NEVER;
    }
    return result.folder;
  })
  .nullable()
  .openapi({ type: 'string', description: 'Folder path like `invoices/2026`; empty or null is the root', example: 'invoices/2026' });

export const Tags = z
  .array(z.string().trim().min(1).max(64))
  .max(50)
  .transform((tags) => [...new Set(tags)])
  .openapi({ description: 'Up to 50 tags', example: ['invoice', 'acme'] });

export const Meta = jsonObject(16 * 1024, z.string().min(1).max(100)).openapi({ description: 'Custom metadata (JSON object, up to 16 KB)', example: { customer: 'acme' } });

export const Access = z.enum(['private', 'public']).openapi({
  description: '`private`: needs a key with the `files` scope or a signed URL. `public`: its content is served to anyone with its id.',
});

const LinkedId = z.string().min(1).max(64).nullable();
export const Sha256 = z.string().regex(/^[0-9a-fA-F]{64}$/, 'a sha256 in hex (64 characters)');

export const FileSchema = z
  .object({
    id: z.string().openapi({ example: 'file_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    filename: z.string(),
    folder: z.string().nullable(),
    mime_type: z.string().openapi({ description: 'Detected from the bytes, never taken from the client', example: 'image/png' }),
    mime_category: z.string().openapi({ example: 'image' }),
    size_bytes: z.number().int(),
    sha256: z.string().nullable(),
    status: z.enum(['pending', 'ready']),
    access: Access,
    tags: z.array(z.string()),
    meta: z.record(z.string(), z.unknown()),
    object_type_id: z.string().nullable(),
    object_id: z.string().nullable(),
    version: z.number().int().openapi({ description: 'Current version; 0 while a presigned upload is pending' }),
    storage_key: z.string(),
    content_url: z.string(),
    created_by: z.string().nullable(),
    created_at: IsoDate,
    updated_at: IsoDate,
    uploaded_at: IsoDate.nullable(),
    deleted_at: IsoDate.nullable(),
    upload_expires_at: IsoDate.nullable(),
  })
  .openapi('File');

export const FileVersionSchema = z
  .object({
    version: z.number().int(),
    filename: z.string(),
    mime_type: z.string(),
    size_bytes: z.number().int(),
    sha256: z.string(),
    is_current: z.boolean(),
    created_by: z.string().nullable(),
    created_at: IsoDate,
  })
  .openapi('FileVersion');

export const FolderSchema = z
  .object({ folder: z.string().nullable(), file_count: z.number().int(), size_bytes: z.number().int(), last_updated_at: IsoDate })
  .openapi('FileFolder');

export const FilePage = z
  .object({ results: z.array(FileSchema), next_cursor: z.string().nullable(), total: z.number().int() })
  .openapi('FilePage');

export const FileParams = z.object({
  file_id: z.string().min(1).max(64).openapi({ param: { name: 'file_id', in: 'path' }, example: 'file_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
});

export const FileIds = z.array(z.string().min(1).max(64)).min(1).max(100).openapi({ description: 'Up to 100 file ids' });

/** What PATCH and batch update may change. */
export const FileChanges = z.object({
  filename: Filename.optional(),
  access: Access.optional(),
  folder: Folder.optional(),
  tags: Tags.optional(),
  meta: Meta.optional().openapi({ description: 'Merged into the current metadata; a null value removes its key' }),
  object_type_id: LinkedId.optional(),
  object_id: LinkedId.optional(),
});

/** The text fields of a multipart upload (every value arrives as a string). */
const jsonField = <T extends z.ZodType>(schema: T, what: string) =>
  z
    .string()
    .transform((value, ctx) => {
      try {
        return JSON.parse(value) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: `must be ${what} in JSON` });
        return z.NEVER;
      }
    })
    .pipe(schema);

/** Checked by the upload handler, not the route (the body is streamed), so made strict here as defineRoute does for other bodies. */
export const UploadFields = strictInput(z.object({
  filename: Filename.optional(),
  folder: Folder.optional(),
  access: Access.optional(),
  // A JSON array, or a comma-separated list.
  tags: z
    .string()
    .transform((value) => {
      const trimmed = value.trim();
      if (trimmed.startsWith('[')) {
        try {
          return JSON.parse(trimmed) as unknown;
        } catch {
          return [trimmed];
        }
      }
      return trimmed ? trimmed.split(',').map((t) => t.trim()).filter(Boolean) : [];
    })
    .pipe(Tags)
    .optional(),
  meta: jsonField(Meta, 'an object').optional(),
  object_type_id: z.string().min(1).max(64).optional(),
  object_id: z.string().min(1).max(64).optional(),
  mime_type: z.string().max(255).optional(),
  file_id: z.string().min(1).max(64).optional(),
  overwrite: z.enum(['true', 'false']).optional(),
}));
