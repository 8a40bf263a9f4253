import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { branding, type BrandingRow } from '../tables.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { forgetHost, verifiedElsewhere } from './domains.ts';
import { CssSyntaxError, sanitizeCss, type CssRemoval } from './css.ts';

/**
 * The tenant's branding: shown by public forms and shared dashboards. `custom_domain` gets a
 * verification token (a DNS TXT record `_plinth-verify.<domain>` is to hold it); the domain is not
 * trusted for anything until verified. `custom_css` is sanitised (./css.ts): what could load or run
 * something is removed and reported; CSS that does not parse, or holds markup, is refused (400).
 */

export interface BrandingInput {
  custom_domain?: string | null;
  logo_url?: string | null;
  favicon_url?: string | null;
  primary_color?: string | null;
  brand_name?: string | null;
  footer_text?: string | null;
  custom_css?: string | null;
}

const EMPTY: Omit<BrandingRow, 'tenantId'> = {
  brandName: null,
  logoUrl: null,
  faviconUrl: null,
  primaryColor: null,
  footerText: null,
  customCss: null,
  customDomain: null,
  domainVerificationToken: null,
  domainVerifiedAt: null,
  updatedAt: new Date(0),
};

export function brandingDto(b: Omit<BrandingRow, 'tenantId'>, touched: boolean) {
  return {
    brand_name: b.brandName,
    logo_url: b.logoUrl,
    favicon_url: b.faviconUrl,
    primary_color: b.primaryColor,
    footer_text: b.footerText,
    custom_css: b.customCss,
    custom_domain: b.customDomain,
    domain_verification: b.customDomain
      ? { record_type: 'TXT' as const, name: `_plinth-verify.${b.customDomain}`, value: b.domainVerificationToken, verified: b.domainVerifiedAt !== null }
      : null,
    updated_at: touched ? b.updatedAt.toISOString() : null,
  };
}

export async function getBranding(ctx: TenantContext) {
  const [row] = await ctx.db.select().from(branding).where(eq(branding.tenantId, ctx.tenantId));
  return brandingDto(row ?? EMPTY, row !== undefined);
}

const invalid = (field: string, message: string) =>
  new ApiError('VALIDATION_ERROR', `${field}: ${message}`, { details: { issues: [{ field, location: 'body', message }] } });

/** Before the tenant's transaction (the lookup crosses tenants): a domain another tenant verified cannot be claimed. */
export async function assertDomainClaimable(kernel: Kernel, tenantId: string, domain: string | null | undefined): Promise<void> {
  if (domain && (await verifiedElsewhere(kernel, tenantId, domain.toLowerCase()))) {
    throw new ApiError('ALREADY_EXISTS', 'custom_domain: this domain is verified by another tenant', {
      details: { issues: [{ field: 'custom_domain', location: 'body', message: 'verified by another tenant' }] },
    });
  }
}

export async function updateBranding(ctx: TenantContext, kernel: Kernel, input: BrandingInput) {
  let cssRemoved: CssRemoval[] = [];
  if (input.custom_css) {
    try {
      const clean = sanitizeCss(input.custom_css);
      input = { ...input, custom_css: clean.css || null };
      cssRemoved = clean.removed;
    } catch (error) {
      if (error instanceof CssSyntaxError) throw invalid('custom_css', error.message);
      throw error;
    }
  }
  const [current] = await ctx.db.select().from(branding).where(eq(branding.tenantId, ctx.tenantId));
  const patch: Partial<typeof branding.$inferInsert> = { updatedAt: new Date() };
  if (input.brand_name !== undefined) patch.brandName = input.brand_name;
  if (input.logo_url !== undefined) patch.logoUrl = input.logo_url;
  if (input.favicon_url !== undefined) patch.faviconUrl = input.favicon_url;
  if (input.primary_color !== undefined) patch.primaryColor = input.primary_color;
  if (input.footer_text !== undefined) patch.footerText = input.footer_text;
  if (input.custom_css !== undefined) patch.customCss = input.custom_css;
  if (input.custom_domain !== undefined) {
    const domain = input.custom_domain?.toLowerCase() ?? null;
    if (domain !== (current?.customDomain ?? null)) {
      // A new domain starts unverified with a new token.
      patch.customDomain = domain;
      patch.domainVerificationToken = domain ? `plinth-verify=${randomBytes(18).toString('base64url')}` : null;
      patch.domainVerifiedAt = null;
      if (current?.customDomain) forgetHost(kernel, current.customDomain);
    }
  }
  const [row] = await ctx.db
    .insert(branding)
    .values({ tenantId: ctx.tenantId, ...patch })
    .onConflictDoUpdate({ target: branding.tenantId, set: patch })
    .returning();
  await ctx.emit({ type: 'branding.updated', resourceType: 'branding', resourceId: ctx.tenantId, data: { changes: Object.keys(input) } });
  return { ...brandingDto(row!, true), ...(input.custom_css !== undefined ? { custom_css_removed: cssRemoved } : {}) };
}
