// Signing in: an API key (a tenant's, or the system admin key), or a tenant user with email, password
// and a second factor when the server asks for one. Everything goes through the SDK.
import type { AuthProvider } from 'react-admin';
import type { PlinthClient } from '../../sdk/platform/index.ts';
import { clientWith, errorStatus, loadSession, saveSession, toFailure, type Scope, type Session } from './session.ts';

/** Whether the credential holds the scope a call needs: anything but 403 (a 400 for a probe's empty body is a yes). */
async function holds(call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (error) {
    if (errorStatus(error) === 401) throw toFailure(error);
    return errorStatus(error) !== 403;
  }
}

async function tenantOf(token: string) {
  const config = (await clientWith(token).tenantConfig.tenantConfigList()).data.data;
  return { id: config.tenant_id, name: config.branding?.brand_name || config.name };
}

/** A session for an API key: the system admin key, a full (`*`) key, or a key with fewer scopes. */
export async function signInWithKey(token: string): Promise<Session> {
  const client = clientWith(token);
  // A tenant's key names its tenant; the system admin key names none (400 here), and is tried on an
  // admin route only then, so that a tenant key never counts as a failed credential.
  let tenant;
  try {
    tenant = await tenantOf(token);
  } catch (error) {
    if (errorStatus(error) !== 400) throw toFailure(error);
    try {
      await client.admin.adminTenantsList({ limit: 1 });
    } catch (adminError) {
      throw toFailure(adminError);
    }
    return { kind: 'admin', adminKey: token, scopes: ['*'], label: 'System admin', tenantKeys: {} };
  }
  return { kind: 'key', token, scopes: await scopesOf(client), label: `API key · ${tenant.name}`, tenant };
}

/**
 * What a credential may do. Neither a key's scopes nor a user's permissions are readable through the
 * API; the server checks the scope before the body, so a write with an empty (invalid) body answers
 * 403 without the scope and 400 with it, and changes nothing either way.
 */
async function scopesOf(client: PlinthClient): Promise<Scope[]> {
  if (await holds(() => client.keys.keysList())) return ['*'];
  const probes: [Scope, () => Promise<unknown>][] = [
    ['read', () => client.objectTypes.objectTypesList()],
    ['write', () => client.objects.objectsBatchCreateCreate({ objectTypeId: 'scope_probe' } as never, {} as never)],
    ['schema', () => client.objectTypes.objectTypesCreate({} as never)],
    ['files', () => client.files.filesBatchReadCreate({} as never)],
    ['ai', () => client.ai.aiEmbeddingsCreate({} as never)],
    ['auth', () => client.auth.authLoginCreate({} as never)],
  ];
  const held = await Promise.all(probes.map(([, probe]) => holds(probe)));
  return probes.filter((_, i) => held[i]).map(([scope]) => scope);
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
    scopes: await scopesOf(clientWith(tokens.access_token)),
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
  // The sign-in page lives outside react-admin (App shows it while nobody is signed in): redirecting to
  // a login route inside react-admin looped through history.pushState for seconds on a first load
  // (react-admin with react-router 7). So login only stores, and logout redirects nowhere: clearing
  // the session swaps the app for the sign-in page.
  async login(params: { session: Session }) {
    saveSession(params.session);
  },
  async logout() {
    const session = loadSession();
    if (session?.kind === 'user' && session.token) {
      await clientWith(session.token).auth.authLogoutCreate({}).catch(() => {});
    }
    saveSession(null);
    return false;
  },
  async checkAuth() {
    if (!loadSession()) throw { message: false, redirectTo: false };
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
