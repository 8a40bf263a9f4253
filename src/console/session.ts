// Who is signed in, and the SDK client that calls the API as them. Credentials live in sessionStorage:
// they go when the tab closes, and never leave this origin.
import { PlinthClient } from '../../sdk/platform/index.ts';

export type Scope = 'read' | 'write' | 'schema' | 'files' | 'auth' | 'ai' | '*';

export interface TenantRef {
  id: string;
  name: string;
}

export interface Session {
  /** How the caller signed in. `admin`: the system admin key, acting in a tenant through one of that tenant's keys. */
  kind: 'key' | 'user' | 'admin';
  /** The bearer credential for tenant routes (an API key or a user's access token); absent for an admin with no tenant open. */
  token?: string;
  /** What the console believes the caller may do; the server decides anyway. */
  scopes: Scope[];
  /** Shown in the app bar. */
  label: string;
  tenant?: TenantRef;
  /** User sign-in: to refresh the access token. */
  refreshToken?: string;
  expiresAt?: number;
  publishableKey?: string;
  /** Admin: the system key, and the tenant keys this console holds (created here or pasted). */
  adminKey?: string;
  tenantKeys?: Record<string, { token: string; name: string }>;
}

const STORAGE_KEY = 'plinth.console.session';

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

const CHANGED = 'plinth-session-changed';

export function saveSession(session: Session | null): void {
  const signedIn = Boolean(loadSession());
  if (session) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(STORAGE_KEY);
  // Signing in or out swaps the whole app (login page or admin); a refreshed token does not.
  if (signedIn !== Boolean(session)) window.dispatchEvent(new Event(CHANGED));
}

/** Calls `listener` when someone signs in or out; answers the unsubscriber. */
export function onSignInOrOut(listener: () => void): () => void {
  window.addEventListener(CHANGED, listener);
  return () => window.removeEventListener(CHANGED, listener);
}

export const baseUrl = () => window.location.origin;

/** An SDK client with the given bearer token (or the session's tenant credential). */
export function clientWith(token: string, fetchImpl?: typeof fetch): PlinthClient {
  return new PlinthClient({ baseUrl: baseUrl(), token, fetch: fetchImpl ?? ((...args) => fetch(...args)) });
}

/** The API error as a person reads it: `{ error: { code, message } }` from the envelope, or what fetch said. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiFailure) return error.message;
  const body = (error as { error?: unknown })?.error as { error?: { code?: string; message?: string }; detail?: unknown } | undefined;
  if (body?.error?.message) return `${body.error.message}${body.error.code ? ` (${body.error.code})` : ''}`;
  // The agent service's errors: `{ detail: "..." }` or `{ detail: [{ loc, msg }] }`.
  if (typeof body?.detail === 'string') return body.detail;
  if (Array.isArray(body?.detail)) return (body.detail as { loc?: unknown[]; msg?: string }[]).map((d) => `${(d.loc ?? []).join('.')}: ${d.msg}`).join('; ');
  const status = (error as { status?: number })?.status;
  if (typeof status === 'number') return `The server answered ${status} ${(error as { statusText?: string }).statusText ?? ''}`.trim();
  if (error instanceof Error) return error.message;
  return String(error);
}

export function errorStatus(error: unknown): number | undefined {
  const status = (error as { status?: number })?.status;
  return typeof status === 'number' ? status : undefined;
}

/** An Error carrying the API's message and status, as react-admin's notifications and error pages expect. */
export class ApiFailure extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

export function toFailure(error: unknown): ApiFailure {
  if (error instanceof ApiFailure) return error;
  const body = (error as { error?: { error?: { code?: string } } })?.error;
  return new ApiFailure(errorMessage(error), errorStatus(error), body?.error?.code, body);
}

let refreshing: Promise<void> | undefined;

/** A user's access token is renewed shortly before it expires, once for every caller waiting. */
export async function freshToken(session: Session): Promise<string> {
  if (session.kind === 'user' && session.refreshToken && session.publishableKey && session.expiresAt && Date.now() > session.expiresAt - 30_000) {
    refreshing ??= (async () => {
      try {
        const res = await clientWith(session.publishableKey!).auth.authRefreshCreate({ refresh_token: session.refreshToken! });
        const data = res.data.data;
        saveSession({ ...session, token: data.access_token, refreshToken: data.refresh_token, expiresAt: data.expires_at * 1000 });
      } finally {
        refreshing = undefined;
      }
    })();
    await refreshing;
    return loadSession()?.token ?? '';
  }
  return session.token ?? '';
}

/**
 * Calls the API through the SDK as the signed-in caller and answers the envelope's `data`; a failure
 * becomes an ApiFailure with the server's message.
 */
export async function api<T>(call: (client: PlinthClient) => Promise<{ data: { data: T } }>, fetchImpl?: typeof fetch): Promise<T> {
  const session = loadSession();
  if (!session?.token) throw new ApiFailure(session?.kind === 'admin' ? 'Open a tenant first (Tenants).' : 'Not signed in', 401);
  try {
    const res = await call(clientWith(await freshToken(session), fetchImpl));
    return res.data.data;
  } catch (error) {
    throw toFailure(error);
  }
}

/** As `api`, answering the SDK's whole answer (`data` is the parsed body, or a Blob with `{ format: 'blob' }`). */
export async function apiRaw<T>(call: (client: PlinthClient) => Promise<T>): Promise<T> {
  const session = loadSession();
  if (!session?.token) throw new ApiFailure('Not signed in', 401);
  try {
    return await call(clientWith(await freshToken(session)));
  } catch (error) {
    throw toFailure(error);
  }
}

/** As `api`, with the system admin key. */
export async function adminApi<T>(call: (client: PlinthClient) => Promise<{ data: { data: T } }>): Promise<T> {
  const session = loadSession();
  if (!session?.adminKey) throw new ApiFailure('Sign in with the system admin key for this', 403);
  try {
    return (await call(clientWith(session.adminKey))).data.data;
  } catch (error) {
    throw toFailure(error);
  }
}

export function can(scope: Scope): boolean {
  const scopes = loadSession()?.scopes ?? [];
  return scopes.includes('*') || scopes.includes(scope);
}

