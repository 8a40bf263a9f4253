import { z } from '@hono/zod-openapi';
import { isTenantPrincipal } from '../../../core/auth/guard.ts';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { createRouter, defineRoute, errorResponse } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { verifyDomain } from './domains.ts';
import { assertDomainClaimable, getBranding, updateBranding } from './service.ts';

const TAGS = ['Branding'];
const HttpsUrl = z
  .string()
  .max(2048)
  .url()
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http(s) URL');
// Linear: labels of letters, digits and inner hyphens, dot-separated, a letter TLD.
const Domain = z
  .string()
  .max(253)
  .regex(/^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.[A-Za-z]{2,63}$/, 'must be a domain name such as forms.example.com')
  .openapi({ example: 'forms.example.com' });

const BrandingSchema = z
  .object({
    brand_name: z.string().nullable(),
    logo_url: z.string().nullable(),
    favicon_url: z.string().nullable(),
    primary_color: z.string().nullable(),
    footer_text: z.string().nullable(),
    custom_css: z.string().nullable(),
    custom_domain: z.string().nullable(),
    domain_verification: z
      .object({ record_type: z.literal('TXT'), name: z.string(), value: z.string().nullable(), verified: z.boolean() })
      .nullable()
      .openapi({ description: 'The DNS TXT record that proves the domain is the tenant\'s' }),
    updated_at: IsoDate.nullable(),
  })
  .openapi('BrandingSettings');

const get = defineRoute({ kind: 'tenant', scope: 'read' }, {
  method: 'get',
  path: '/v1/branding',
  tags: TAGS,
  summary: 'Get branding settings',
  description: 'Logo, colours, name, footer, CSS and custom domain: public forms and shared dashboards show them. All null until set.',
  responses: { 200: jsonResponse(BrandingSchema, 'The branding') },
});

const update = defineRoute({ kind: 'tenant', scope: 'write' }, {
  method: 'patch',
  path: '/v1/branding',
  tags: TAGS,
  summary: 'Update branding',
  description: 'Changes the given fields (null clears one). A new custom_domain gets a new verification token. custom_css is sanitised: at-rules, functions and URLs outside an allow list (imports, script or data URLs, non-https url(), expression(), behaviours, escapes) are removed and listed in `custom_css_removed`; CSS that does not parse or holds markup is refused.',
  request: {
    body: jsonBody(
      z.object({
        custom_domain: Domain.nullable().optional(),
        logo_url: HttpsUrl.nullable().optional(),
        favicon_url: HttpsUrl.nullable().optional(),
        primary_color: z.string().regex(/^#(?:[0-9a-fA-F]{3}){1,2}$/, 'must be a hex colour such as #1a73e8').nullable().optional(),
        brand_name: z.string().min(1).max(100).nullable().optional(),
        footer_text: z.string().max(1000).nullable().optional(),
        custom_css: z.string().max(50_000).nullable().optional(),
      }),
    ),
  },
  responses: {
    200: jsonResponse(
      BrandingSchema.extend({
        custom_css_removed: z
          .array(z.object({ line: z.number().int().nullable(), removed: z.string(), reason: z.string() }))
          .optional()
          .openapi({ description: 'When custom_css was given: the parts the sanitiser removed, and why (at most 50)' }),
      }),
      'The branding after the change',
    ),
    400: errorResponse('Invalid field (the message names it), or custom_css that does not parse or holds markup'),
    409: errorResponse('custom_domain is already claimed by another tenant'),
  },
});

const verify = defineRoute({ kind: 'tenant', scope: 'write' }, {
  method: 'post',
  path: '/v1/branding/domain/verify',
  tags: TAGS,
  summary: 'Verify the custom domain',
  description:
    'Looks up the DNS TXT record `_plinth-verify.<custom_domain>` and, when one of its values is the verification token, marks the domain verified: requests sent to that host then serve the tenant\'s public forms (no `tenant_id` needed), shared dashboards and short links, and no other tenant can claim it. Claiming a domain does not reserve it; the first tenant to prove it owns it. Verifying an already verified domain answers the same.',
  responses: {
    200: jsonResponse(
      z.object({
        custom_domain: z.string(),
        record: z.object({ type: z.literal('TXT'), name: z.string() }),
        verified: z.literal(true),
        verified_at: IsoDate,
        found: z.array(z.string()).openapi({ description: 'The TXT values found at the record name (at most 10)' }),
      }),
      'Verified',
    ),
    409: errorResponse('Another tenant verified this domain first'),
    422: errorResponse('No custom_domain is set, or no TXT record holds the token (details: the record expected and the values found)'),
    503: errorResponse('The DNS lookup failed (timeout, server failure); try again'),
  },
});

export function brandingRoutes() {
  const app = createRouter();
  app.openapi(get, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getBranding(ctx))), 200));
  app.openapi(update, async (c) => {
    const principal = c.get('principal');
    if (isTenantPrincipal(principal)) await assertDomainClaimable(c.get('kernel'), principal.tenant.id, c.req.valid('json').custom_domain);
    return c.json(ok(c, await tenantWork(c, (ctx) => updateBranding(ctx, c.get('kernel'), c.req.valid('json')))), 200);
  });
  app.openapi(verify, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => verifyDomain(ctx, c.get('kernel')))), 200));
  return app;
}
