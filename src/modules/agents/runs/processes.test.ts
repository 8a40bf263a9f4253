import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, expect, it } from 'vitest';
import { createPlatform, type Platform } from '../../../app.ts';
import { loadConfig } from '../../../config.ts';
import { startFakeOpenAI, type FakeServer } from '../../../../test/support/fake-openai.ts';
import { spawnPlinth, waitFor, type PlinthProcess } from '../../../../test/support/events.ts';
import { ADMIN_KEY, copyPostgresTemplate } from '../../../../test/support/platform.ts';
import { parseSse } from '../../../../test/support/sse.ts';
import { LEASE_MS, sweepRuns } from './runner.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const env = { incoming: { socket: { remoteAddress: '127.0.0.1', remotePort: 1 } } };

async function call(platform: Platform, token: string, method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await platform.app.request(url, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers }, body: body ? JSON.stringify(body) : undefined }, env);
  const text = await res.text();
  return { status: res.status, text, body: text.startsWith('{') ? JSON.parse(text) : text };
}

async function database(): Promise<Record<string, string>> {
  if (process.env.DATABASE_URL) {
    const db = await copyPostgresTemplate();
    cleanups.push(db.drop);
    return { DATABASE_URL: db.url };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plinth-agents-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { DATA_DIR: dir };
}

/** A real process is killed (SIGKILL) while its run waits on the model; another process finds the run lost. */
it('detects a worker killed mid-run: the run ends failed (WORKER_LOST), never stuck running', async () => {
  const oa: FakeServer = await startFakeOpenAI();
  cleanups.push(() => oa.close());
  const base = { PLINTH_ADMIN_KEY: ADMIN_KEY, OUTBOUND_ALLOW_LOOPBACK: 'true', JOBS_POLL_SECONDS: '0.5', ...(await database()), ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}) };
  const worker: PlinthProcess = await spawnPlinth(base);
  cleanups.push(() => worker.kill());
  const http = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${worker.url}${url}`, { method, headers: { authorization: `Bearer ${worker.token}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, body: (await res.json()) as any };
  };
  expect((await http('POST', '/v1/ai-providers', { name: 'oa', provider_type: 'openai', api_key: 'sk-x', config_json: { base_url: oa.url, default: true } })).status).toBe(201);
  const agent = await http('POST', '/v1/agents', { name: 'slow' });
  oa.reply({ delayMs: 60_000 });
  const run = await http('POST', `/v1/agents/${agent.body.data.id}/runs`, { message: 'hello' });
  await waitFor(async () => (await http('GET', `/v1/agent-runs/${run.body.data.id}`)).body.data.status === 'running' || null, 'the run to start');
  await worker.kill('SIGKILL');

  const platform = await createPlatform(loadConfig({ ...base, LOG_LEVEL: 'silent' }), { logger: pino({ level: 'silent' }) });
  cleanups.push(() => platform.close());
  // Before the lease runs out the run is still someone's; after it, it is lost.
  expect(await sweepRuns(platform.kernel)).toBe(0);
  expect(await sweepRuns(platform.kernel, new Date(Date.now() + LEASE_MS + 1000))).toBe(1);
  const after = await call(platform, worker.token, 'GET', `/v1/agent-runs/${run.body.data.id}`);
  expect(after.body.data).toMatchObject({ status: 'failed', error: { code: 'WORKER_LOST' } });
  const events = parseSse((await call(platform, worker.token, 'GET', `/v1/agent-runs/${run.body.data.id}/stream`)).text);
  expect(events.map((e) => e.data.data?.status).filter(Boolean)).toEqual(['queued', 'running', 'failed']);
}, 90_000);

/**
 * Two processes of one deployment on PostgreSQL and Redis: an API process (no worker) and a worker.
 * A run created on the API process is executed by the worker; its stream on the API process follows
 * it live through Redis; a cancel on the API process stops it on the worker within a second.
 */
it.skipIf(!process.env.DATABASE_URL || !process.env.REDIS_URL)('runs, streams and cancels across processes through Redis', async () => {
  const oa: FakeServer = await startFakeOpenAI();
  cleanups.push(() => oa.close());
  const base = {
    PLINTH_ADMIN_KEY: ADMIN_KEY,
    OUTBOUND_ALLOW_LOOPBACK: 'true',
    JOBS_POLL_SECONDS: '0.5',
    LOG_LEVEL: 'silent',
    REDIS_URL: process.env.REDIS_URL!,
    REDIS_PREFIX: `plinth-agents-${Date.now()}:`,
    ...(await database()),
  };
  const api = await createPlatform(loadConfig({ ...base, JOBS_WORKER: 'false' }), { logger: pino({ level: 'silent' }) });
  cleanups.push(() => api.close());
  const worker = await createPlatform(loadConfig(base), { logger: pino({ level: 'silent' }) });
  cleanups.push(() => worker.close());
  const tenant = await call(api, ADMIN_KEY, 'POST', '/v1/admin/tenants', { name: 'two processes' });
  const token = tenant.body.data.api_key.token as string;
  expect((await call(api, token, 'POST', '/v1/ai-providers', { name: 'oa', provider_type: 'openai', api_key: 'sk-x', config_json: { base_url: oa.url, default: true } })).status).toBe(201);
  const agent = (await call(api, token, 'POST', '/v1/agents', { name: 'far' })).body.data;

  oa.reply({ text: 'one two three four five six', chunkDelayMs: 30 });
  const run = (await call(api, token, 'POST', `/v1/agents/${agent.id}/runs`, { message: 'go' })).body.data;
  const events = parseSse((await call(api, token, 'GET', `/v1/agent-runs/${run.id}/stream`)).text);
  expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
  expect(events.at(-1)!.data.data).toMatchObject({ status: 'succeeded' });
  expect(events.find((e) => e.data.data?.status === 'running')!.data.data.worker).toBeTruthy();

  oa.reply({ delayMs: 30_000 });
  const slow = (await call(api, token, 'POST', `/v1/agents/${agent.id}/runs`, { message: 'wait' })).body.data;
  await waitFor(async () => (await call(api, token, 'GET', `/v1/agent-runs/${slow.id}`)).body.data.status === 'running' || null, 'the run to start');
  const started = Date.now();
  expect((await call(api, token, 'POST', `/v1/agent-runs/${slow.id}/cancel`)).status).toBe(200);
  await waitFor(async () => (await call(api, token, 'GET', `/v1/agent-runs/${slow.id}`)).body.data.status === 'cancelled' || null, 'the run to be cancelled', 3000);
  expect(Date.now() - started).toBeLessThan(1000);
}, 60_000);
