import { randomBytes } from 'node:crypto';
import type { CacheProvider, Profile, SAML } from '@node-saml/node-saml';
import { lazyRequire } from '../../../core/lazy.ts';
import { ApiError } from '../../../core/http/errors.ts';
import type { Kernel } from '../../../core/kernel.ts';
import type { SamlProvider } from '../config/service.ts';

const saml = lazyRequire<typeof import('@node-saml/node-saml')>('@node-saml/node-saml');

const REQUEST_TTL_MS = 10 * 60_000;

/** node-saml's request-id cache on the kernel's store, so the ACS may run in another process than the login. */
function kvCache(kernel: Kernel, tenantId: string): CacheProvider {
  const key = (id: string) => `saml-request:${tenantId}:${id}`;
  return {
    async saveAsync(id, value) {
      const stored = await kernel.kv.setIfAbsent(key(id), value, REQUEST_TTL_MS);
      return stored ? { value, createdAt: Date.now() } : null;
    },
    getAsync: (id) => kernel.kv.get(key(id)),
    async removeAsync(id) {
      return id ? kernel.kv.take(key(id)) : null;
    },
  };
}

export interface SpUrls {
  /** Our entity id (also where the metadata is served). */
  entityId: string;
  acsUrl: string;
}

function pemOf(cert: string): string {
  const trimmed = cert.trim();
  if (trimmed.includes('BEGIN CERTIFICATE')) return trimmed;
  const body = trimmed.replace(/\s+/g, '').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----`;
}

/**
 * The service provider for one tenant's IdP. Assertions must be signed with the configured IdP
 * certificate (signature wrapping is node-saml's/xml-crypto's to catch: only the signed assertion is
 * read), addressed to our entity id, within their validity window (no clock skew allowed), and answer a
 * request we made within 10 minutes, once (unless the provider allows IdP-initiated sign-in).
 */
export function serviceProvider(kernel: Kernel, tenantId: string, provider: SamlProvider, urls: SpUrls): SAML {
  const { SAML, ValidateInResponseTo } = saml();
  return new SAML({
    entryPoint: provider.entry_point,
    issuer: urls.entityId,
    callbackUrl: urls.acsUrl,
    audience: urls.entityId,
    idpCert: pemOf(provider.idp_cert),
    ...(provider.idp_issuer ? { idpIssuer: provider.idp_issuer } : {}),
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: false,
    validateInResponseTo: provider.allow_idp_initiated ? ValidateInResponseTo.ifPresent : ValidateInResponseTo.always,
    requestIdExpirationPeriodMs: REQUEST_TTL_MS,
    acceptedClockSkewMs: 0,
    cacheProvider: kvCache(kernel, tenantId),
    identifierFormat: null,
    disableRequestedAuthnContext: true,
    generateUniqueId: () => `_${randomBytes(20).toString('hex')}`,
  });
}

export async function loginUrl(kernel: Kernel, sp: SAML, tenantId: string, redirectTo: string | null): Promise<string> {
  const relay = randomBytes(24).toString('base64url');
  await kernel.kv.set(`saml-relay:${relay}`, JSON.stringify({ tenantId, redirectTo }), REQUEST_TTL_MS);
  return sp.getAuthorizeUrlAsync(relay, undefined, {});
}

export async function takeRelay(kernel: Kernel, relay: string | undefined, tenantId: string): Promise<string | null> {
  if (!relay || !/^[A-Za-z0-9_-]{32}$/.test(relay)) return null;
  const raw = await kernel.kv.take(`saml-relay:${relay}`);
  if (!raw) return null;
  const state = JSON.parse(raw) as { tenantId: string; redirectTo: string | null };
  return state.tenantId === tenantId ? state.redirectTo : null;
}

export interface SamlIdentity {
  subject: string;
  email: string | null;
  attributes: Record<string, unknown>;
}

/** Validates a posted SAMLResponse; an assertion id is accepted once (a replay within its window fails). */
export async function consumeResponse(kernel: Kernel, sp: SAML, tenantId: string, provider: SamlProvider, form: { SAMLResponse: string; RelayState?: string }): Promise<SamlIdentity> {
  let profile: Profile | null;
  try {
    ({ profile } = await sp.validatePostResponseAsync({ SAMLResponse: form.SAMLResponse, ...(form.RelayState ? { RelayState: form.RelayState } : {}) }));
  } catch (error) {
    throw new ApiError('UNAUTHORIZED', `SAML response rejected: ${(error as Error).message}`);
  }
  if (!profile?.nameID) throw new ApiError('UNAUTHORIZED', 'SAML response rejected: no subject');
  const assertion = profile.getAssertion?.() as { Assertion?: { $?: { ID?: string } } } | undefined;
  const assertionId = assertion?.Assertion?.$?.ID;
  if (!assertionId) throw new ApiError('UNAUTHORIZED', 'SAML response rejected: the assertion has no ID');
  if (!(await kernel.kv.setIfAbsent(`saml-assertion:${tenantId}:${assertionId}`, '1', 24 * 3_600_000))) {
    throw new ApiError('UNAUTHORIZED', 'SAML response rejected: this assertion was already used');
  }
  const attr = (profile as Record<string, unknown>)[provider.email_attribute];
  const fromAttr = Array.isArray(attr) ? attr[0] : attr;
  const candidates = [fromAttr, profile.email, profile.mail, profile.nameID];
  const email = candidates.find((v): v is string => typeof v === 'string' && /^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$/.test(v)) ?? null;
  const attributes = (profile as { attributes?: Record<string, unknown> }).attributes ?? {};
  return { subject: profile.nameID, email, attributes };
}
