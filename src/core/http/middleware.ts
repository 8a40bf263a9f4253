import type { Context, ErrorHandler, MiddlewareHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { routePath } from 'hono/route';
import { clientIp } from '../auth/ip.ts';
import type { Kernel } from '../kernel.ts';
import type { AppEnv } from './context.ts';
import { errorBody } from './envelope.ts';
import { hasNodeResponse, setResponseHeader } from './headers.ts';
import { ApiError, type ErrorCode } from './errors.ts';
import { newId } from './ids.ts';
import { isDatabaseUnavailable } from '../db/errors.ts';
import { isRedisUnavailable } from '../providers/redis.ts';

/** Request id, logger, caller address and the kernel on every request; one log line when it ends. */
export function requestContext(kernel: Kernel): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const requestId = newId('req');
    const log = kernel.log.child({ request_id: requestId });
    c.set('kernel', kernel);
    c.set('requestId', requestId);
    c.set('log', log);
    c.set('ip', clientIp(c, kernel.config.TRUST_PROXY));
    const started = performance.now();
    // Set before the handler, so that every response carries it however it was built.
    setResponseHeader(c, 'Request-Id', requestId);
    // While draining, keep-alive connections close after their response instead of racing the shutdown.
    if (kernel.draining) setResponseHeader(c, 'Connection', 'close');
    await next();
    // In-process (no Node response), a Response the handler built itself lacks Hono's prepared headers.
    if (!hasNodeResponse(c) && !c.res.headers.has('request-id')) c.res.headers.set('Request-Id', requestId);
    const status = c.res.status;
    const ms = performance.now() - started;
    const principal = c.get('principal');
    if (principal && 'tenant' in principal && principal.tenant) kernel.requestStats.record(principal.tenant.id, routeFamily(c), status, ms);
    const fields = { method: c.req.method, path: c.req.path, status, ms: Math.round(ms * 10) / 10 };
    if (status >= 500) log.error(fields, 'request failed');
    else log.info(fields, 'request');
  };
}

/**
 * The route family of a request for statistics: the first two segments of the route that answered
 * (`/v1/objects/:type/:id` -> `/v1/objects`), so the set stays small whatever paths callers send;
 * `other` when no route matched.
 */
function routeFamily(c: Context): string {
  const path = routePath(c, -1);
  let family = families.get(path);
  if (family === undefined) {
    family = !path || path.includes('*') ? 'other' : path.split('/', 3).join('/') || '/';
    // Route patterns are a closed set: the map stays as small as the route table.
    families.set(path, family);
  }
  return family;
}
const families = new Map<string, string>();

/** A path segment that is `.` or `..`, spelled out or percent-encoded in any case (`%2e%2E`, `.%2e`). */
function isDotSegment(segment: string): boolean {
  if (segment.length === 0 || segment.length > 6) return false;
  const plain = segment.replaceAll('%2e', '.').replaceAll('%2E', '.');
  return plain === '.' || plain === '..';
}

/**
 * Refuses a request whose path has dot segments, before routing. URL parsing resolves them (node-server
 * builds the URL with `new URL`), so `DELETE /v1/roles/%2e%2e/users/usr_1` was served as
 * `DELETE /v1/users/usr_1`. The raw request target is read from Node's request, since the URL the app
 * sees has already been resolved.
 */
export const refuseDotSegments: MiddlewareHandler<AppEnv> = async (c, next) => {
  const raw = (c.env as { incoming?: { url?: string } } | undefined)?.incoming?.url;
  if (raw !== undefined) {
    // An absolute-form target (`GET http://host/a/../b HTTP/1.1`) has its path after the authority.
    const start = raw.startsWith('/') ? 0 : raw.indexOf('/', raw.indexOf('//') + 2);
    const end = [raw.indexOf('?'), raw.indexOf('#')].filter((i) => i !== -1).reduce((a, b) => Math.min(a, b), raw.length);
    const path = start === -1 ? '' : raw.slice(start, Math.max(start, end));
    if (path.split('/').some(isDotSegment)) {
      throw new ApiError('BAD_REQUEST', 'The path has a `.` or `..` segment (plain or percent-encoded); send the path it stands for instead', {
        details: { issues: [{ field: 'path', location: 'path', code: 'dot_segment', message: 'dot segments are not allowed' }] },
      });
    }
  }
  await next();
};

const HTTP_STATUS_CODES: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'UNPROCESSABLE',
  429: 'RATE_LIMITED',
  503: 'SERVICE_UNAVAILABLE',
};

/** Seconds a client is asked to wait when a dependency is down; recovery takes a few once it returns. */
const RETRY_AFTER_SECONDS = '2';

/**
 * PostgreSQL error codes that mean the request, not the server, was wrong; and failures that mean
 * the database or Redis cannot be reached (503 with Retry-After: the same request may succeed soon).
 */
function fromDatabaseError(error: unknown): ApiError | undefined {
  if (isDatabaseUnavailable(error)) {
    return new ApiError('SERVICE_UNAVAILABLE', 'The database is unavailable; retry shortly', { headers: { 'Retry-After': RETRY_AFTER_SECONDS } });
  }
  if (isRedisUnavailable(error)) {
    return new ApiError('SERVICE_UNAVAILABLE', 'A shared store (Redis) is unavailable; retry shortly', { headers: { 'Retry-After': RETRY_AFTER_SECONDS } });
  }
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) continue;
    const detail = (e as { detail?: string }).detail;
    if (code === '23505') return new ApiError('ALREADY_EXISTS', 'A record with these unique values already exists', { details: detail ? { detail } : undefined });
    if (code === '23503') return new ApiError('CONFLICT', 'The change refers to a record that does not exist or is still referenced');
    if (code === '23514' || code === '23502') return new ApiError('VALIDATION_ERROR', 'The values break a constraint of the record');
    if (code.startsWith('22')) return new ApiError('BAD_REQUEST', 'A value has the wrong form or is out of range');
    return undefined;
  }
  return undefined;
}

export function toApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (error instanceof HTTPException) {
    const code = HTTP_STATUS_CODES[error.status] ?? (error.status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST');
    return new ApiError(code, error.message || code.toLowerCase().replace(/_/g, ' '));
  }
  return fromDatabaseError(error);
}

export const onError: ErrorHandler<AppEnv> = (error, c) => {
  const known = toApiError(error);
  const requestId = (c.get('requestId') as string | undefined) ?? newId('req');
  if (!known) {
    (c.get('log') ?? console).error({ err: error }, 'unhandled error');
    return respondError(c, requestId, new ApiError('INTERNAL_ERROR', 'Internal server error'));
  }
  return respondError(c, requestId, known);
};

function respondError(c: Context, requestId: string, error: ApiError) {
  for (const [name, value] of Object.entries(error.headers ?? {})) c.header(name, value);
  return c.json(errorBody(requestId, error), error.status);
}

export const notFound: NotFoundHandler<AppEnv> = (c) =>
  c.json(errorBody(c.get('requestId') as string, new ApiError('NOT_FOUND', `No route for ${c.req.method} ${c.req.path}`)), 404);
