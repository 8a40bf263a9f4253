import { randomBytes } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import type { TenantContext } from '../context.ts';
import { ApiError } from './errors.ts';

export interface Dependency {
  /** Machine name of the dependent records, e.g. `objects`. */
  type: string;
  count: number;
  label: string;
}

const CONFIRM_TTL_MS = 5 * 60 * 1000;

/** The query of a DELETE that may cascade: `?force=true&confirm_token=...`. */
export const ForceDeleteQuery = z.object({
  force: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => v === 'true')
    .openapi({ description: 'Cascade-delete dependents; needs `confirm_token`' }),
  confirm_token: z.string().max(100).optional().openapi({ description: 'The single-use token from the 409 DEPENDENCY_EXISTS answer' }),
});

/**
 * The platform seed's secure deletion. With dependents and no valid confirmation, answers 409
 * DEPENDENCY_EXISTS with the counts and a single-use `confirm_token` (5 minutes) bound to this tenant
 * and record. Returns normally when the delete may go ahead: nothing depends on the record, or `force`
 * came with a token issued for it. A missing, used or expired token gets a fresh 409.
 */
export async function confirmDeletion(
  ctx: TenantContext,
  resource: { type: string; id: string },
  dependencies: Dependency[],
  query: { force?: boolean; confirm_token?: string },
): Promise<{ cascaded: boolean }> {
  const dependents = dependencies.filter((d) => d.count > 0);
  if (dependents.length === 0) return { cascaded: false };
  const binding = `${ctx.tenantId}:${resource.type}:${resource.id}`;
  const { kv } = ctx.kernel;
  if (query.force && query.confirm_token) {
    const bound = await kv.take(`confirm:${query.confirm_token}`);
    if (bound === binding) return { cascaded: true };
  }
  const token = randomBytes(24).toString('base64url');
  await kv.set(`confirm:${token}`, binding, CONFIRM_TTL_MS);
  throw new ApiError(
    'DEPENDENCY_EXISTS',
    query.force ? 'confirm_token is missing, used or expired; use the new one to cascade-delete' : 'Cannot delete: dependent records exist',
    { extra: { dependencies: dependents, confirm_token: token } },
  );
}
