import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { actorOf } from '../../core/auth/principal.ts';
import type { TenantContext } from '../../core/context.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { tenantWork } from '../../core/http/work.ts';
import { adminCreateUser, adminUpdateUser, getUser, listUsers, toUserDto, verifyTurnstile, type UserDto } from '../../modules/auth/index.ts';
import { createKey, listKeys } from '../../modules/keys/index.ts';
import { createTenant, getTenant, type TenantRow } from '../../modules/tenants/index.ts';
import { surfaceRoute } from '../surface.ts';
import {
  CONFLICT,
  contractScopes,
  credential,
  dataOf,
  DateTime,
  ERRORS,
  errorOf,
  keyed,
  NOT_FOUND,
  ok,
  plinthScopes,
  principalOf,
  PUBLIC_ERRORS,
  SCOPE_NAMES,
  SECURITY,
  TenantId,
  tenantParam,
} from './http.ts';

// ---------------------------------------------------------------- shapes

const Scopes = z.array(z.enum(SCOPE_NAMES)).openapi({ example: ['tenant:read', 'chat:read', 'chat:write'] });

export const TenantSchema = z
  .object({
    id: TenantId,
    name: z.string(),
    slug: z.string(),
    plan: z.string(),
    status: z.enum(['active', 'suspended']),
    createdAt: DateTime,
    updatedAt: DateTime,
  })
  .openapi('Tenant');

const RegisterResult = z
  .object({ apiKey: z.string().openapi({ example: 'sk_live_...' }), tenantId: TenantId, scopes: Scopes })
  .openapi('Registration');

const Role = z.enum(['admin', 'member', 'viewer']).openapi({ description: 'admin: full access, can create API keys; member: read/write, cannot create API keys; viewer: read only' });
export const AccountSchema = z
  .object({
    id: z.string().openapi({ example: 'usr_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    tenantId: TenantId,
    email: z.string().nullable(),
    name: z.string().nullable(),
    role: z.string().openapi({ description: 'admin, member or viewer (or another role of the tenant given elsewhere)' }),
    createdAt: DateTime,
    updatedAt: DateTime,
  })
  .openapi('Account');

const ApiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    scopes: Scopes,
    prefix: z.string(),
    status: z.enum(['active', 'revoked', 'expired']),
    created_at: DateTime,
    last_used_at: DateTime.nullable(),
    expires_at: DateTime.nullable(),
  })
  .openapi('ApiKey');

const tenantOf = (row: TenantRow) => ({
  id: row.id,
  name: row.name,
  slug: row.slug,
  plan: row.planTier,
  status: row.status,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});

const accountOf = (tenantId: string, u: UserDto) => ({
  id: u.id,
  tenantId,
  email: u.email,
  name: typeof u.user_metadata?.name === 'string' ? u.user_metadata.name : null,
  role: u.role,
  createdAt: u.created_at,
  updatedAt: u.updated_at,
});

const keyOf = (k: { id: string; label: string; scopes: string[]; prefix: string; status: 'active' | 'revoked' | 'expired'; created_at: string; last_used_at: string | null; expires_at: string | null }) => ({
  id: k.id,
  name: k.label,
  scopes: contractScopes(k.scopes),
  prefix: k.prefix,
  status: k.status,
  created_at: k.created_at,
  last_used_at: k.last_used_at,
  expires_at: k.expires_at,
});

// ---------------------------------------------------------------- routes

const TAGS = { auth: ['Authentication'], tenants: ['Tenants & Accounts'], keys: ['API Keys'], assets: ['Asset Manager Authentication'] };

/** Registrations per address per hour. */
export const REGISTRATIONS_PER_HOUR = 5;

const OrgName = z.string().trim().min(1).max(200).openapi({ example: 'Acme Moving Co.' });

const register = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/register',
    operationId: 'register_tenant',
    tags: TAGS.auth,
    summary: 'Register organization and get API key',
    description: `Creates a tenant with its admin API key (shown once; it holds every scope). Limited to ${REGISTRATIONS_PER_HOUR} registrations per address per hour; when the operator configures captcha, \`captchaToken\` must be a Turnstile response the verifier accepts (400 without it, 503 while the verifier cannot be reached).`,
    request: {
      body: {
        content: {
          'application/json': {
            schema: z
              .object({
                name: OrgName,
                email: z.string().email().max(254).optional(),
                captchaToken: z.string().min(1).max(4096).optional().openapi({ description: 'A Cloudflare Turnstile response; required when the operator configures captcha for registration (REGISTER_TURNSTILE_SECRET_KEY)' }),
              })
              .openapi('RegisterRequest'),
          },
        },
        required: true,
      },
    },
    responses: { 201: dataOf(RegisterResult, 'The new tenant and its API key'), ...PUBLIC_ERRORS },
  },
  { access: { kind: 'public' }, credential: () => undefined },
);

const ownTenant = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/tenants',
    operationId: 'tenants_own',
    tags: TAGS.tenants,
    summary: 'Get own tenant information',
    description: 'The tenant of the API key. Requires `tenant:read`.',
    responses: { 200: dataOf(TenantSchema, 'The tenant'), ...ERRORS },
  },
  keyed('tenant:read'),
);

const createTenantRoute = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/tenants',
    operationId: 'tenants_create',
    tags: TAGS.tenants,
    summary: 'Create new tenant (admin only)',
    description: 'Creates a tenant with isolated data and its own document store, and its admin API key (shown once). Requires the system admin key in `x-api-key`.',
    request: {
      body: {
        content: { 'application/json': { schema: z.object({ name: OrgName, plan: z.enum(['free', 'starter', 'pro', 'enterprise']).optional(), ownerEmail: z.string().email().max(254).optional() }).openapi('CreateTenantRequest') } },
        required: true,
      },
    },
    responses: { 201: dataOf(z.object({ tenant: TenantSchema, apiKey: z.string(), scopes: Scopes }), 'The tenant and its API key'), ...ERRORS },
  },
  { access: { kind: 'admin' }, credential, security: SECURITY },
);

const getTenantRoute = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/tenants/{tenantId}',
    operationId: 'tenants_get',
    tags: TAGS.tenants,
    summary: 'Get tenant details',
    description: 'A key reads its own tenant only (403 for another). Requires `tenant:read`.',
    request: { params: tenantParam },
    responses: { 200: dataOf(TenantSchema, 'The tenant'), ...ERRORS },
  },
  keyed('tenant:read'),
);

const accountParams = tenantParam.extend({ accountId: z.string().min(1).max(64).openapi({ param: { name: 'accountId', in: 'path' } }) });

const createAccount = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/tenants/{tenantId}/accounts',
    operationId: 'tenants_createAccount',
    tags: TAGS.tenants,
    summary: 'Create account',
    description: 'An account is a user of the tenant with one of the roles admin, member, viewer (default member). Requires `accounts:write`.',
    request: {
      params: tenantParam,
      body: {
        content: {
          'application/json': {
            schema: z.object({ email: z.string().email().max(254), name: z.string().trim().min(1).max(200).optional(), role: Role.optional() }).openapi('CreateAccountRequest'),
          },
        },
        required: true,
      },
    },
    responses: { 201: dataOf(AccountSchema, 'The account'), ...ERRORS, ...CONFLICT('An account with this email exists, or an Idempotency-Key request is in progress') },
  },
  keyed('accounts:write'),
);

const getAccount = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/tenants/{tenantId}/accounts/{accountId}',
    operationId: 'tenants_getAccount',
    tags: TAGS.tenants,
    summary: 'Get account details',
    description: 'Requires `accounts:read`.',
    request: { params: accountParams },
    responses: { 200: dataOf(AccountSchema, 'The account'), ...ERRORS, ...NOT_FOUND('The account') },
  },
  keyed('accounts:read'),
);

const updateAccount = surfaceRoute(
  {
    method: 'patch',
    path: '/api/v1/tenants/{tenantId}/accounts/{accountId}',
    operationId: 'tenants_updateAccount',
    tags: TAGS.tenants,
    summary: 'Update account',
    description: 'Changes the name, email or role. Requires `accounts:write`.',
    request: {
      params: accountParams,
      body: {
        content: {
          'application/json': {
            schema: z.object({ email: z.string().email().max(254).optional(), name: z.string().trim().min(1).max(200).nullable().optional(), role: Role.optional() }).openapi('UpdateAccountRequest'),
          },
        },
        required: true,
      },
    },
    responses: { 200: dataOf(AccountSchema, 'The account'), ...ERRORS, ...NOT_FOUND('The account'), ...CONFLICT('Another account has this email, or an Idempotency-Key request is in progress') },
  },
  keyed('accounts:write'),
);

const listKeysRoute = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/tenants/{tenantId}/api-keys',
    operationId: 'tenants_listApiKeys',
    tags: TAGS.keys,
    summary: 'List API keys',
    description: 'Metadata of every key (scopes, creation, last use, expiry); the secret is never returned. Requires `keys:read`.',
    request: { params: tenantParam },
    responses: { 200: dataOf(z.array(ApiKeySchema), 'The keys'), ...ERRORS },
  },
  keyed('keys:read'),
);

const createKeyRoute = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/tenants/{tenantId}/api-keys',
    operationId: 'tenants_createApiKey',
    tags: TAGS.keys,
    summary: 'Create API key',
    description:
      'A new key with a name and the contract scopes asked for (default `tenant:read`, `chat:read`, `chat:write`); `apiKey` is shown only in this answer. The key holds the Plinth scopes those map to, and shows every contract scope they grant. Requires `keys:write`.',
    request: {
      params: tenantParam,
      body: {
        content: {
          'application/json': {
            schema: z.object({ name: z.string().trim().min(1).max(100), scopes: z.array(z.enum(SCOPE_NAMES)).min(1).max(SCOPE_NAMES.length).optional(), expiresAt: DateTime.optional() }).openapi('CreateApiKeyRequest'),
          },
        },
        required: true,
      },
    },
    responses: { 201: dataOf(ApiKeySchema.extend({ apiKey: z.string().openapi({ description: 'The secret, shown only once' }) }), 'The key with its secret'), ...ERRORS },
  },
  keyed('keys:write'),
);

/** Password changes of a tenant's asset manager per 15 minutes. */
export const PASSWORD_ATTEMPTS = 5;
const ASSET_MANAGER = (tenantId: string) => `asset-manager@${tenantId.replace(/_/g, '-').toLowerCase()}.assistant.invalid`;

const password = surfaceRoute(
  {
    method: 'put',
    path: '/api/v1/tenants/{tenantId}/asset-auth/password',
    operationId: 'tenants_setAssetPassword',
    tags: TAGS.assets,
    summary: 'Update Asset Manager password',
    description: `Sets the password of the tenant's asset manager account (a user of the tenant with the member role, created on first use). OWASP rules: 8-128 characters with an upper-case letter, a lower-case letter, a digit and one of !@#$%^&*; ${PASSWORD_ATTEMPTS} attempts per 15 minutes per tenant (429 past them). Requires \`asset-auth:write\`.`,
    request: {
      params: tenantParam,
      body: {
        content: { 'application/json': { schema: z.object({ newPassword: z.string().max(1024), confirmPassword: z.string().max(1024) }).openapi('UpdatePasswordRequest') } },
        required: true,
      },
    },
    responses: { 200: dataOf(z.object({ updated: z.literal(true), username: z.string(), updatedAt: DateTime }), 'The password is set'), ...ERRORS },
  },
  keyed('asset-auth:write'),
);

/** The seed's OWASP rules; the first one broken is named. */
export function passwordProblem(password: string): string | null {
  if (password.length < 8) return 'Password must be at least 8 characters';
  if (password.length > 128) return 'Password must be at most 128 characters';
  if (!/[A-Z]/.test(password)) return 'Password must contain an uppercase letter (A-Z)';
  if (!/[a-z]/.test(password)) return 'Password must contain a lowercase letter (a-z)';
  if (!/[0-9]/.test(password)) return 'Password must contain a number (0-9)';
  if (!/[!@#$%^&*]/.test(password)) return 'Password must contain a special character (!@#$%^&*)';
  return null;
}

async function findAccount(ctx: TenantContext, accountId: string): Promise<UserDto> {
  try {
    return await toUserDto(ctx, await getUser(ctx, accountId));
  } catch (error) {
    if (error instanceof ApiError && error.code === 'NOT_FOUND') throw new ApiError('NOT_FOUND', 'Account not found');
    throw error;
  }
}

async function provisionKey(ctx: TenantContext) {
  return createKey(ctx, { label: 'Admin key', scopes: ['*'] });
}

const clientIp = (c: Context<AppEnv>) => c.get('ip') ?? 'unknown';

export function tenantRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(register, async (c) => {
    const kernel = c.get('kernel');
    const rate = await kernel.rateLimits.consume(`register:${clientIp(c)}`, REGISTRATIONS_PER_HOUR, 'asr', 3600);
    if (!rate.allowed) throw new ApiError('RATE_LIMITED', 'Too many registrations from this address; retry later', { headers: { 'Retry-After': String(rate.resetSeconds) } });
    const body = c.req.valid('json');
    const secret = kernel.config.REGISTER_TURNSTILE_SECRET_KEY;
    if (secret) await verifyTurnstile(kernel, { secret, token: body.captchaToken, ip: clientIp(c), field: 'captchaToken' });
    const { tenant, provisioned } = await createTenant(kernel, { name: body.name, owner_email: body.email }, { type: 'anonymous', id: null }, provisionKey, c.get('requestId'));
    return c.json(ok({ apiKey: provisioned.token, tenantId: tenant.id, scopes: contractScopes(provisioned.key.scopes) }), 201);
  });

  app.openapi(ownTenant, async (c) => {
    const row = await tenantWork(c, (ctx) => getTenant(ctx.db, ctx.tenantId));
    return c.json(ok(tenantOf(row)), 200);
  });

  app.openapi(createTenantRoute, async (c) => {
    const body = c.req.valid('json');
    const { tenant, provisioned } = await createTenant(
      c.get('kernel'),
      { name: body.name, plan_tier: body.plan, owner_email: body.ownerEmail },
      actorOf(c.get('principal')),
      provisionKey,
      c.get('requestId'),
    );
    return c.json(ok({ tenant: tenantOf(tenant), apiKey: provisioned.token, scopes: contractScopes(provisioned.key.scopes) }), 201);
  });

  app.openapi(getTenantRoute, async (c) => {
    const row = await tenantWork(c, (ctx) => getTenant(ctx.db, ctx.tenantId));
    return c.json(ok(tenantOf(row)), 200);
  });

  app.openapi(createAccount, async (c) => {
    const body = c.req.valid('json');
    const account = await tenantWork(c, async (ctx) =>
      accountOf(ctx.tenantId, await adminCreateUser(ctx, { email: body.email, role: body.role ?? 'member', email_verified: true, ...(body.name ? { user_metadata: { name: body.name } } : {}) })),
    );
    return c.json(ok(account), 201);
  });

  app.openapi(getAccount, async (c) => {
    const { accountId } = c.req.valid('param');
    return c.json(ok(await tenantWork(c, async (ctx) => accountOf(ctx.tenantId, await findAccount(ctx, accountId)))), 200);
  });

  app.openapi(updateAccount, async (c) => {
    const { accountId } = c.req.valid('param');
    const body = c.req.valid('json');
    const account = await tenantWork(c, async (ctx) => {
      const current = await findAccount(ctx, accountId);
      const metadata = body.name === undefined ? undefined : { ...current.user_metadata, name: body.name };
      return accountOf(ctx.tenantId, await adminUpdateUser(ctx, accountId, { email: body.email, role: body.role, user_metadata: metadata }));
    });
    return c.json(ok(account), 200);
  });

  app.openapi(listKeysRoute, async (c) => {
    const keys = await tenantWork(c, (ctx) => listKeys(ctx, {}));
    return c.json(ok(keys.map(keyOf)), 200);
  });

  app.openapi(createKeyRoute, async (c) => {
    const body = c.req.valid('json');
    if (body.expiresAt !== undefined && !(Date.parse(body.expiresAt) > Date.now())) {
      throw new ApiError('VALIDATION_ERROR', 'expiresAt must be a date-time in the future');
    }
    const scopes = plinthScopes(body.scopes ?? ['tenant:read', 'chat:read', 'chat:write']);
    const created = await tenantWork(c, (ctx) => createKey(ctx, { label: body.name, scopes, expires_at: body.expiresAt ? new Date(body.expiresAt).toISOString() : null }));
    return c.json(ok({ ...keyOf(created.key), apiKey: created.token }), 201);
  });

  app.openapi(password, async (c) => {
    const principal = principalOf(c);
    const kernel = c.get('kernel');
    const rate = await kernel.rateLimits.consume(`asset-auth:${principal.tenant.id}`, PASSWORD_ATTEMPTS, 'aap', 900);
    if (!rate.allowed) throw new ApiError('RATE_LIMITED', `At most ${PASSWORD_ATTEMPTS} password changes per 15 minutes`, { headers: { 'Retry-After': String(rate.resetSeconds) } });
    const body = c.req.valid('json');
    if (body.newPassword !== body.confirmPassword) throw new ApiError('VALIDATION_ERROR', 'confirmPassword does not match newPassword');
    const problem = passwordProblem(body.newPassword);
    if (problem) throw new ApiError('VALIDATION_ERROR', problem);
    const result = await tenantWork(c, async (ctx) => {
      const email = ASSET_MANAGER(ctx.tenantId);
      const found = (await listUsers(ctx, { limit: 10, offset: 0, search: email })).users.find((u) => u.email === email);
      if (found) await adminUpdateUser(ctx, found.id, { password: body.newPassword });
      else await adminCreateUser(ctx, { email, password: body.newPassword, role: 'member', email_verified: true, user_metadata: { name: 'Asset Manager' } });
      return { updated: true as const, username: email, updatedAt: new Date().toISOString() };
    });
    return c.json(ok(result), 200);
  });
}
