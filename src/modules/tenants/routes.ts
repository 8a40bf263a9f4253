import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { isTenantPrincipal } from '../../core/auth/guard.ts';
import { actorOf } from '../../core/auth/principal.ts';
import type { TenantContext } from '../../core/context.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../core/http/envelope.ts';
import { ApiError } from '../../core/http/errors.ts';
import { offsetQuery } from '../../core/http/pagination.ts';
import { createRouter, defineRoute, errorResponse, idParam, offsetPage } from '../../core/http/route.ts';
import { tenantWork } from '../../core/http/work.ts';
import { httpUrl } from '../../core/net/http-url.ts';
import { billingPeriod } from '../../core/limits/period.ts';
import type { Kernel } from '../../core/kernel.ts';
import { PLAN_TIERS } from './plans.ts';
import {
  createTenant,
  findTenant,
  getTenant,
  listTenants,
  tenantDto,
  tenantsByIds,
  tenantsByOwnerEmail,
  updateTenant,
} from './service.ts';
import type { TenantRow } from './tables.ts';

/** What other modules add to the tenants routes; wired from their hooks (index.ts), so tenants imports none of them. */
export interface TenantsRouteOptions {
  /** Creates what a new tenant starts with; its result is returned as `api_key` by the admin route. */
  provision: (ctx: TenantContext) => Promise<{ key: unknown; token: string }>;
  /** Sections of GET /v1/tenant-config besides branding (identity adds `auth`), each with its schema for the document. */
  configSections?: Record<string, { schema: z.ZodType; load: (kernel: Kernel, tenant: { id: string }) => Promise<unknown> }>;
  /** Tenant ids where an email has an identity (identity adds its users). */
  lookupSources?: ((kernel: Kernel, email: string) => Promise<string[]>)[];
  /** Bytes stored by the tenant (files adds its sum). */
  storageUsed?: (ctx: TenantContext) => Promise<number>;
}

const LimitsSchema = z.record(z.string(), z.number()).openapi({
  example: { requests_per_month: 100000, rate_limit_per_minute: 600, storage_bytes: 1073741824 },
});
const Branding = z
  .object({
    brand_name: z.string().max(100).optional(),
    logo_url: httpUrl('Shown in emails and sign-in pages: http(s)').optional(),
    primary_color: z.string().regex(/^#[0-9a-fA-F]{6}$/).optional(),
    support_email: z.string().email().optional(),
  })
  .openapi('Branding');

export const TenantSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    slug: z.string(),
    plan_tier: z.string(),
    plan_limits: LimitsSchema,
    plan_limit_overrides: LimitsSchema,
    status: z.enum(['active', 'suspended']),
    suspended_reason: z.string().nullable(),
    owner_email: z.string().nullable(),
    billing_anchor_day: z.number().int().min(1).max(31).openapi({ description: 'Day of the month the billing period and the monthly quotas start (1 = calendar months; in a shorter month, its last day). Set from the subscription by billing.' }),
    branding: Branding,
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('Tenant');

/** The route's response names each section the modules add, so the document shows them. */
const tenantConfigRoute = (sections: Record<string, z.ZodType>) =>
  defineRoute(
    { kind: 'public' },
    {
      method: 'get',
      path: '/v1/tenant-config',
      tags: ['Public'],
      summary: 'Get tenant config (public)',
      description:
        'Public configuration of a tenant (branding, auth config). No credentials needed, but the tenant must be identifiable: by a bearer key of the tenant (a publishable `pk_` key is enough), the `tenant` query parameter (id or slug) or the `X-Tenant-Id` header.',
      request: {
        query: z.object({ tenant: z.string().max(64).optional().openapi({ description: 'Tenant id or slug' }) }),
        headers: z.object({ 'x-tenant-id': z.string().max(64).optional() }),
      },
      responses: {
        200: jsonResponse(
          z
            .object({ tenant_id: z.string(), name: z.string(), slug: z.string(), branding: Branding, ...sections })
            .openapi('TenantConfig'),
          'The tenant\'s public configuration',
        ),
        403: errorResponse('The tenant is suspended'),
        404: errorResponse('No such tenant'),
      },
    },
  );

const lookup = defineRoute(
  { kind: 'public' },
  {
    method: 'post',
    path: '/v1/tenants/lookup',
    tags: ['Public'],
    summary: 'Lookup tenants by email',
    description: 'Finds the active tenants an email address belongs to (as owner or as a user), so a login page can offer them.',
    request: { body: jsonBody(z.object({ email: z.string().trim().email().max(320) })) },
    responses: {
      200: jsonResponse(z.array(z.object({ tenant_id: z.string(), brand_name: z.string() })), 'Matching tenants (possibly none)'),
    },
  },
);

const usage = defineRoute(
  { kind: 'tenant', scope: 'read' },
  {
    method: 'get',
    path: '/v1/usage',
    tags: ['Tenants'],
    summary: 'Get tenant usage',
    responses: {
      200: jsonResponse(
        z
          .object({
            tenant_id: z.string(),
            plan_tier: z.string(),
            used_storage_bytes: z.number().int(),
            plan_limits: LimitsSchema,
            requests: z.object({
              period: z.string().openapi({ example: '2026-11', description: '`YYYY-MM` for calendar months, else `YYYY-MM-DD` of the period\'s start (the billing anchor day)' }),
              period_start: IsoDate,
              resets_at: IsoDate,
              used: z.number().int(),
              limit: z.number().int(),
              remaining: z.number().int(),
              percent: z.number(),
            }),
          })
          .openapi('Usage'),
        'Usage against the plan',
      ),
    },
  },
);

const ADMIN = { kind: 'admin' } as const;
const TenantParams = idParam('tenant_id');
const PlanTier = z.enum(PLAN_TIERS);
const Overrides = z.record(z.string().regex(/^[a-z_]{1,64}$/), z.number().int().min(0));

const adminCreate = defineRoute(ADMIN, {
  method: 'post',
  path: '/v1/admin/tenants',
  tags: ['Tenants'],
  summary: 'Create tenant (system admin)',
  description: 'Provisions a tenant with an admin API key (scope `*`) whose token is returned once.',
  request: {
    body: jsonBody(
      z.object({
        name: z.string().trim().min(1).max(200),
        slug: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/).optional(),
        plan_tier: PlanTier.optional(),
        plan_limits: Overrides.optional(),
        owner_email: z.string().trim().email().max(320).optional(),
        branding: Branding.optional(),
      }),
    ),
  },
  responses: {
    201: jsonResponse(z.object({ tenant: TenantSchema, api_key: z.object({ key: z.unknown(), token: z.string() }) }), 'The tenant and its first key'),
  },
});

const adminList = defineRoute(ADMIN, {
  method: 'get',
  path: '/v1/admin/tenants',
  tags: ['Tenants'],
  summary: 'List tenants (system admin)',
  request: { query: offsetQuery({ limit: 50, max: 200 }).extend({ status: z.enum(['active', 'suspended']).optional() }) },
  responses: { 200: jsonResponse(offsetPage('tenants', TenantSchema), 'A page of tenants') },
});

const adminGet = defineRoute(ADMIN, {
  method: 'get',
  path: '/v1/admin/tenants/{tenant_id}',
  tags: ['Tenants'],
  summary: 'Get tenant (system admin)',
  request: { params: TenantParams },
  responses: { 200: jsonResponse(TenantSchema, 'The tenant') },
});

const adminUpdate = defineRoute(ADMIN, {
  method: 'patch',
  path: '/v1/admin/tenants/{tenant_id}',
  tags: ['Tenants'],
  summary: 'Update, suspend or reactivate a tenant (system admin)',
  description: 'A suspended tenant\'s keys and tokens get 403 TENANT_SUSPENDED until it is reactivated.',
  request: {
    params: TenantParams,
    body: jsonBody(
      z.object({
        name: z.string().trim().min(1).max(200).optional(),
        status: z.enum(['active', 'suspended']).optional(),
        suspended_reason: z.string().max(500).nullable().optional(),
        plan_tier: PlanTier.optional(),
        plan_limits: Overrides.optional(),
        owner_email: z.string().trim().email().max(320).nullable().optional(),
        billing_anchor_day: z.number().int().min(1).max(31).optional(),
        branding: Branding.optional(),
      }),
    ),
  },
  responses: { 200: jsonResponse(TenantSchema, 'The updated tenant') },
});

async function identifyTenant(c: Context<AppEnv>, query: { tenant?: string }, headerId?: string): Promise<TenantRow> {
  const principal = c.get('principal');
  const kernel = c.get('kernel');
  if (isTenantPrincipal(principal)) return getTenant(kernel.db.system, principal.tenant.id);
  const ref = query.tenant ?? headerId;
  if (!ref) throw new ApiError('BAD_REQUEST', 'Identify the tenant with a bearer key, the `tenant` query parameter or the X-Tenant-Id header');
  const row = await findTenant(kernel.db.system, ref);
  if (!row) throw new ApiError('NOT_FOUND', 'Tenant not found');
  return row;
}

export function tenantsRoutes(options: TenantsRouteOptions) {
  const app = createRouter();

  const sectionSchemas = Object.fromEntries(Object.entries(options.configSections ?? {}).map(([name, section]) => [name, section.schema]));
  app.openapi(tenantConfigRoute(sectionSchemas), async (c) => {
    const kernel = c.get('kernel');
    const tenant = await identifyTenant(c, c.req.valid('query'), c.req.valid('header')['x-tenant-id']);
    if (tenant.status !== 'active') throw new ApiError('TENANT_SUSPENDED', 'This tenant is suspended');
    const sections: Record<string, unknown> = {};
    for (const [name, section] of Object.entries(options.configSections ?? {})) sections[name] = await section.load(kernel, tenant);
    const branding = { brand_name: tenant.name, ...tenant.settings.branding };
    return c.json(ok(c, { tenant_id: tenant.id, name: tenant.name, slug: tenant.slug, branding, ...sections }), 200);
  });

  app.openapi(lookup, async (c) => {
    const kernel = c.get('kernel');
    const { email } = c.req.valid('json');
    const owned = await tenantsByOwnerEmail(kernel, email);
    const ids = new Set(owned.map((t) => t.id));
    const extra: string[] = [];
    for (const source of options.lookupSources ?? []) for (const id of await source(kernel, email)) if (!ids.has(id)) extra.push(id);
    const found = [...owned, ...(await tenantsByIds(kernel, [...new Set(extra)]))];
    return c.json(ok(c, found.map((t) => ({ tenant_id: t.id, brand_name: t.settings.branding?.brand_name ?? t.name }))), 200);
  });

  app.openapi(usage, async (c) => {
    const kernel = c.get('kernel');
    const data = await tenantWork(c, async (ctx) => {
      const tenant = await getTenant(ctx.db, ctx.tenantId);
      const dto = tenantDto(tenant);
      const used = await kernel.quota.used(ctx.tenantId, tenant.billingAnchorDay);
      const period = billingPeriod(new Date(), tenant.billingAnchorDay);
      const limit = dto.plan_limits.requests_per_month;
      return {
        tenant_id: tenant.id,
        plan_tier: tenant.planTier,
        used_storage_bytes: options.storageUsed ? await options.storageUsed(ctx) : 0,
        plan_limits: dto.plan_limits,
        requests: {
          period: period.key,
          period_start: period.start.toISOString(),
          resets_at: period.end.toISOString(),
          used,
          limit,
          remaining: Math.max(0, limit - used),
          percent: limit > 0 ? Math.min(100, Math.round((used / limit) * 1000) / 10) : 100,
        },
      };
    });
    return c.json(ok(c, data), 200);
  });

  app.openapi(adminCreate, async (c) => {
    const kernel = c.get('kernel');
    const { tenant, provisioned } = await createTenant(kernel, c.req.valid('json'), actorOf(c.get('principal')), options.provision, c.get('requestId'));
    return c.json(ok(c, { tenant: tenantDto(tenant), api_key: provisioned }), 201);
  });

  app.openapi(adminList, async (c) => {
    const { tenants, total } = await listTenants(c.get('kernel'), c.req.valid('query'));
    return c.json(ok(c, { tenants: tenants.map(tenantDto), total }), 200);
  });

  app.openapi(adminGet, async (c) => {
    const tenant = await getTenant(c.get('kernel').db.system, c.req.valid('param').tenant_id);
    return c.json(ok(c, tenantDto(tenant)), 200);
  });

  app.openapi(adminUpdate, async (c) => {
    const kernel = c.get('kernel');
    const row = await updateTenant(kernel, c.req.valid('param').tenant_id, c.req.valid('json'), actorOf(c.get('principal')), c.get('requestId'));
    return c.json(ok(c, tenantDto(row)), 200);
  });

  return app;
}
