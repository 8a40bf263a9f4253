import type { Kernel } from '../../core/kernel.ts';
import { loadAuthConfig, publicAuthConfig } from './auth-config.ts';
import { loadIdentityGovernance, passwordPolicyOf } from './governance.ts';
import { registerUserAuth } from './resolver.ts';
import { tenantIdsByEmail } from './users.ts';

export { IDENTITY_EVENTS } from './events.ts';
export { authRoutes, type AuthRoutesOptions } from './routes.ts';
export { mfaRoutes } from './mfa-routes.ts';
export { sessionRoutes } from './session-routes.ts';
export { passkeyRoutes } from './passkey-routes.ts';
export { ssoRoutes } from './sso-routes.ts';
export { usersRoutes } from './users-routes.ts';
export { authConfigRoutes } from './config-routes.ts';
export { registerUserAuth } from './resolver.ts';
export { requireUser, flowOf, identityWork, publicTenant } from './http.ts';
export type { UserLifecycleHooks } from './users.ts';
export { findUser, getUser, toUserDto } from './users.ts';
export * as flows from './flows.ts';
export { tenantOfLinkToken } from './one-time.ts';
export { setSmsProvider } from './runtime.ts';
export type { SmsProvider } from './messages.ts';
export { AuthSessionSchema, DeviceToken, Email, MessageSchema, Metadata, Password, Phone, RedirectTo, SignInResultSchema, Turnstile, VerificationRequiredSchema } from './schemas.ts';

/** The `auth` section of GET /v1/tenant-config; its password policy is the one in force (governance included). */
export async function authConfigSection(kernel: Kernel, tenant: { id: string }) {
  const { config, governance } = await kernel.db.tenant(tenant.id, async (db) => ({
    config: (await loadAuthConfig(db, tenant.id)).config,
    governance: await loadIdentityGovernance(db, tenant.id),
  }));
  return publicAuthConfig({ ...config, password_policy: passwordPolicyOf(config, governance) });
}

/** Tenants where an email has a portal identity (POST /v1/auth/portal-identify). */
export function portalTenantsByEmail(kernel: Kernel, email: string): Promise<string[]> {
  return tenantIdsByEmail(kernel.db.system, email, 'portal');
}

/** Tenants where an email has a user (POST /v1/tenants/lookup). */
export function usersLookupSource(kernel: Kernel, email: string): Promise<string[]> {
  return tenantIdsByEmail(kernel.db.system, email);
}

export function registerIdentity(kernel: Kernel): void {
  registerUserAuth(kernel);
}
