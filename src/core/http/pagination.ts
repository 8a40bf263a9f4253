import { z } from '@hono/zod-openapi';

/** `limit`/`offset` paging with `total`, as the platform seed's admin lists use. */
export function offsetQuery(defaults: { limit: number; max: number }) {
  return z.object({
    limit: z.coerce.number().int().min(1).max(defaults.max).default(defaults.limit).openapi({ description: `Page size, 1..${defaults.max}` }),
    offset: z.coerce.number().int().min(0).default(0).openapi({ description: 'Items to skip' }),
  });
}

/** Opaque cursor for keyset paging: base64url of the sort values of the last row. */
export function encodeCursor(values: unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

export function decodeCursor(cursor: string): unknown[] | null {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return Array.isArray(parsed) ? parsed : null;
  } catch {
    return null;
  }
}
