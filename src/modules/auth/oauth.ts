import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { Kernel } from '../../core/kernel.ts';
import { ApiError } from '../../core/http/errors.ts';
import type { OAuthProvider } from './auth-config.ts';

/**
 * Generic OAuth 2.0 / OpenID Connect sign-in: authorization code with state, PKCE (S256) and, for
 * OIDC, a nonce. Written on fetch rather than openid-client because that library insists on an OIDC
 * issuer and a `sub` in userinfo, which plain OAuth 2.0 providers (GitHub and the like) do not give;
 * the parts where mistakes are security bugs use vetted code: node:crypto for the randomness and the
 * PKCE hash, jose for the id_token signature and claims.
 */

const STATE_TTL_MS = 10 * 60_000;

export interface OAuthState {
  tenantId: string;
  provider: string;
  codeVerifier: string;
  nonce: string;
  redirectTo: string | null;
  redirectUri: string;
}

const b64url = (buf: Buffer) => buf.toString('base64url');

export async function authorizationUrl(kernel: Kernel, provider: OAuthProvider, input: { tenantId: string; redirectTo: string | null; redirectUri: string }) {
  const state = b64url(randomBytes(32));
  const codeVerifier = b64url(randomBytes(32));
  const nonce = b64url(randomBytes(16));
  const saved: OAuthState = { tenantId: input.tenantId, provider: provider.name, codeVerifier, nonce, redirectTo: input.redirectTo, redirectUri: input.redirectUri };
  await kernel.kv.set(`oauth-state:${state}`, JSON.stringify(saved), STATE_TTL_MS);
  const url = new URL(provider.authorization_url);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', provider.client_id);
  url.searchParams.set('redirect_uri', input.redirectUri);
  url.searchParams.set('scope', provider.scopes.join(' '));
  url.searchParams.set('state', state);
  url.searchParams.set('code_challenge', b64url(createHash('sha256').update(codeVerifier).digest()));
  url.searchParams.set('code_challenge_method', 'S256');
  if (provider.scopes.includes('openid')) url.searchParams.set('nonce', nonce);
  return url.toString();
}

/** The state is single-use: taking it makes a replayed callback fail. */
export async function takeState(kernel: Kernel, state: string): Promise<OAuthState | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(state)) return null;
  const raw = await kernel.kv.take(`oauth-state:${state}`);
  return raw ? (JSON.parse(raw) as OAuthState) : null;
}

function providerError(message: string): ApiError {
  return new ApiError('UNAUTHORIZED', `OAuth sign-in failed: ${message}`);
}

async function fetchJson(url: string, init: RequestInit): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    throw providerError(`the provider could not be reached (${(error as Error).message})`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = Object.fromEntries(new URLSearchParams(text)); // some providers answer form-encoded
  }
  if (!res.ok || typeof body !== 'object' || body === null) {
    const detail = (body as { error_description?: string; error?: string } | null)?.error_description ?? (body as { error?: string } | null)?.error;
    throw providerError(`the provider answered ${res.status}${detail ? ` (${String(detail).slice(0, 200)})` : ''}`);
  }
  return body as Record<string, unknown>;
}

export interface OAuthProfile {
  subject: string;
  email: string | null;
  emailVerified: boolean;
  raw: Record<string, unknown>;
}

/** Exchanges the code (with the PKCE verifier) and reads who signed in: a verified id_token, else userinfo. */
export async function exchangeCode(provider: OAuthProvider, state: OAuthState, code: string): Promise<OAuthProfile> {
  const form = new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: state.redirectUri,
    client_id: provider.client_id,
    code_verifier: state.codeVerifier,
  });
  if (provider.client_secret) form.set('client_secret', provider.client_secret);
  const tokens = await fetchJson(provider.token_url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: form,
  });
  let claims: Record<string, unknown> = {};
  if (typeof tokens.id_token === 'string' && provider.jwks_uri) {
    try {
      const { payload } = await jwtVerify(tokens.id_token, createRemoteJWKSet(new URL(provider.jwks_uri)), {
        audience: provider.client_id,
        ...(provider.issuer ? { issuer: provider.issuer } : {}),
      });
      if (payload.nonce !== state.nonce) throw new Error('nonce mismatch');
      claims = payload as Record<string, unknown>;
    } catch (error) {
      throw providerError(`the id_token is not valid (${(error as Error).message})`);
    }
  }
  if (provider.userinfo_url && typeof tokens.access_token === 'string') {
    const info = await fetchJson(provider.userinfo_url, { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } });
    if (claims.sub !== undefined && info.sub !== undefined && info.sub !== claims.sub) throw providerError('userinfo belongs to another subject');
    claims = { ...info, ...claims };
  }
  const subject = claims.sub ?? claims.id ?? claims.user_id;
  if (subject === undefined || subject === null || String(subject).length === 0) throw providerError('the provider named no subject (sub or id)');
  const email = typeof claims.email === 'string' ? claims.email : null;
  const verifiedClaim = claims.email_verified;
  const emailVerified = Boolean(email) && (verifiedClaim === undefined ? provider.trust_email : verifiedClaim === true || verifiedClaim === 'true');
  return { subject: String(subject), email, emailVerified, raw: claims };
}
