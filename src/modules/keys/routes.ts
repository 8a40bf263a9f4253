import { z } from '@hono/zod-openapi';
import { isValidCidr } from '../../core/auth/ip.ts';
import { ScopeSchema } from '../../core/auth/principal.ts';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../core/http/envelope.ts';
import { createRouter, defineRoute, idParam } from '../../core/http/route.ts';
import { tenantWork } from '../../core/http/work.ts';
import { createKey, listKeys, revokeKey, rotateKey, updateKey } from './service.ts';

export const ApiKeySchema = z
  .object({
    id: z.string().openapi({ example: 'key_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    label: z.string(),
    prefix: z.string().openapi({ description: 'First characters of the token', example: 'sk_Ab3dE9fG' }),
    scopes: z.array(ScopeSchema),
    ip_allowlist: z.array(z.string()).openapi({ description: 'CIDR ranges allowed to use the key; empty allows all' }),
    expires_at: IsoDate.nullable(),
    rate_limit: z.number().int().nullable().openapi({ description: 'Requests per minute; null uses the plan limit' }),
    last_used_at: IsoDate.nullable(),
    status: z.enum(['active', 'revoked', 'expired']),
    revoked_at: IsoDate.nullable(),
    rotated_from: z.string().nullable(),
    rotated_to: z.string().nullable(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('ApiKey');

const Cidr = z.string().max(64).refine(isValidCidr, { message: 'Must be an IP address or CIDR range' });
const FutureDate = z.iso
  .datetime({ offset: true })
  .refine((v) => new Date(v).getTime() > Date.now(), { message: 'Must be in the future' });
const Label = z.string().trim().min(1).max(100);
const Scopes = z.array(ScopeSchema).min(1).max(7);
const RateLimit = z.number().int().min(1).max(1_000_000);

const KeyParams = idParam('key_id');

const MANAGE = { kind: 'tenant', scope: '*' } as const;

const list = defineRoute(MANAGE, {
  method: 'get',
  path: '/v1/keys',
  tags: ['API Keys'],
  summary: 'List API keys',
  description: 'Lists the tenant\'s API keys, newest first. Tokens are never shown again; `prefix` identifies a key.',
  request: { query: z.object({ status: z.enum(['active', 'revoked', 'expired']).optional() }) },
  responses: { 200: jsonResponse(z.array(ApiKeySchema), 'The keys') },
});

const create = defineRoute(MANAGE, {
  method: 'post',
  path: '/v1/keys',
  tags: ['API Keys'],
  summary: 'Create API key',
  description: 'Creates a key and returns its token once. A key whose only scope is `auth` is publishable (`pk_`), for browsers.',
  request: {
    body: jsonBody(
      z.object({
        label: Label,
        scopes: Scopes,
        ip_allowlist: z.array(Cidr).max(100).optional(),
        expires_at: FutureDate.nullable().optional(),
        rate_limit: RateLimit.nullable().optional(),
      }),
    ),
  },
  responses: { 201: jsonResponse(z.object({ key: ApiKeySchema, token: z.string() }), 'The key and its token (shown once)') },
});

const update = defineRoute(MANAGE, {
  method: 'patch',
  path: '/v1/keys/{key_id}',
  tags: ['API Keys'],
  summary: 'Update API key',
  request: {
    params: KeyParams,
    body: jsonBody(
      z.object({
        label: Label.optional(),
        scopes: Scopes.optional(),
        ip_allowlist: z.array(Cidr).max(100).optional(),
        rate_limit: RateLimit.nullable().optional(),
        expires_at: FutureDate.nullable().optional(),
      }),
    ),
  },
  responses: { 200: jsonResponse(ApiKeySchema, 'The updated key') },
});

const revoke = defineRoute(MANAGE, {
  method: 'delete',
  path: '/v1/keys/{key_id}',
  tags: ['API Keys'],
  summary: 'Revoke API key',
  description: 'Revokes the key at once; its next request gets 401. Revoking a revoked key changes nothing.',
  request: { params: KeyParams },
  responses: { 200: jsonResponse(ApiKeySchema, 'The revoked key') },
});

const rotate = defineRoute(MANAGE, {
  method: 'post',
  path: '/v1/keys/{key_id}/rotate',
  tags: ['API Keys'],
  summary: 'Rotate API key',
  description:
    'Issues a new key with the settings of the old one (label and scopes may be changed) and retires the old key, at once or after `grace_period_seconds`.',
  request: {
    params: KeyParams,
    body: jsonBody(
      z.object({
        label: Label.optional(),
        scopes: Scopes.optional(),
        grace_period_seconds: z.number().int().min(0).max(7 * 86_400).optional(),
        expires_at: FutureDate.nullable().optional(),
      }),
      false,
    ),
  },
  responses: {
    200: jsonResponse(z.object({ old_key: ApiKeySchema, new_key: ApiKeySchema, token: z.string() }), 'The retired key, the new key and its token'),
  },
});

export function keysRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listKeys(ctx, c.req.valid('query')))), 200));
  app.openapi(create, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => createKey(ctx, c.req.valid('json')))), 201));
  app.openapi(update, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => updateKey(ctx, c.req.valid('param').key_id, c.req.valid('json')))), 200),
  );
  app.openapi(revoke, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => revokeKey(ctx, c.req.valid('param').key_id))), 200));
  app.openapi(rotate, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => rotateKey(ctx, c.req.valid('param').key_id, c.req.valid('json') ?? {}))), 200),
  );
  return app;
}
