import { and, desc, eq, gt, isNull } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { primaryRoleNames } from '../../roles/index.ts';
import { checkSessionIp, identityGovernance, sessionDeadline, type IdentityGovernance } from '../config/governance.ts';
import { getAuthConfig, type AuthConfig } from '../config/service.ts';
import { runtime } from '../runtime.ts';
import { refreshTokens, sessions, users, type Audience, type RefreshTokenRow, type SessionRow, type UserRow } from '../tables.ts';
import { openWithToken, sealWithToken, sha256, tenantOfToken, tenantToken } from '../tokens.ts';
import { invalidateIdentity, touchSignIn, userDto } from '../users/store.ts';

/** `aud` of access tokens: a portal token is never accepted where an app token is expected, and back. */
export const AUDIENCES: Record<Audience, string> = { app: 'plinth:app', portal: 'plinth:portal' };

export const REFRESH_PREFIX = 'rt';

export interface SignInMethod {
  /** How the user proved who they are (becomes `amr`). */
  amr: string[];
  aal?: 'aal1' | 'aal2';
}

async function accessToken(ctx: TenantContext, session: SessionRow, user: UserRow, role: string | null, ttl: number) {
  return runtime(ctx.kernel).keys.sign(
    {
      sub: user.id,
      tid: ctx.tenantId,
      sid: session.id,
      role: role ?? (user.isAnonymous ? 'anonymous' : 'authenticated'),
      aal: session.aal,
      amr: session.amr,
      is_anonymous: user.isAnonymous,
    },
    AUDIENCES[session.audience],
    ttl,
  );
}

async function newRefreshToken(ctx: TenantContext, sessionId: string, config: AuthConfig, sessionEndsAt: number) {
  const token = tenantToken(REFRESH_PREFIX, ctx.tenantId);
  const expiresAt = new Date(Math.min(ctx.kernel.clock.now() + config.refresh_token_ttl * 1000, sessionEndsAt));
  await ctx.db.insert(refreshTokens).values({ id: newId('rtk'), tenantId: ctx.tenantId, sessionId, tokenHash: sha256(token), expiresAt });
  return token;
}

async function sessionResponse(ctx: TenantContext, session: SessionRow, user: UserRow, refreshToken: string, config: AuthConfig) {
  const role = (await primaryRoleNames(ctx, [user.id])).get(user.id) ?? null;
  const ttl = config.access_token_ttl;
  return {
    access_token: await accessToken(ctx, session, user, role, ttl),
    refresh_token: refreshToken,
    token_type: 'bearer' as const,
    expires_in: ttl,
    expires_at: Math.floor(ctx.kernel.clock.now() / 1000) + ttl,
    session_id: session.id,
    user: userDto(user, role),
  };
}

export type AuthSession = Awaited<ReturnType<typeof sessionResponse>>;

/**
 * Starts a session for a user who has proved who they are: a refresh-token family and an access token.
 * Every sign-in path ends here, so the governance allowlist is checked here whatever came before.
 */
export async function startSession(
  ctx: TenantContext,
  user: UserRow,
  method: SignInMethod,
  config?: AuthConfig,
  governance?: IdentityGovernance,
): Promise<AuthSession> {
  const cfg = config ?? (await getAuthConfig(ctx));
  const gov = governance ?? (await identityGovernance(ctx));
  checkSessionIp(ctx.ip, user.audience, gov);
  // auth-config's session_ttl is the normal lifetime; governance caps it. Start and end come from one
  // clock, the one the deadline is later compared with (not the database's now()).
  const createdAt = new Date(ctx.kernel.clock.now());
  const expiresAt = new Date(createdAt.getTime() + Math.min(cfg.session_ttl * 1000, gov.sessionDurationMs));
  const [session] = await ctx.db
    .insert(sessions)
    .values({
      id: newId('sess'),
      tenantId: ctx.tenantId,
      userId: user.id,
      audience: user.audience,
      aal: method.aal ?? 'aal1',
      amr: method.amr,
      ip: ctx.ip ?? null,
      userAgent: ctx.userAgent?.slice(0, 500) ?? null,
      createdAt,
      lastActiveAt: createdAt,
      expiresAt,
    })
    .returning();
  await touchSignIn(ctx, user.id);
  const refresh = await newRefreshToken(ctx, session!.id, cfg, expiresAt.getTime());
  await ctx.audit({ action: 'session.created', resourceType: 'session', resourceId: session!.id, metadata: { user_id: user.id, amr: method.amr } });
  return sessionResponse(ctx, session!, { ...user, lastSignInAt: new Date() }, refresh, cfg);
}

export async function revokeSession(ctx: TenantContext, session: SessionRow, reason: string): Promise<boolean> {
  if (session.revokedAt) return false;
  await ctx.db
    .update(sessions)
    .set({ revokedAt: new Date(), revokedReason: reason })
    .where(and(eq(sessions.tenantId, ctx.tenantId), eq(sessions.id, session.id)));
  await ctx.emit({ type: 'session.revoked', resourceType: 'session', resourceId: session.id, data: { user_id: session.userId, reason } });
  invalidateIdentity(ctx);
  return true;
}

/** Ends every live session of a user (all of them, or all but `exceptSessionId`); answers how many. */
export async function revokeUserSessions(ctx: TenantContext, userId: string, reason: string, exceptSessionId?: string | null): Promise<number> {
  const live = await ctx.db
    .select()
    .from(sessions)
    .where(and(eq(sessions.tenantId, ctx.tenantId), eq(sessions.userId, userId), isNull(sessions.revokedAt)));
  let n = 0;
  for (const session of live) {
    if (session.id === exceptSessionId) continue;
    if (await revokeSession(ctx, session, reason)) n++;
  }
  return n;
}

export type RefreshOutcome = { ok: true; session: AuthSession } | { ok: false; reason: string };

/**
 * Rotates a refresh token: the presented one is spent and a new one issued. A token presented after it
 * was spent means it leaked (or two clients share it): the whole session is revoked. The revocation must
 * commit, so this answers an outcome and the caller throws after the transaction.
 *
 * One exception, the auth config's refresh_token_reuse_interval: a token spent less than that many
 * seconds ago, whose successor is still unspent, answers with that same successor (and a fresh access
 * token). Two tabs refreshing at once, or a retry after a lost response, then end up holding one live
 * token instead of the second caller looking like a thief. Handing back the successor rather than
 * rotating again keeps the family a single chain: whoever shows up with the successor after the other
 * has spent it still trips reuse detection, and nothing new is minted for a copied token. A token two
 * rotations back (its successor spent) is theft at any time.
 */
export async function refreshSession(ctx: TenantContext, token: string): Promise<RefreshOutcome> {
  if (tenantOfToken(REFRESH_PREFIX, token) !== ctx.tenantId) return { ok: false, reason: 'Invalid refresh token' };
  const [row] = await ctx.db
    .select()
    .from(refreshTokens)
    .where(and(eq(refreshTokens.tenantId, ctx.tenantId), eq(refreshTokens.tokenHash, sha256(token))))
    .for('update');
  if (!row) return { ok: false, reason: 'Invalid refresh token' };
  const [session] = await ctx.db
    .select()
    .from(sessions)
    .where(and(eq(sessions.tenantId, ctx.tenantId), eq(sessions.id, row.sessionId)))
    .for('update');
  if (!session) return { ok: false, reason: 'Invalid refresh token' };
  const config = await getAuthConfig(ctx);
  const clock = ctx.kernel.clock.now();
  let successor: { token: string; row: RefreshTokenRow } | null = null;
  if (row.usedAt) {
    successor = session.revokedAt ? null : await unspentSuccessor(ctx, row, token, config, clock);
    if (!successor) {
      await revokeSession(ctx, session, 'refresh_token_reuse');
      return { ok: false, reason: 'Refresh token already used; the session has been revoked' };
    }
  }
  if (session.revokedAt) return { ok: false, reason: 'The session has been revoked' };
  const governance = await identityGovernance(ctx);
  const endsAt = sessionDeadline(session, governance);
  const live = successor?.row ?? row;
  if (live.expiresAt.getTime() <= clock || endsAt <= clock) return { ok: false, reason: 'Refresh token expired' };
  // Nothing is written yet: the throw leaves the token unspent for a caller inside the allowlist.
  checkSessionIp(ctx.ip, session.audience, governance);
  const [user] = await ctx.db
    .select()
    .from(users)
    .where(and(eq(users.tenantId, ctx.tenantId), eq(users.id, session.userId)));
  if (!user || user.bannedAt) {
    await revokeSession(ctx, session, user ? 'banned' : 'user_deleted');
    return { ok: false, reason: 'The session has been revoked' };
  }
  const now = new Date(clock);
  await ctx.db.update(sessions).set({ lastActiveAt: now }).where(eq(sessions.id, session.id));
  if (successor) return { ok: true, session: await sessionResponse(ctx, session, user, successor.token, config) };
  const next = await newRefreshToken(ctx, session.id, config, endsAt);
  await ctx.db
    .update(refreshTokens)
    .set({ usedAt: now, nextSealed: sealWithToken(token, next) })
    .where(eq(refreshTokens.id, row.id));
  return { ok: true, session: await sessionResponse(ctx, session, user, next, config) };
}

/** The token `row` was rotated into, when `row` was spent within the reuse interval and that token is still unspent. */
async function unspentSuccessor(ctx: TenantContext, row: RefreshTokenRow, token: string, config: AuthConfig, clock: number) {
  const interval = config.refresh_token_reuse_interval * 1000;
  if (!row.usedAt || !row.nextSealed || interval <= 0 || clock - row.usedAt.getTime() > interval) return null;
  const next = openWithToken(token, row.nextSealed);
  if (!next) return null;
  const [nextRow] = await ctx.db
    .select()
    .from(refreshTokens)
    .where(and(eq(refreshTokens.tenantId, ctx.tenantId), eq(refreshTokens.tokenHash, sha256(next)), eq(refreshTokens.sessionId, row.sessionId)))
    .for('update');
  return nextRow && !nextRow.usedAt ? { token: next, row: nextRow } : null;
}

export async function findSessionOfRefreshToken(ctx: TenantContext, token: string): Promise<SessionRow | undefined> {
  if (tenantOfToken(REFRESH_PREFIX, token) !== ctx.tenantId) return undefined;
  const [row] = await ctx.db
    .select({ session: sessions })
    .from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .where(and(eq(refreshTokens.tenantId, ctx.tenantId), eq(refreshTokens.tokenHash, sha256(token))));
  return row?.session;
}

export async function getSession(ctx: TenantContext, sessionId: string): Promise<SessionRow | undefined> {
  const [row] = await ctx.db
    .select()
    .from(sessions)
    .where(and(eq(sessions.tenantId, ctx.tenantId), eq(sessions.id, sessionId)));
  return row;
}

export function sessionDto(row: SessionRow, currentSessionId: string | null, endsAt = row.expiresAt.getTime()) {
  return {
    id: row.id,
    user_id: row.userId,
    ip: row.ip,
    user_agent: row.userAgent,
    aal: row.aal,
    amr: row.amr,
    current: row.id === currentSessionId,
    created_at: row.createdAt.toISOString(),
    last_active_at: row.lastActiveAt.toISOString(),
    expires_at: new Date(endsAt).toISOString(),
  };
}

export async function listSessions(ctx: TenantContext, userId: string, currentSessionId: string | null) {
  // One clock for the stored expiry and the governance deadline: the one sessions were started with.
  const now = ctx.kernel.clock.now();
  const rows = await ctx.db
    .select()
    .from(sessions)
    .where(and(eq(sessions.tenantId, ctx.tenantId), eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, new Date(now))))
    .orderBy(desc(sessions.lastActiveAt));
  const governance = await identityGovernance(ctx);
  return rows.flatMap((r) => {
    const endsAt = sessionDeadline(r, governance);
    return endsAt > now ? [sessionDto(r, currentSessionId, endsAt)] : [];
  });
}

export async function revokeOwnSession(ctx: TenantContext, userId: string, sessionId: string) {
  const session = await getSession(ctx, sessionId);
  if (!session || session.userId !== userId) throw notFound('Session');
  if (session.revokedAt) throw notFound('Session');
  await revokeSession(ctx, session, 'revoked_by_user');
  return { revoked: true as const };
}

/** Raises a session to aal2 after a second factor (step-up); its next access-token check sees it. */
export async function raiseSession(ctx: TenantContext, sessionId: string, method: string) {
  const session = await getSession(ctx, sessionId);
  if (!session) throw new ApiError('UNAUTHORIZED', 'Session not found');
  await ctx.db
    .update(sessions)
    .set({ aal: 'aal2', amr: [...new Set([...session.amr, method])] })
    .where(and(eq(sessions.tenantId, ctx.tenantId), eq(sessions.id, sessionId)));
  invalidateIdentity(ctx);
}
