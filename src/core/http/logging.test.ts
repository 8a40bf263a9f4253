import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';

const lines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
    done();
  },
});

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform({}, { logger: pino({ level: 'info' }, sink) });
});
afterAll(() => t?.close());

describe('request logs', () => {
  it('writes one JSON line per request carrying its request id', async () => {
    const { token } = await t.newTenant();
    const res = await t.request('GET', '/v1/keys', { token });
    const line = lines.find((l) => l.request_id === res.headers.get('request-id'));
    expect(line).toMatchObject({ level: 30, method: 'GET', path: '/v1/keys', status: 200, msg: 'request' });
    expect(typeof line!.ms).toBe('number');
    expect(JSON.stringify(line)).not.toContain(token);
  });

  it('logs a failure at error level with the same request id, and the response stays clean', async () => {
    const broken = await testPlatform({}, { logger: pino({ level: 'info' }, sink) });
    const { token } = await broken.newTenant();
    // A table the route reads gone: a fault of the server (a closed database would be a 503, unavailable).
    await broken.db.raw('drop table audit_logs cascade');
    const res = await broken.request('GET', '/v1/audit-logs', { token });
    expect(res.status).toBe(500);
    await broken.close();
    const requestId = res.headers.get('request-id');
    const errorLine = lines.find((l) => l.request_id === requestId && l.msg === 'unhandled error');
    expect(errorLine).toMatchObject({ level: 50 });
    expect((errorLine!.err as { stack?: string }).stack).toBeTruthy();
    expect(res.text).not.toContain('stack');
  });
});
