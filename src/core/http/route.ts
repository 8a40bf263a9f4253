import { createRoute, OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import { guards, type Access, type GuardOptions } from '../auth/guard.ts';
import type { AppEnv } from './context.ts';
import { ErrorSchema, validationError } from './envelope.ts';
import { z } from '@hono/zod-openapi';

export type { Access } from '../auth/guard.ts';

export const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorSchema } },
});

/** What the HTTP server itself answers before any route runs, in the same envelope: a request line or headers over 16 KiB. */
const SERVER_ERRORS = {
  431: errorResponse('Request line or headers too large (over 16 KiB)'),
} as const;

/** The errors any route can answer with, documented once and attached to every route. */
const COMMON_ERRORS = {
  ...SERVER_ERRORS,
  400: errorResponse('Bad request or validation error (the message names the field)'),
  413: errorResponse('Request body too large'),
  429: errorResponse('Rate limit or monthly quota exceeded; see Retry-After'),
  500: errorResponse('Internal error (no stack trace is ever returned)'),
} as const;

const PUBLIC_ERRORS = {
  401: errorResponse('A bearer token was sent and is not valid'),
} as const;

const AUTH_ERRORS = {
  401: errorResponse('Missing, invalid, revoked or expired credentials'),
  403: errorResponse('Missing scope (an API key) or permission (a user\'s roles), IP not allowed, or tenant suspended'),
  404: errorResponse('Not found (also what another tenant\'s records look like)'),
  409: errorResponse('Conflict, dependency exists, or idempotent request in progress'),
  422: errorResponse('Idempotency-Key reused with a different body'),
} as const;

type Config = Omit<RouteConfig, 'middleware' | 'security'>;

/**
 * A route contract: the zod schemas of `config` are its validation, its types and its OpenAPI; `access`
 * adds the guards (auth, limits, scope, idempotency) and their documented errors.
 */
export function defineRoute<const R extends Config>(access: Access, config: R, options: GuardOptions = {}) {
  const scopeNote =
    access.kind === 'tenant' && access.scope
      ? `Requires scope \`${access.scope}\`.`
      : access.kind === 'admin'
        ? 'Requires the system admin key (PLINTH_ADMIN_KEY).'
        : access.kind === 'tenant'
          ? 'Requires a tenant API key or access token.'
          : undefined;
  const description = [config.description ?? config.summary, scopeNote].filter(Boolean).join('\n\n');
  const responses = access.kind === 'probe' ? { ...SERVER_ERRORS, ...config.responses } : { ...COMMON_ERRORS, ...(access.kind === 'public' ? PUBLIC_ERRORS : AUTH_ERRORS), ...config.responses };
  return createRoute({
    ...config,
    description,
    responses,
    // A route that takes `?token=` (EventSource and browser WebSockets cannot send headers) says so.
    security: access.kind === 'tenant' || access.kind === 'admin' ? [{ bearerAuth: [] }, ...(options.queryToken ? [{ queryToken: [] }] : [])] : [],
    middleware: guards(access, options),
    ...(access.kind === 'tenant' && access.scope ? { 'x-required-scope': access.scope } : {}),
  }) as unknown as R & { getRoutingPath(): string; middleware: ReturnType<typeof guards> };
}

/** Every module's routes live on one of these: validation failures become the standard error. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.target, result.error);
    },
  });
}

// ---------------------------------------------------------------- shapes many routes share

/**
 * The path parameters of a route about one record: `{ [name]: id }`, an id of 1..64 characters
 * (`GET /v1/keys/{key_id}` takes `idParam('key_id')`). Combine with `.extend()` or `.merge()` for
 * nested paths.
 */
export function idParam<const N extends string>(name: N) {
  return z.object({ [name]: z.string().min(1).max(64).openapi({ param: { name, in: 'path' } }) } as { [K in N]: z.ZodString });
}

/** A page of an offset list (the pair of `offsetQuery`): `{ [key]: item[], total }`, `total` counting every match. */
export function offsetPage<const K extends string, T extends z.ZodType>(key: K, item: T) {
  return z.object({ [key]: z.array(item), total: z.number().int() } as { [P in K]: z.ZodArray<T> } & { total: z.ZodNumber });
}
