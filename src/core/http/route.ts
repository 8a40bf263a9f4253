import { createRoute, OpenAPIHono, z, type RouteConfig } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { guards, type Access, type GuardOptions } from '../auth/guard.ts';
import type { AppEnv } from './context.ts';
import { ErrorSchema, validationError } from './envelope.ts';
import { requestHeader } from './headers.ts';
import { tooDeepError, tooDeepInText } from './json.ts';
import { strictInput } from './strict.ts';

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

/** What a route with a JSON or form body can answer besides (the media type is checked before validation). */
const BODY_ERRORS = {
  415: errorResponse('Unsupported media type: the Content-Type is missing with a body, or not one this route takes'),
} as const;

type Config = Omit<RouteConfig, 'middleware' | 'security'>;

const isJson = (mediaType: string) => /^application\/([a-z.-]+\+)?json\b/i.test(mediaType);
const isForm = (mediaType: string) => /^(multipart\/form-data|application\/x-www-form-urlencoded)\b/i.test(mediaType);
const isZod = (schema: unknown): schema is z.ZodType => typeof (schema as { safeParse?: unknown } | undefined)?.safeParse === 'function';

/**
 * The body as the contract takes it: zod schemas of JSON and form bodies reject unknown fields
 * (strictInput), and the media types that @hono/zod-openapi checks for are noted, since it answers
 * 415 for any other Content-Type.
 */
export function contractBody(body: NonNullable<RouteConfig['request']>['body']) {
  if (!body?.content) return { body, json: false, gated: false };
  let json = false;
  let gated = false;
  const content = Object.fromEntries(
    Object.entries(body.content).map(([mediaType, media]) => {
      const schema = media && 'schema' in media ? media.schema : undefined;
      if (!isZod(schema) || !(isJson(mediaType) || isForm(mediaType))) return [mediaType, media];
      gated = true;
      json ||= isJson(mediaType);
      return [mediaType, { ...media, schema: strictInput(schema) }];
    }),
  );
  return { body: { ...body, content }, json, gated };
}

/**
 * Refuses a JSON body nested deeper than JSON_MAX_DEPTH before anything parses it: free-form values
 * (metadata, json properties) nested 10,000 levels overflowed the stack in JSON.stringify (500).
 */
export const boundedJsonDepth: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (isJson(requestHeader(c, 'content-type') ?? '')) {
    const deep = tooDeepInText(await c.req.text());
    if (deep) throw tooDeepError('body', deep);
  }
  await next();
};

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
  const { body, json, gated } = contractBody(config.request?.body);
  const responses = {
    ...(access.kind === 'probe' ? SERVER_ERRORS : COMMON_ERRORS),
    ...(access.kind === 'probe' ? {} : access.kind === 'public' ? PUBLIC_ERRORS : AUTH_ERRORS),
    ...(gated ? BODY_ERRORS : {}),
    ...config.responses,
  };
  return createRoute({
    ...config,
    ...(config.request ? { request: { ...config.request, body } } : {}),
    description,
    responses,
    // A route that takes `?token=` (EventSource and browser WebSockets cannot send headers) says so.
    security: access.kind === 'tenant' || access.kind === 'admin' ? [{ bearerAuth: [] }, ...(options.queryToken ? [{ queryToken: [] }] : [])] : [],
    middleware: json ? [...guards(access, options), boundedJsonDepth] : guards(access, options),
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
