import { Resolver } from 'node:dns/promises';
import { and, eq, isNotNull, ne } from 'drizzle-orm';
import type { Context } from 'hono';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { requestHost } from '../../../core/http/headers.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { branding } from '../tables.ts';

/**
 * Custom domains: a tenant proves a domain with a DNS TXT record `_plinth-verify.<domain>` holding its
 * token; once verified, requests sent to that host are the tenant's public pages (forms, shared
 * dashboards, short links). Claiming does not reserve: any tenant may claim a domain, the first to
 * prove it owns it, so nobody can squat a name they cannot put a record in.
 */

/** What a TXT lookup needs; node's resolver in production, pointed at DNS_SERVERS when set. */
export interface TxtResolver {
  resolveTxt(name: string): Promise<string[][]>;
}

const resolvers = new WeakMap<Kernel, TxtResolver>();

function resolverOf(kernel: Kernel): TxtResolver {
  let r = resolvers.get(kernel);
  if (!r) {
    // A lookup that hangs must not hold the request: 2 s per try, 2 tries.
    const resolver = new Resolver({ timeout: 2000, tries: 2 });
    const servers = kernel.config.DNS_SERVERS?.split(',').map((s) => s.trim()).filter(Boolean);
    if (servers?.length) resolver.setServers(servers);
    r = resolver;
    resolvers.set(kernel, r);
  }
  return r;
}

/** DNS answers that mean "no such record" rather than "could not ask". */
const NO_RECORD = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'ENONAME']);

export async function verifyDomain(ctx: TenantContext, kernel: Kernel) {
  const [row] = await ctx.db.select().from(branding).where(eq(branding.tenantId, ctx.tenantId));
  if (!row?.customDomain || !row.domainVerificationToken) throw new ApiError('UNPROCESSABLE', 'No custom_domain is set; set one with PATCH /v1/branding first');
  const name = `_plinth-verify.${row.customDomain}`;
  if (row.domainVerifiedAt) return result(row.customDomain, name, row.domainVerifiedAt, []);
  let found: string[] = [];
  try {
    // A TXT record may come split in 255-byte strings; its value is their concatenation.
    found = (await resolverOf(kernel).resolveTxt(name)).map((parts) => parts.join(''));
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    if (!NO_RECORD.has(code)) throw new ApiError('SERVICE_UNAVAILABLE', `The DNS lookup of ${name} failed (${code || 'error'}); try again later`);
  }
  if (!found.includes(row.domainVerificationToken)) {
    throw new ApiError('UNPROCESSABLE', `No TXT record at ${name} holds the verification token`, {
      details: { record: { type: 'TXT', name, value: row.domainVerificationToken }, found: found.slice(0, 10) },
    });
  }
  const now = new Date();
  try {
    await ctx.db.update(branding).set({ domainVerifiedAt: now, updatedAt: now }).where(eq(branding.tenantId, ctx.tenantId));
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code;
    if (code === '23505') throw new ApiError('ALREADY_EXISTS', `${row.customDomain} is already verified by another tenant`);
    throw error;
  }
  forgetHost(kernel, row.customDomain);
  await ctx.emit({ type: 'branding.domain_verified', resourceType: 'branding', resourceId: ctx.tenantId, data: { custom_domain: row.customDomain } });
  return result(row.customDomain, name, now, found);
}

const result = (domain: string, name: string, at: Date, found: string[]) => ({
  custom_domain: domain,
  record: { type: 'TXT' as const, name },
  verified: true as const,
  verified_at: at.toISOString(),
  found: found.slice(0, 10),
});

/** Another tenant already verified this domain: claiming it is pointless, say so at once. */
export async function verifiedElsewhere(kernel: Kernel, tenantId: string, domain: string): Promise<boolean> {
  const rows = await kernel.db.system
    .select({ t: branding.tenantId })
    .from(branding)
    .where(and(eq(branding.customDomain, domain), isNotNull(branding.domainVerifiedAt), ne(branding.tenantId, tenantId)));
  return rows.length > 0;
}

// ---------------------------------------------------------------- host -> tenant

interface HostEntry {
  tenantId: string | null;
  at: number;
}
/** A minute: a verification shows at once here (forgetHost), on other processes within this. */
const HOST_TTL_MS = 60_000;
const HOST_CACHE_MAX = 10_000;
const hostCaches = new WeakMap<Kernel, Map<string, HostEntry>>();

function hostCache(kernel: Kernel) {
  let m = hostCaches.get(kernel);
  if (!m) hostCaches.set(kernel, (m = new Map()));
  return m;
}

export function forgetHost(kernel: Kernel, host: string) {
  hostCache(kernel).delete(host);
}

/**
 * The tenant whose verified custom domain the request was sent to, or null (any other host: the
 * server's own, localhost, an address). Answers, negative ones too, are kept a minute per process, so
 * a public page costs no extra query; the cache is bounded.
 */
export async function tenantOfHost(kernel: Kernel, c: Context): Promise<string | null> {
  const host = requestHost(c);
  if (!host.includes('.') || host.endsWith('.localhost') || /^[\d.]+$|^\[/.test(host)) return null;
  const cache = hostCache(kernel);
  const hit = cache.get(host);
  if (hit && Date.now() - hit.at < HOST_TTL_MS) return hit.tenantId;
  const [row] = await kernel.db.system
    .select({ tenantId: branding.tenantId })
    .from(branding)
    .where(and(eq(branding.customDomain, host), isNotNull(branding.domainVerifiedAt)));
  if (cache.size >= HOST_CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(host, { tenantId: row?.tenantId ?? null, at: Date.now() });
  return row?.tenantId ?? null;
}
