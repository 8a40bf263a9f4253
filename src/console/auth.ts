// Signing in: an API key (a tenant's, or the system admin key), or a tenant user with email, password
// and a second factor when the server asks for one. Everything goes through the SDK.
import type { AuthProvider } from 'react-admin';
import { clientWith, errorStatus, loadSession, saveSession, toFailure, type Scope, type Session } from './session.ts';

/** The built-in roles' scopes (src/modules/roles/permissions.ts); a custom role is left to the server to judge. */
const ROLE_SCOPES: Record<string, Scope[]> = {
  admin: ['*'],
  member: ['read', 'write', 'files', 'ai'],
  viewer: ['read'],
};

async function succeeds(call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (error) {
    if (errorStatus(error) === 401) throw toFailure(error);
    return false;
  }
}

async function tenantOf(token: string) {
  const config = (await clientWith(token).tenantConfig.tenantConfigList()).data.data;
  return { id: config.tenant_id, name: config.branding?.brand_name || config.name };
}

/** A session for an API key: the system admin key, a full (`*`) key, or a key with fewer scopes. */
export async function signInWithKey(token: string): Promise<Session> {
  const client = clientWith(token);
  try {
    await client.admin.adminTenantsList({ limit: 1 });
    return { kind: 'admin', adminKey: token, scopes: ['*'], label: 'System admin', tenantKeys: {} };
  } catch (error) {
    if (errorStatus(error) !== 401) throw toFailure(error);
  }
  let tenant;
  try {
    tenant = await tenantOf(token);
  } catch (error) {
    throw toFailure(error);
  }
  // A key's scopes are not readable through the API: a key that may list keys holds `*`; for any
  // other, the reads it is allowed are probed and writes are left for the server to refuse.
  if (await succeeds(() => client.keys.keysList())) return { kind: 'key', token, scopes: ['*'], label: `API key · ${tenant.name}`, tenant };
  const scopes: Scope[] = [];
  if (await succeeds(() => client.objectTypes.objectTypesList())) scopes.push('read', 'write');
  if (await succeeds(() => client.files.filesStatsList())) scopes.push('files');
  return { kind: 'key', token, scopes, label: `API key · ${tenant.name}`, tenant };
}

export type UserStep = { done: Session } | { mfa: { ticket: string; factorId: string; userId: string } };

async function userSession(publishableKey: string, tokens: { access_token: string; refresh_token: string; expires_at: number; user: { email?: string | null; role: string } }): Promise<Session> {
  const tenant = await tenantOf(publishableKey);
  return {
    kind: 'user',
    token: tokens.access_token,
    refreshToken: tokens.refresh_token,
    expiresAt: tokens.expires_at * 1000,
    publishableKey,
    scopes: ROLE_SCOPES[tokens.user.role] ?? ['read', 'write'],
    label: `${tokens.user.email ?? 'user'} (${tokens.user.role}) · ${tenant.name}`,
    tenant,
  };
}

/** Email and password through the tenant's publishable key; answers the session or the MFA challenge to complete. */
export async function signInAsUser(publishableKey: string, email: string, password: string): Promise<UserStep> {
  try {
    const data = (await clientWith(publishableKey).auth.authLoginCreate({ email, password })).data.data;
    if ('mfa_required' in data) return { mfa: { ticket: data.mfa_ticket, factorId: data.factors[0]?.id ?? '', userId: data.user_id } };
    return { done: await userSession(publishableKey, data) };
  } catch (error) {
    throw toFailure(error);
  }
}

export async function completeMfa(publishableKey: string, ticket: string, factorId: string, code: string): Promise<Session> {
  try {
    const data = (await clientWith(publishableKey).auth.authMfaCompleteCreate({ mfa_ticket: ticket, factor_id: factorId, code })).data.data;
    return await userSession(publishableKey, data);
  } catch (error) {
    throw toFailure(error);
  }
}

export const authProvider: AuthProvider = {
  // The login page signs in itself (it has more than one step) and hands the session over.
  async login(params: { session: Session }) {
    saveSession(params.session);
  },
  async logout() {
    const session = loadSession();
    if (session?.kind === 'user' && session.token) {
      await clientWith(session.token).auth.authLogoutCreate({}).catch(() => {});
    }
    saveSession(null);
  },
  async checkAuth() {
    if (!loadSession()) throw new Error('Sign in');
  },
  async checkError(error: { status?: number }) {
    // A revoked key or an expired session: back to the sign-in page. 403 is a missing scope, shown where it happened.
    if (error?.status === 401 && loadSession()?.token) {
      saveSession(null);
      throw new Error('Your credential is no longer valid; sign in again');
    }
  },
  async getPermissions() {
    return loadSession()?.scopes ?? [];
  },
  async getIdentity() {
    const session = loadSession();
    return { id: session?.label ?? '', fullName: session ? `${session.label}${session.kind === 'admin' && session.tenant ? ` · ${session.tenant.name}` : ''}` : '' };
  },
};
