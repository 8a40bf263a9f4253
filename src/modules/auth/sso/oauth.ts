import { createHash, randomBytes } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { ApiError } from '../../../core/http/errors.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { OutboundBlockedError, outboundFetch, OutboundFailedError, type OutboundFetchInit } from '../../../core/net/outbound.ts';
import type { OAuthProvider } from '../config/service.ts';

/**
 * Generic OAuth 2.0 / OpenID Connect sign-in: authorization code with state, PKCE (S256) and, for
 * OIDC, a nonce. Written on fetch rather than openid-client because that library insists on an OIDC
 * issuer and a `sub` in userinfo, which plain OAuth 2.0 providers (GitHub and the like) do not give;
 * the parts where mistakes are security bugs use vetted code: node:crypto for the randomness and the
 * PKCE hash, jose for the id_token signature and claims.
 *
 * Every call to the provider (token, userinfo, JWKS) goes through core/net/outbound.ts: the URLs are a
 * tenant admin's, so they must not reach the server's network, redirects are not followed, and what the
 * provider answered (or that it could not be reached) is logged, never put in the response: an error
 * body or a refused connection would otherwise turn sign-in into a probe of internal services.
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

/** The one answer for every failed call to the provider: blocked, unreachable, timed out, non-2xx or not JSON. */
const PROVIDER_FAILED = 'the provider did not complete the sign-in; the server log has the details';
/** The largest answer read from a provider (a JWKS with many keys is a few tens of KB). */
const MAX_PROVIDER_ANSWER = 256 * 1024;

type Step = 'token' | 'userinfo' | 'jwks';

async function callProvider(kernel: Kernel, step: Step, url: string, init: OutboundFetchInit): Promise<Record<string, unknown>> {
  const fail = (detail: string, error?: unknown): never => {
    kernel.log.warn({ err: error, step, url, detail }, 'oauth provider call failed');
    throw providerError(PROVIDER_FAILED);
  };
  let res;
  try {
    res = await outboundFetch(url, { ...init, timeoutMs: kernel.config.OUTBOUND_TIMEOUT_MS, maxResponseBytes: MAX_PROVIDER_ANSWER }, kernel.outbound);
  } catch (error) {
    if (error instanceof OutboundBlockedError || error instanceof OutboundFailedError) return fail(error.message, error);
    throw error;
  }
  if (!res.ok) return fail(`answered ${res.status}: ${res.text.slice(0, 500)}`);
  let body: unknown = null;
  const type = String(res.headers['content-type'] ?? '');
  try {
    // Some providers answer the token request form-encoded; anything else must be JSON.
    body = type.includes('application/x-www-form-urlencoded') ? Object.fromEntries(new URLSearchParams(res.text)) : JSON.parse(res.text);
  } catch {
    // not JSON: refused below like any other unusable answer
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail(`answered ${res.status} with ${type || 'no content type'}, not a JSON object`);
  return body as Record<string, unknown>;
}

export interface OAuthProfile {
  subject: string;
  email: string | null;
  emailVerified: boolean;
  raw: Record<string, unknown>;
}

/** Exchanges the code (with the PKCE verifier) and reads who signed in: a verified id_token, else userinfo. */
export async function exchangeCode(kernel: Kernel, provider: OAuthProvider, state: OAuthState, code: string): Promise<OAuthProfile> {
  const form = new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: state.redirectUri,
    client_id: provider.client_id,
    code_verifier: state.codeVerifier,
  });
  if (provider.client_secret) form.set('client_secret', provider.client_secret);
  const tokens = await callProvider(kernel, 'token', provider.token_url, { method: 'POST', headers: { accept: 'application/json' }, form });
  if (typeof tokens.access_token !== 'string' && typeof tokens.id_token !== 'string') {
    kernel.log.warn({ step: 'token', url: provider.token_url }, 'oauth token endpoint answered no access_token or id_token');
    throw providerError(PROVIDER_FAILED);
  }
  let claims: Record<string, unknown> = {};
  if (typeof tokens.id_token === 'string' && provider.jwks_uri) {
    // Fetched through the guard and handed to jose as a local set: jose's remote fetch would bypass it.
    const jwks = await callProvider(kernel, 'jwks', provider.jwks_uri, { headers: { accept: 'application/json' } });
    let keys: ReturnType<typeof createLocalJWKSet>;
    try {
      keys = createLocalJWKSet(jwks as unknown as JSONWebKeySet);
    } catch (error) {
      kernel.log.warn({ err: error, step: 'jwks', url: provider.jwks_uri }, 'oauth provider answered an unusable JWKS');
      throw providerError(PROVIDER_FAILED);
    }
    try {
      const { payload } = await jwtVerify(tokens.id_token, keys, {
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
    const info = await callProvider(kernel, 'userinfo', provider.userinfo_url, { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } });
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
