import { and, desc, eq } from 'drizzle-orm';
import { auditLogs } from '../../../core/audit/tables.ts';
import type { UserPrincipal } from '../../../core/auth/principal.ts';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { findRole, listUserRoles, setPrimaryRole } from '../../roles/index.ts';
import { passwordPolicy } from '../config/governance.ts';
import { checkRedirect, getAuthConfig } from '../config/service.ts';
import { sendAuthMail } from '../flows/messages.ts';
import { issueLinkToken, TOKEN_TTL_MINUTES } from '../flows/one-time.ts';
import { sendVerification, type FlowContext } from '../flows/service.ts';
import { listFactors } from '../mfa/service.ts';
import { listPasskeys } from '../passkeys/service.ts';
import { getSession, revokeUserSessions, sessionDto } from '../sessions/service.ts';
import { sessions, userIdentities, type UserRow } from '../tables.ts';
import { checkPassword, hashPassword, verifyPassword } from './passwords.ts';
import { findUserByEmail, findUserByPhone, getUser, invalidateIdentity, normalizeEmail, toUserDto, updateUserRow } from './store.ts';

/** A password may change without the current one only this soon after signing in. */
const RECENT_SIGN_IN_MS = 10 * 60_000;

export async function getMe(ctx: TenantContext, principal: UserPrincipal) {
  return toUserDto(ctx, await getUser(ctx, principal.id));
}

export interface UpdateMeInput {
  email?: string;
  phone?: string | null;
  password?: string;
  current_password?: string;
  user_metadata?: Record<string, unknown>;
  redirect_to?: string;
}

/**
 * Self-service profile changes. A new email takes effect when the link sent to it is followed (an
 * anonymous user's first email is set at once, which links the anonymous account to a real one). A
 * new password needs the current one unless the session signed in within the last 10 minutes, and
 * ends the user's other sessions. `user_metadata` is merged; a key set to null is removed.
 */
export async function updateMe(flow: FlowContext, principal: UserPrincipal, input: UpdateMeInput) {
  const { config, policy, user, session } = await flow.work(async (ctx) => {
    const config = await getAuthConfig(ctx);
    return {
      config,
      policy: await passwordPolicy(ctx, config),
      user: await getUser(ctx, principal.id),
      session: principal.sessionId ? await getSession(ctx, principal.sessionId) : undefined,
    };
  });
  const redirectTo = checkRedirect(config, input.redirect_to, [flow.audience === 'portal' ? config.portal.site_url : config.site_url]);
  const email = input.email !== undefined ? normalizeEmail(input.email) : undefined;
  let passwordHash: string | undefined;
  if (input.password !== undefined) {
    checkPassword(input.password, policy, email ?? user.email);
    const recent = session && flow.kernel.clock.now() - session.createdAt.getTime() < RECENT_SIGN_IN_MS;
    if (user.passwordHash && !recent) {
      if (!input.current_password) {
        throw new ApiError('FORBIDDEN', 'Changing the password needs current_password (or a sign-in within the last 10 minutes)', { details: { field: 'current_password' } });
      }
      if (!(await verifyPassword(flow.kernel.config, user.passwordHash, input.current_password)).ok) {
        throw new ApiError('FORBIDDEN', 'current_password is wrong', { details: { field: 'current_password' } });
      }
    }
    passwordHash = await hashPassword(flow.kernel.config, input.password);
  }

  return flow.work(async (ctx) => {
    const current = await getUser(ctx, principal.id, { lock: true });
    const patch: Partial<UserRow> = {};
    const changes: string[] = [];
    let emailChangePending = false;
    if (email !== undefined && email !== current.email) {
      const taken = await findUserByEmail(ctx, current.audience, email);
      if (taken) throw new ApiError('ALREADY_EXISTS', 'Another account uses this email', { details: { field: 'email' } });
      if (!current.email) {
        patch.email = email;
        patch.emailVerifiedAt = null;
        changes.push('email');
      } else {
        emailChangePending = true;
      }
    }
    if (input.phone !== undefined && input.phone !== current.phone) {
      if (input.phone) {
        const taken = await findUserByPhone(ctx, current.audience, input.phone);
        if (taken) throw new ApiError('ALREADY_EXISTS', 'Another account uses this phone number', { details: { field: 'phone' } });
      }
      patch.phone = input.phone;
      patch.phoneVerifiedAt = null;
      changes.push('phone');
    }
    if (passwordHash) {
      patch.passwordHash = passwordHash;
      patch.passwordChangedAt = new Date();
      changes.push('password');
    }
    if (input.user_metadata !== undefined) {
      const merged: Record<string, unknown> = { ...current.userMetadata };
      for (const [k, v] of Object.entries(input.user_metadata)) {
        if (v === null) delete merged[k];
        else merged[k] = v;
      }
      patch.userMetadata = merged;
      changes.push('user_metadata');
    }
    // Anonymous users become real ones when they get an email or phone.
    const linking = current.isAnonymous && Boolean(patch.email || patch.phone);
    if (linking) {
      patch.isAnonymous = false;
      changes.push('linked');
      // As at signup: a default role deleted since it was configured is skipped, not a failure.
      const role = config.default_role ? await findRole(ctx, config.default_role) : undefined;
      if (role) await setPrimaryRole(ctx, current.id, role);
      invalidateIdentity(ctx);
    }
    const row = changes.length ? await updateUserRow(ctx, current.id, patch, changes) : current;
    if (patch.email) await sendVerification(ctx, config, flow, row, redirectTo);
    if (emailChangePending && email) {
      const token = await issueLinkToken(ctx, { purpose: 'email_change', audience: current.audience, userId: current.id, target: email, redirectTo });
      const url = new URL(flow.verifyUrl);
      url.searchParams.set('token', token);
      url.searchParams.set('type', 'email_change');
      await sendAuthMail(ctx, config, 'verification', email, { link: url.toString(), token, expires_minutes: TOKEN_TTL_MINUTES.email_change });
    }
    if (passwordHash) await revokeUserSessions(ctx, current.id, 'password_changed', principal.sessionId);
    return { ...(await toUserDto(ctx, row)), ...(emailChangePending ? { new_email_pending: email } : {}) };
  });
}

const EXPORT_EVERY_MS = 3_600_000;

/** Everything identity keeps about the caller (GDPR art. 15/20), at most once an hour. */
export async function exportMe(ctx: TenantContext, principal: UserPrincipal, sources: ((ctx: TenantContext, userId: string) => Promise<Record<string, unknown>>)[] = []) {
  const claimKey = `user-export:${ctx.tenantId}:${principal.id}`;
  if (!(await ctx.kernel.kv.setIfAbsent(claimKey, new Date().toISOString(), EXPORT_EVERY_MS))) {
    const since = await ctx.kernel.kv.get(claimKey);
    const wait = since ? Math.max(1, Math.ceil((new Date(since).getTime() + EXPORT_EVERY_MS - Date.now()) / 1000)) : 3600;
    throw new ApiError('RATE_LIMITED', 'Your data can be exported once per hour', { headers: { 'Retry-After': String(wait) } });
  }
  const user = await getUser(ctx, principal.id);
  const allSessions = await ctx.db
    .select()
    .from(sessions)
    .where(and(eq(sessions.tenantId, ctx.tenantId), eq(sessions.userId, user.id)))
    .orderBy(desc(sessions.createdAt));
  const identities = await ctx.db
    .select()
    .from(userIdentities)
    .where(and(eq(userIdentities.tenantId, ctx.tenantId), eq(userIdentities.userId, user.id)));
  const activity = await ctx.db
    .select()
    .from(auditLogs)
    .where(and(eq(auditLogs.tenantId, ctx.tenantId), eq(auditLogs.actorId, user.id)))
    .orderBy(desc(auditLogs.createdAt))
    .limit(1000);
  const extra: Record<string, unknown> = {};
  for (const source of sources) Object.assign(extra, await source(ctx, user.id));
  await ctx.audit({ action: 'user.exported', resourceType: 'user', resourceId: user.id });
  return {
    _meta: { user_id: user.id, tenant_id: ctx.tenantId, export_type: 'user_data_export' as const, exported_at: new Date().toISOString() },
    profile: await toUserDto(ctx, user),
    roles: (await listUserRoles(ctx, user.id)).map((r) => ({ id: r.id, name: r.name, primary: r.primary })),
    sessions: allSessions.map((s) => ({ ...sessionDto(s, principal.sessionId), revoked_at: s.revokedAt?.toISOString() ?? null })),
    mfa_factors: await listFactors(ctx, user.id),
    passkeys: await listPasskeys(ctx, user.id),
    identities: identities.map((i) => ({ provider: i.provider, subject: i.subject, email: i.email, created_at: i.createdAt.toISOString() })),
    activity: activity.map((a) => ({ action: a.action, resource_type: a.resourceType, resource_id: a.resourceId, ip: a.ip, at: a.createdAt.toISOString() })),
    ...extra,
  };
}

/**
 * Changes the caller's password, always proving the current one (unlike updateMe, which waives it
 * right after a sign-in); every other session of the user ends.
 */
export async function changePassword(flow: FlowContext, principal: UserPrincipal, input: { current_password: string; new_password: string }) {
  const { policy, user } = await flow.work(async (ctx) => ({ policy: await passwordPolicy(ctx, await getAuthConfig(ctx)), user: await getUser(ctx, principal.id) }));
  const { ok } = await verifyPassword(flow.kernel.config, user.passwordHash, input.current_password);
  if (!ok) throw new ApiError('BAD_REQUEST', 'The current password is incorrect', { details: { field: 'current_password' } });
  checkPassword(input.new_password, policy, user.email);
  const passwordHash = await hashPassword(flow.kernel.config, input.new_password);
  return flow.work(async (ctx) => {
    await updateUserRow(ctx, principal.id, { passwordHash, passwordChangedAt: new Date() }, ['password']);
    const revoked = await revokeUserSessions(ctx, principal.id, 'password_changed', principal.sessionId);
    return { sessions_revoked: revoked };
  });
}
