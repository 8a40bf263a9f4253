import type { Kernel } from '../../core/kernel.ts';
import { defineModule } from '../../core/module.ts';
import { loadIdentityGovernance, passwordPolicyOf } from './config/governance.ts';
import { loadAuthConfig, publicAuthConfig, PublicAuthConfigSchema } from './config/service.ts';
import { IDENTITY_EVENTS } from './events.ts';
import { identityRoutes } from './routes.ts';
import { registerServiceAccounts } from './service-accounts/resolver.ts';
import { registerUserAuth } from './sessions/resolver.ts';
import { tenantIdsByEmail } from './users/service.ts';

export { IDENTITY_EVENTS } from './events.ts';
export { requireUser, flowOf, identityWork, publicTenant, publicBaseUrl } from './http.ts';
import { runtime } from './runtime.ts';
/** Loads the signing keys: call before a transaction that signs tokens outside identityWork (tenant creation). */
export const identityReady = (kernel: Kernel) => runtime(kernel).keys.ready();
export type { UserLifecycleHooks } from './users/service.ts';
export { findUser, getUser, toUserDto, type UserDto } from './users/store.ts';
export { adminCreateUser, adminUpdateUser, listUsers, type AdminCreateUserInput, type AdminUpdateUserInput } from './users/service.ts';
export * as flows from './flows/service.ts';
export { tenantOfLinkToken } from './flows/one-time.ts';
export { requireCaptcha, verifyTurnstile } from './flows/captcha.ts';
export { captchaSettings } from './config/service.ts';
export type { FlowContext } from './flows/context.ts';
export { setSmsProvider } from './runtime.ts';
export type { SmsProvider } from './flows/messages.ts';
export { startSession, refreshSession, revokeSession, revokeUserSessions, listSessions, revokeOwnSession, getSession, findSessionOfRefreshToken, REFRESH_PREFIX, type AuthSession } from './sessions/service.ts';
export { changePassword, getMe } from './users/me.ts';
export { tenantOfToken } from './tokens.ts';
export * as serviceAccounts from './service-accounts/service.ts';
export * as signup from './signup/service.ts';
export type { ServiceAccountTokenRow, SignupInviteRow, SignupRequestRow } from './tables.ts';
export { AuthSessionSchema, DeviceToken, Email, MessageSchema, Metadata, Password, Phone, RedirectTo, SignInResultSchema, Turnstile, VerificationRequiredSchema } from './schemas.ts';

/** The `auth` section of GET /v1/tenant-config; its password policy is the one in force (governance included). */
export const authConfigSection = {
  schema: PublicAuthConfigSchema,
  async load(kernel: Kernel, tenant: { id: string }) {
    const { config, governance } = await kernel.db.tenant(tenant.id, async (db) => ({
      config: (await loadAuthConfig(db, tenant.id)).config,
      governance: await loadIdentityGovernance(db, tenant.id),
    }));
    return publicAuthConfig({ ...config, password_policy: passwordPolicyOf(config, governance) });
  },
};

/** Tenants where an email has a portal identity (POST /v1/auth/portal-identify). */
export function portalTenantsByEmail(kernel: Kernel, email: string): Promise<string[]> {
  return tenantIdsByEmail(kernel.db.system, email, 'portal');
}

/** Tenants where an email has a user (POST /v1/tenants/lookup). */
function usersLookupSource(kernel: Kernel, email: string): Promise<string[]> {
  return tenantIdsByEmail(kernel.db.system, email);
}

/** Identity: users, sign-in flows, sessions, MFA, passkeys, SSO and the auth config. */
export const authModule = defineModule({
  name: 'auth',
  events: IDENTITY_EVENTS,
  // Service-account tokens first: they are JWTs too, which the access-token resolver would refuse.
  register: (kernel) => {
    registerServiceAccounts(kernel);
    registerUserAuth(kernel);
  },
  hooks: { tenantConfig: { auth: authConfigSection }, tenantLookup: usersLookupSource },
  // Other modules' records of a user: counted and deleted with them, and part of their GDPR export.
  routes: ({ hooks }) => identityRoutes({ dependencies: hooks.userDependencies, onDelete: hooks.userDeleted, exportSources: hooks.userExport }),
});
