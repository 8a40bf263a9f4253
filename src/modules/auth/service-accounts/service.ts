import { and, count, desc, eq, gt, isNotNull, isNull, lte, type SQL } from 'drizzle-orm';
import { invalidatePrincipals, type Scope, type TenantPrincipal } from '../../../core/auth/principal.ts';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { runtime } from '../runtime.ts';
import { MAX_ACCESS_TTL_SECONDS } from '../sessions/signing-keys.ts';
import { serviceAccountTokens, type ServiceAccountTokenRow } from '../tables.ts';

/** `aud` of service-account tokens: never accepted as a user's access token, and back. */
export const SERVICE_ACCOUNT_AUDIENCE = 'plinth:service-account';
export const JTI_PREFIX = 'sat';
/**
 * At most the lifetime of an access token: tokens are signed with the deployment's rotating keys, and a
 * retired key verifies only as long as the longest access token it may have signed.
 */
export const MAX_LIFETIME_MINUTES = MAX_ACCESS_TTL_SECONDS / 60;

export interface IssueInput {
  account: string;
  scopes: Scope[];
  lifetime_minutes?: number;
  fingerprint?: string | null;
  reason?: string | null;
}

/** A service-account principal is an API-key principal whose id is the token's jti. */
export const isServiceAccount = (principal: TenantPrincipal) => principal.kind === 'api_key' && principal.id.startsWith(`${JTI_PREFIX}_`);

/**
 * Issues a token for `account` acting for the caller's tenant. It can never hold more than the caller:
 * every requested scope must be one the caller holds (`*` only from a caller holding `*`).
 */
export async function issueServiceAccountToken(ctx: TenantContext, caller: TenantPrincipal, input: IssueInput, origin: 'issue' | 'browser') {
  const held = caller.scopes;
  const missing = input.scopes.filter((s) => !held.has('*') && !held.has(s));
  if (missing.length) {
    throw new ApiError('FORBIDDEN', `The token would hold scopes the caller does not: ${missing.join(', ')}`, { details: { scopes: missing } });
  }
  const minutes = input.lifetime_minutes ?? 60;
  const jti = newId(JTI_PREFIX);
  const now = ctx.kernel.clock.now();
  const expiresAt = new Date(now + minutes * 60_000);
  const scopes = [...new Set(input.scopes)];
  const [row] = await ctx.db
    .insert(serviceAccountTokens)
    .values({
      tenantId: ctx.tenantId,
      jti,
      account: input.account,
      scopes,
      issuedBy: `${caller.kind}:${caller.id}`,
      origin,
      fingerprint: input.fingerprint ?? null,
      reason: input.reason ?? null,
      issuedAt: new Date(now),
      expiresAt,
    })
    .returning();
  const token = await runtime(ctx.kernel).keys.sign(
    { sub: `sa:${input.account}`, tid: ctx.tenantId, jti, scope: scopes.join(' '), account: input.account },
    SERVICE_ACCOUNT_AUDIENCE,
    minutes * 60,
  );
  await ctx.audit({ action: 'service_account_token.issued', resourceType: 'service_account_token', resourceId: jti, metadata: { account: input.account, scopes, origin } });
  return { token, row: row! };
}

export type TokenStatus = 'active' | 'revoked' | 'expired';

export function tokenStatus(row: ServiceAccountTokenRow, now: number): TokenStatus {
  if (row.revokedAt) return 'revoked';
  return row.expiresAt.getTime() <= now ? 'expired' : 'active';
}

export async function listServiceAccountTokens(
  ctx: TenantContext,
  query: { account?: string; status?: TokenStatus; limit: number; offset: number },
) {
  const now = new Date(ctx.kernel.clock.now());
  const filters: (SQL | undefined)[] = [eq(serviceAccountTokens.tenantId, ctx.tenantId)];
  if (query.account) filters.push(eq(serviceAccountTokens.account, query.account));
  if (query.status === 'active') filters.push(isNull(serviceAccountTokens.revokedAt), gt(serviceAccountTokens.expiresAt, now));
  if (query.status === 'revoked') filters.push(isNotNull(serviceAccountTokens.revokedAt));
  if (query.status === 'expired') filters.push(isNull(serviceAccountTokens.revokedAt), lte(serviceAccountTokens.expiresAt, now));
  const where = and(...filters);
  const [rows, [total]] = await Promise.all([
    ctx.db.select().from(serviceAccountTokens).where(where).orderBy(desc(serviceAccountTokens.issuedAt), desc(serviceAccountTokens.jti)).limit(query.limit).offset(query.offset),
    ctx.db.select({ n: count() }).from(serviceAccountTokens).where(where),
  ]);
  return { rows, total: total?.n ?? 0 };
}

export async function revokeServiceAccountToken(ctx: TenantContext, jti: string, reason: string | null) {
  const [row] = await ctx.db
    .select()
    .from(serviceAccountTokens)
    .where(and(eq(serviceAccountTokens.tenantId, ctx.tenantId), eq(serviceAccountTokens.jti, jti)))
    .for('update');
  if (!row) throw notFound('Service-account token');
  if (row.revokedAt) return { row, revoked: false };
  const [updated] = await ctx.db
    .update(serviceAccountTokens)
    .set({ revokedAt: new Date(ctx.kernel.clock.now()), revokeReason: reason })
    .where(and(eq(serviceAccountTokens.tenantId, ctx.tenantId), eq(serviceAccountTokens.jti, jti)))
    .returning();
  await ctx.audit({ action: 'service_account_token.revoked', resourceType: 'service_account_token', resourceId: jti, metadata: { reason } });
  // Every process drops its cached tokens of this tenant: the next request with this one is refused.
  ctx.afterCommit(() => invalidatePrincipals(ctx.kernel, ctx.tenantId));
  return { row: updated!, revoked: true };
}
