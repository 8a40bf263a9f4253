import { ipInAllowlist } from '../../../core/auth/ip.ts';
import type { TenantContext } from '../../../core/context.ts';
import type { Db } from '../../../core/db/client.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { loadGovernance } from '../../governance/index.ts';
import type { Audience } from '../tables.ts';
import type { AuthConfig } from './service.ts';

/**
 * What tenant governance asks of identity, and where identity enforces it.
 *
 * - password_min_length: wherever a password is set (signup, reset, PATCH /v1/auth/user, admin
 *   create/update), the larger of it and the auth config's password_policy.min_length. Signing in with
 *   an older, shorter password still works: rules apply when a password is chosen (NIST 800-63B).
 * - session_duration_secs: a cap, not a lifetime. The auth config sets the normal lifetimes
 *   (access_token_ttl, refresh_token_ttl idle, session_ttl absolute); governance bounds the absolute one.
 *   A session ends at min(expires_at, created_at + session_duration_secs), computed when it is used,
 *   so lowering the cap also ends sessions already running. New sessions store the capped expiry, and
 *   refresh tokens never outlive it. Access tokens keep their exp, but the resolver refuses them once
 *   their session has ended.
 * - ip_allowlist: app users may sign in (every path that starts a session or hands out an MFA ticket),
 *   refresh, and use access tokens only from these ranges. Portal identities are exempt: they are the
 *   tenant's customers, signing in from their own networks, and a workforce allowlist would lock them
 *   all out of the portal. Password reset and email verification start no session and stay open.
 *
 * Identity reads governance in the transaction of each sign-in or refresh, and in the resolver's
 * session state, which is cached; governance publishes the tenant on IDENTITY_INVALIDATE_CHANNEL when it
 * changes, so every process drops that state and the next request sees the new rules.
 */
export interface IdentityGovernance {
  passwordMinLength: number;
  sessionDurationMs: number;
  ipAllowlist: readonly string[];
}

export async function loadIdentityGovernance(db: Db, tenantId: string): Promise<IdentityGovernance> {
  const g = await loadGovernance(db, tenantId);
  return { passwordMinLength: g.password_min_length, sessionDurationMs: g.session_duration_secs * 1000, ipAllowlist: g.ip_allowlist };
}

export const identityGovernance = (ctx: TenantContext) => loadIdentityGovernance(ctx.db, ctx.tenantId);

/** The auth config's password policy, raised to governance's minimum length. */
export function passwordPolicyOf(config: AuthConfig, governance: IdentityGovernance): AuthConfig['password_policy'] {
  return { ...config.password_policy, min_length: Math.max(config.password_policy.min_length, governance.passwordMinLength) };
}

/** The password policy in force for the context's tenant. */
export async function passwordPolicy(ctx: TenantContext, config: AuthConfig): Promise<AuthConfig['password_policy']> {
  return passwordPolicyOf(config, await identityGovernance(ctx));
}

/** When a session ends: its stored expiry, or earlier under the governance cap. Milliseconds. */
export function sessionDeadline(session: { createdAt: Date; expiresAt: Date }, governance: IdentityGovernance): number {
  return Math.min(session.expiresAt.getTime(), session.createdAt.getTime() + governance.sessionDurationMs);
}

/** The ranges a user of this audience may come from (empty: anywhere). */
export function ipAllowlistOf(audience: Audience, governance: IdentityGovernance): readonly string[] {
  return audience === 'app' ? governance.ipAllowlist : [];
}

/** Refuses a session of this audience from `ip` outside the allowlist, as the kernel refuses an API key's request. */
export function checkSessionIp(ip: string | undefined, audience: Audience, governance: IdentityGovernance): void {
  const allowlist = ipAllowlistOf(audience, governance);
  if (allowlist.length > 0 && !ipInAllowlist(ip, allowlist)) {
    throw new ApiError('IP_NOT_ALLOWED', `Sign-ins from ${ip ?? 'an unknown address'} are not allowed for this tenant's users`);
  }
}

/** Loads governance and refuses a session from the context's address; answers the governance for further use. */
export async function gateSession(ctx: TenantContext, audience: Audience): Promise<IdentityGovernance> {
  const governance = await identityGovernance(ctx);
  checkSessionIp(ctx.ip, audience, governance);
  return governance;
}
