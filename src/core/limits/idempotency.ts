import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../http/context.ts';
import { ApiError } from '../http/errors.ts';
import { requestHeader } from '../http/headers.ts';

const TTL_MS = 24 * 60 * 60 * 1000;
/** How long a claim stands if its process dies mid-request; a retry after that runs again. */
const IN_FLIGHT_MS = 5 * 60 * 1000;
const MAX_KEY_LENGTH = 255;

interface InFlight {
  state: 'in_flight';
  fingerprint: string;
}
interface Completed {
  state: 'done';
  fingerprint: string;
  status: number;
  body: string;
  contentType: string | null;
}
type IdempotencyRecord = InFlight | Completed;

/**
 * `Idempotency-Key` on POST, as the agent platform seed describes: the first request claims the key,
 * a concurrent one gets 409, a finished one is replayed with `Idempotent-Replayed: true`, and the same
 * key with another body (method, path and body are hashed) gets 422. Keys live 24 hours per tenant.
 * A 5xx releases the claim so that the client's retry can succeed.
 */
export function idempotency(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const key = requestHeader(c, 'idempotency-key');
    if (key === undefined) return next();
    if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
      throw new ApiError('BAD_REQUEST', `Idempotency-Key must be 1 to ${MAX_KEY_LENGTH} characters`);
    }
    const { kv, secrets } = c.get('kernel');
    const principal = c.get('principal');
    const scope = principal && principal.kind !== 'admin' ? principal.tenant.id : 'admin';
    const storeKey = `idem:${scope}:${createHash('sha256').update(key).digest('hex')}`;

    const body = new Uint8Array(await c.req.raw.clone().arrayBuffer());
    const fingerprint = createHash('sha256')
      .update(`${c.req.method} ${c.req.path}\n`)
      .update(body)
      .digest('hex');

    const claim: InFlight = { state: 'in_flight', fingerprint };
    if (!(await kv.setIfAbsent(storeKey, JSON.stringify(claim), IN_FLIGHT_MS))) {
      const raw = await kv.get(storeKey);
      const existing = raw ? (JSON.parse(raw) as IdempotencyRecord) : null;
      if (!existing) throw new ApiError('IDEMPOTENCY_IN_PROGRESS', 'A request with this Idempotency-Key is being processed; retry shortly');
      if (existing.fingerprint !== fingerprint) {
        throw new ApiError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request body or endpoint');
      }
      if (existing.state === 'in_flight') {
        throw new ApiError('IDEMPOTENCY_IN_PROGRESS', 'A request with this Idempotency-Key is being processed; retry shortly');
      }
      const headers = new Headers({ 'Idempotent-Replayed': 'true' });
      if (existing.contentType) headers.set('content-type', existing.contentType);
      return new Response(secrets.open(existing.body), { status: existing.status, headers });
    }

    try {
      await next();
    } catch (error) {
      await kv.del(storeKey);
      throw error;
    }
    // Errors thrown by the handler are rendered after this middleware returns; c.error tells us one happened.
    const res = c.res;
    if (c.error || res.status >= 500) {
      await kv.del(storeKey);
      return;
    }
    const done: Completed = {
      state: 'done',
      fingerprint,
      status: res.status,
      // Sealed like any secret at rest: a replayed body may hold a key's token or a webhook's secret.
      body: secrets.seal(await res.clone().text()),
      contentType: res.headers.get('content-type'),
    };
    await kv.set(storeKey, JSON.stringify(done), TTL_MS);
  };
}
