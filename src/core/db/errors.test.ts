import { describe, expect, it } from 'vitest';
import { toApiError } from '../http/middleware.ts';

/** What the drivers throw when the database or Redis goes away, as the HTTP layer sees it (test/outage.test.ts drills the real thing). */
const socket = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code });
const sqlState = (code: string) => Object.assign(new Error('server says no'), { code });
const drizzle = (cause: unknown) => new Error('Failed query: select 1', { cause });

describe('errors that mean a dependency is unavailable', () => {
  it.each([
    ['a refused connection', socket('ECONNREFUSED')],
    ['a reset connection inside a query error', drizzle(socket('ECONNRESET'))],
    ['a connection that ended mid-query', drizzle(new Error('Connection terminated unexpectedly'))],
    ['a dead client checked out again', new Error('Client has encountered a connection error and is not queryable')],
    ['no free pooled session in time', new Error('timeout exceeded when trying to connect')],
    ['an administrator shutdown (57P01)', drizzle(sqlState('57P01'))],
    ['a server still starting (57P03)', sqlState('57P03')],
    ['a connection failure (08006)', sqlState('08006')],
    ['too many connections (53300)', sqlState('53300')],
    ['a pool closed under a request (shutdown)', drizzle(new Error('Cannot use a pool after calling end on the pool'))],
    ['the embedded engine\'s worker gone', drizzle(new Error('PGlite worker exited (code 1)'))],
    ['the embedded database closing', drizzle(new Error('PGlite is closed'))],
    ['a connect that tried every address', new AggregateError([socket('ECONNREFUSED'), socket('ECONNREFUSED')])],
    ['Redis down with no offline queue', new Error("Stream isn't writeable and enableOfflineQueue options is false")],
    ['Redis retries exhausted', Object.assign(new Error('Reached the max retries per request limit (which is 2).'), { name: 'MaxRetriesPerRequestError' })],
  ])('%s answers 503 SERVICE_UNAVAILABLE with Retry-After', (_, error) => {
    const api = toApiError(error);
    expect(api?.status).toBe(503);
    expect(api?.code).toBe('SERVICE_UNAVAILABLE');
    expect(api?.headers?.['Retry-After']).toMatch(/^\d+$/);
  });

  it('leaves errors of the request itself alone', () => {
    expect(toApiError(drizzle(sqlState('23505')))?.status).toBe(409);
    expect(toApiError(drizzle(sqlState('22P02')))?.status).toBe(400);
    expect(toApiError(new Error('something else broke'))).toBeUndefined();
    expect(toApiError(drizzle(sqlState('42P01')))).toBeUndefined();
  });
});
