/**
 * Whether an error means the database (or the way to it) is unavailable rather than the statement
 * being wrong: the request may succeed when retried, so it answers 503, and background loops wait and
 * try again instead of treating it as a fault of their own.
 */

/** Socket errors from node:net while connecting to or talking with the server. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/**
 * SQLSTATEs of a server that is going away, starting, or out of room: class 08 (connection
 * exception), 57P01-57P03 (admin/crash shutdown, cannot connect now), 53300 (too many connections),
 * 57014 (statement cancelled, as a failover does).
 */
const UNAVAILABLE_STATES = /^(08[0-9A-Z]{3}|57P0[1-3]|53300|57014)$/;

/** What `pg`, `pg-pool` and the PGlite engine say when a connection dies or cannot be had (they set no code). */
const DRIVER_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'is not queryable',
  'Connection closed',
  'Client network socket disconnected',
  // The pool or the embedded engine closed under a request (shutdown), or the engine's worker ended.
  'Cannot use a pool after calling end on the pool',
  'PGlite worker exited',
  'PGlite is closed',
];

export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (SOCKET_CODES.has(code) || UNAVAILABLE_STATES.test(code))) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && DRIVER_MESSAGES.some((m) => message.includes(m))) return true;
    // AggregateError (a connect that tried IPv4 and IPv6) carries the socket errors in `errors`.
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.some((inner) => isDatabaseUnavailable(inner))) return true;
  }
  return false;
}

const noticed = new WeakMap<object, Map<string, number>>();
/** How often a loop that keeps failing because the database is down says so. */
const NOTICE_EVERY_MS = 30_000;

/**
 * Logs a background loop's failure. While the database is down every poll fails the same way: that is
 * one warning per loop every 30 s, without the stack, not an error per poll.
 */
export function logLoopFailure(
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void },
  error: unknown,
  message: string,
  fields: Record<string, unknown> = {},
  level: 'warn' | 'error' = 'error',
): void {
  if (!isDatabaseUnavailable(error)) {
    log[level]({ err: error, ...fields }, message);
    return;
  }
  let seen = noticed.get(log);
  if (!seen) noticed.set(log, (seen = new Map()));
  const key = `${message}|${JSON.stringify(fields)}`;
  const now = Date.now();
  if (now - (seen.get(key) ?? 0) < NOTICE_EVERY_MS) return;
  seen.set(key, now);
  log.warn({ ...fields, reason: (error as Error)?.message ?? String(error) }, `${message} (database unavailable; retrying)`);
}
