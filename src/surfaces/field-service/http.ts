import { z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { hasScope, type Scope } from '../../core/auth/principal.ts';
import { isTenantPrincipal } from '../../core/auth/guard.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { requestHeader } from '../../core/http/headers.ts';
import { fromUuid } from './ids.ts';

/**
 * The field-service contract's conventions (seed 000): `x-api-key` + `x-organization-id`, per-resource
 * scopes, `{data}` bodies, cursor pages `{count, limit, next_cursor}` and flat errors `{error, ...}`.
 */

/**
 * The contract's scopes, and the Plinth key scope each one needs: a key is a tenant's API key, so its
 * platform scopes decide (`read` reads every resource here, `write` creates and changes, `files` reads
 * files, `*` manages webhooks). A 403 names the contract's scope that is missing.
 */
export const FIELD_SCOPES = {
  'read:customers': 'read',
  'write:customers': 'write',
  'read:appointments': 'read',
  'write:appointments': 'write',
  'read:estimates': 'read',
  'write:estimates': 'write',
  'read:invoices': 'read',
  'write:invoices': 'write',
  'read:payments': 'read',
  'read:services': 'read',
  'read:files': 'files',
  'manage:webhooks': '*',
} as const satisfies Record<string, Scope>;
export type FieldScope = keyof typeof FIELD_SCOPES;

/** Requests per key per day (the seed's "per-day preview limit"); the per-minute limit is the key's or the plan's. */
export const DAY_LIMIT = 50_000;

// ---------------------------------------------------------------- errors

const ISSUE = z.object({ path: z.string(), message: z.string() });
export const FieldErrorSchema = z
  .object({
    error: z.string().openapi({ example: 'Missing organization context. Provide x-organization-id.' }),
    issues: z.array(ISSUE).optional(),
    missingScopes: z.array(z.string()).optional(),
    field: z.string().optional(),
    limit: z.number().int().optional(),
    window: z.enum(['minute', 'day']).optional(),
  })
  .openapi('Error');

const err = (description: string) => ({ description, content: { 'application/json': { schema: FieldErrorSchema } } });

/** The errors the seed lists for every endpoint, and the ones some add. */
export const ERRORS = {
  400: err('Missing or invalid organization context, or malformed query or body data (`issues` names each field)'),
  401: err('Missing, invalid or expired API key'),
  403: err('The key lacks a scope (`missingScopes`) or belongs to another organization'),
  413: err('Request body too large'),
  415: err('Unsupported media type'),
  429: err('Per-key rate limit exceeded (`limit`, `window`: minute or day); see Retry-After'),
  409: err('A request with this Idempotency-Key is still in progress, or the change conflicts with the record\'s state'),
  422: err('Idempotency-Key reused with a different request'),
  431: err('Request line or headers too large (answered by the HTTP server before any contract is chosen, in the platform\'s envelope)'),
  500: err('Unexpected failure (never a stack trace)'),
  503: err('A dependency is down; retry after Retry-After'),
} as const;
export const NOT_FOUND_ERROR = { 404: err('Not found in this organization') } as const;
export const CONFLICT_ERROR = (what: string) => ({ 409: err(what) }) as const;

/** An ApiError as the contract spells it: `{error}` plus the fields the seed shows for its kind. */
export function renderFieldError(c: Context<AppEnv>, error: ApiError): Response {
  for (const [name, value] of Object.entries(error.headers ?? {})) c.header(name, value);
  const body: Record<string, unknown> = { error: error.message };
  const details = error.details as { issues?: { field?: string; message?: string }[]; limit?: number; window?: string; field?: string; missingScopes?: string[] } | undefined;
  if (error.code === 'VALIDATION_ERROR' || (error.status === 400 && details?.issues)) {
    body.error = error.message;
    body.issues = (details?.issues ?? []).map((i) => ({ path: i.field ?? '', message: i.message ?? 'invalid' }));
  }
  if (details?.missingScopes) body.missingScopes = details.missingScopes;
  if (details?.field) body.field = details.field;
  if (error.status === 429) {
    const policy = c.res.headers.get('RateLimit-Policy') ?? error.headers?.['RateLimit-Policy'];
    body.limit = details?.limit ?? (policy ? Number(policy.split(';')[0]) : undefined);
    body.window = details?.window ?? 'minute';
    if (error.code === 'RATE_LIMITED' && !details?.window) body.error = 'API key minute rate limit exceeded';
  }
  if (error.status === 401) body.error = error.message.startsWith('Missing bearer token') ? 'Missing API key. Provide x-api-key.' : 'Invalid API key';
  if (error.status === 500) body.error = 'Internal error';
  return c.json(body, error.status);
}

// ---------------------------------------------------------------- auth adapter

export const credential = (c: Context<AppEnv>) => requestHeader(c, 'x-api-key')?.trim() || undefined;

const ORG_MISSING = 'Missing organization context. Provide x-organization-id.';

/**
 * After the platform's guard has resolved the key: the organization header must name the key's tenant
 * (its id, or the UUID spelling of that id), the key must hold the contract scope, and the per-day
 * limit holds.
 */
export function fieldAccess(scope: FieldScope): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'Invalid API key');
    const org = requestHeader(c, 'x-organization-id')?.trim();
    if (!org) throw new ApiError('BAD_REQUEST', ORG_MISSING, { details: { issues: [{ field: 'x-organization-id', message: 'Required' }] } });
    const tenantId = org.startsWith('tn_') ? org : fromUuid('tn', org);
    if (!tenantId) {
      throw new ApiError('BAD_REQUEST', 'Invalid organization context. x-organization-id must be a UUID.', {
        details: { issues: [{ field: 'x-organization-id', message: 'Invalid uuid' }] },
      });
    }
    if (tenantId !== principal.tenant.id) throw new ApiError('FORBIDDEN', 'API key does not have access to this organization');
    if (!hasScope(principal, FIELD_SCOPES[scope])) {
      throw new ApiError('INSUFFICIENT_SCOPE', 'API key missing required scopes', { details: { missingScopes: [scope] } });
    }
    const kernel = c.get('kernel');
    const day = await kernel.rateLimits.consume(`${principal.kind}:${principal.id}`, DAY_LIMIT, 'fsd', 86_400);
    if (!day.allowed) {
      throw new ApiError('RATE_LIMITED', 'API key day rate limit exceeded', {
        headers: { 'Retry-After': String(day.resetSeconds) },
        details: { limit: DAY_LIMIT, window: 'day' },
      });
    }
    await next();
  };
}

/** The options of every route of this contract: the key from `x-api-key`, then the organization, scope and day checks. */
export const fieldRoute = (scope: FieldScope) => ({
  access: { kind: 'tenant', scope: null } as const,
  credential,
  security: SECURITY,
  middleware: [fieldAccess(scope)],
});

// ---------------------------------------------------------------- shapes

/** A UUID in the 8-4-4-4-12 hex spelling (any version: ids here are ULIDs spelled as UUIDs). */
export const Uuid = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'Invalid UUID')
  .openapi({ format: 'uuid', example: '8af2ca8e-8f31-4e6e-a46c-0703b61f7ca3' });
export const DateTime = z.string().openapi({ format: 'date-time', example: '2026-03-18T15:40:12.000Z' });

export const PaginationSchema = z
  .object({
    count: z.number().int().openapi({ description: 'Items in this page' }),
    limit: z.number().int(),
    next_cursor: z.string().nullable().openapi({ description: 'Pass as `cursor` for the next page; null on the last page' }),
  })
  .openapi('Pagination');

export const listQuery = <T extends z.ZodRawShape>(filters: T) =>
  z.object({
    limit: z.coerce.number().int().min(1).max(100).default(25).openapi({ description: 'Page size (1-100, default 25)' }),
    cursor: z.string().max(200).optional().openapi({ description: 'The `next_cursor` of the previous page' }),
    ...filters,
  });

export const dataOf = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema: z.object({ data: schema }) } },
});
export const pageOf = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema: z.object({ data: z.array(schema), pagination: PaginationSchema }) } },
});

/** A path id that is not a UUID names nothing here: 404, as an id of another organization would. */
export function idFrom(prefix: string, uuid: string, what: string): string {
  const id = fromUuid(prefix, uuid);
  if (!id) throw new ApiError('NOT_FOUND', `${what} not found`);
  return id;
}

export const SECURITY = [{ apiKey: [], organizationId: [] }];
export const SECURITY_SCHEMES = {
  apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'A secret API key of the organization (`sk_...`); its scopes grant the contract\'s `read:*`, `write:*` and `manage:webhooks` scopes' },
  organizationId: { type: 'apiKey', in: 'header', name: 'x-organization-id', description: 'The organization (tenant) id, as a UUID or as `tn_...`' },
};
