import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createKernel, registerModules } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/core/db/client.ts';
import type { Kernel } from '../src/core/kernel.ts';
import { testPlatform, type TestPlatform } from './support/platform.ts';

// Two kernels on one PostgreSQL and one Redis are what two server processes of one deployment share.
describe.runIf(process.env.DATABASE_URL && process.env.REDIS_URL)('two processes of one deployment', () => {
  let a: TestPlatform;
  let b: { kernel: Kernel; request: (path: string, token: string) => Promise<Response> };

  beforeAll(async () => {
    a = await testPlatform();
    const db = await openDatabase({ databaseUrl: a.databaseUrl, poolMax: 3, appRole: a.db.appRole });
    const kernel = await createKernel(loadConfig(a.env), { db, migrate: false, logger: pino({ level: 'silent' }) });
    registerModules(kernel);
    const { app } = createApp(kernel);
    b = { kernel, request: async (path, token) => app.request(path, { headers: { authorization: `Bearer ${token}` } }) };
  });
  afterAll(async () => {
    await b?.kernel.close();
    await a?.close();
  });

  const eventually = async (check: () => Promise<boolean>) => {
    for (let i = 0; i < 100; i++) {
      if (await check()) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  };

  it('a key revoked through one process is refused by the other', async () => {
    const tenant = await a.newTenant();
    const key = await a.newKey(tenant.token, { scopes: ['read'] });
    expect((await b.request('/v1/usage', key.token)).status).toBe(200); // now cached in b
    await a.request('DELETE', `/v1/keys/${key.id}`, { token: tenant.token });
    expect(await eventually(async () => (await b.request('/v1/usage', key.token)).status === 401)).toBe(true);
  });

  it('both processes count into one monthly quota', async () => {
    const tenant = await a.newTenant({ plan_limits: { requests_per_month: 4 } });
    expect((await a.request('GET', '/v1/usage', { token: tenant.token })).status).toBe(200);
    expect((await a.request('GET', '/v1/usage', { token: tenant.token })).status).toBe(200);
    await a.kernel.quota.flush();
    expect((await b.request('/v1/usage', tenant.token)).status).toBe(200);
    expect((await b.request('/v1/usage', tenant.token)).status).toBe(200);
    const refused = await b.request('/v1/usage', tenant.token);
    expect(refused.status).toBe(429);
  });

  it('rate limits are shared through Redis', async () => {
    const tenant = await a.newTenant();
    const key = await a.newKey(tenant.token, { scopes: ['read'], rate_limit: 2 });
    expect((await a.request('GET', '/v1/usage', { token: key.token })).status).toBe(200);
    expect((await b.request('/v1/usage', key.token)).status).toBe(200);
    expect((await a.request('GET', '/v1/usage', { token: key.token })).status).toBe(429);
  });
});
