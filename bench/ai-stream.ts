/**
 * AI streaming benchmark: the time to the first streamed token of POST /v1/ai/chat (`stream: true`)
 * through Plinth, against `plinth start` in a child process with the tenant's provider pointing at the
 * fake OpenAI-compatible server of the tests, minus the same streamed call made directly to that fake
 * server. Prints p50/p99 of both and of Plinth's overhead (paired per request). Target: overhead p99 < 5 ms.
 *
 *   npm run bench:ai-stream                                   # embedded PGlite
 *   DATABASE_URL=postgres://... npm run bench:ai-stream
 *   BENCH_AI_REQUESTS=500 npm run bench:ai-stream
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { appRoleFor } from '../src/core/db/client.ts';
import { startFakeOpenAI } from '../test/support/fake-openai.ts';

const REQUESTS = Number(process.env.BENCH_AI_REQUESTS ?? 300);
const WARMUP = 30;
const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const ms = (v: number) => `${v.toFixed(2)} ms`;

const env: Record<string, string> = {
  ...(process.env as Record<string, string>),
  PORT: '0',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  PLINTH_ADMIN_KEY: ADMIN_KEY,
  OUTBOUND_ALLOW_LOOPBACK: 'true',
};
let cleanup = async () => {};
let database = 'embedded PGlite';
if (process.env.DATABASE_URL) {
  const name = `plinth_bench_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(process.env.DATABASE_URL);
  url.pathname = `/${name}`;
  env.DATABASE_URL = url.toString();
  database = 'PostgreSQL';
  cleanup = async () => {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.query(`drop role if exists ${appRoleFor(name)}`).catch(() => {});
    await admin.end();
  };
} else {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plinth-bench-'));
  env.DATA_DIR = dir;
  cleanup = async () => fs.rmSync(dir, { recursive: true, force: true });
}

const fake = await startFakeOpenAI();
const child = spawn(process.execPath, [path.join(import.meta.dirname, '../bin/plinth.mjs'), 'start'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
try {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 90_000;
  while (!/listening on http/.test(out)) {
    if (Date.now() > deadline) throw new Error('the server did not start');
    await sleep(20);
  }
  const port = Number(/listening on http:\/\/[^:]+:(\d+)/.exec(out)![1]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  const json = (url: string, token: string, body: unknown) =>
    new Promise<any>((resolve, reject) => {
      const payload = JSON.stringify(body);
      const req = http.request(url, { method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => (res.statusCode! < 300 ? resolve(JSON.parse(text)) : reject(new Error(`${url}: ${res.statusCode} ${text}`))));
      });
      req.on('error', reject);
      req.end(payload);
    });

  /** Milliseconds from sending the request to the first chunk that carries answer text (`marker`). */
  const firstToken = (url: string, token: string, body: unknown, marker: string) =>
    new Promise<number>((resolve, reject) => {
      const payload = JSON.stringify(body);
      const started = performance.now();
      const req = http.request(url, { method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
        let text = '';
        let took: number | undefined;
        res.on('data', (c: Buffer) => {
          text += c.toString();
          if (took === undefined && text.includes(marker)) took = performance.now() - started;
        });
        res.on('end', () => (took === undefined ? reject(new Error(`no token in ${text.slice(0, 300)}`)) : resolve(took)));
      });
      req.on('error', reject);
      req.end(payload);
    });

  const tenant = await json(`http://127.0.0.1:${port}/v1/admin/tenants`, ADMIN_KEY, {
    name: 'AI bench',
    plan_tier: 'enterprise',
    plan_limits: { rate_limit_per_minute: 10_000_000, requests_per_month: 1_000_000_000 },
  });
  const token: string = tenant.data.api_key.token;
  await json(`http://127.0.0.1:${port}/v1/ai-providers`, token, { name: 'fake', provider_type: 'openai', api_key: 'sk-bench', config_json: { base_url: fake.url, default: true } });

  const plinth = () => firstToken(`http://127.0.0.1:${port}/v1/ai/chat`, token, { message: 'hello bench', stream: true, ...(process.env.BENCH_AI_MODEL ? { model: process.env.BENCH_AI_MODEL } : {}) }, 'event: delta');
  const direct = () =>
    firstToken(`${fake.url}/chat/completions`, 'sk-bench', { model: 'gpt-fake-1', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hello bench' }] }, '"content":"You');

  for (let i = 0; i < WARMUP; i++) {
    await plinth();
    await direct();
  }
  const through: number[] = [];
  const straight: number[] = [];
  const overhead: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    // Alternate the order so neither side always runs on a warmer socket.
    const [a, b] = i % 2 ? [await direct(), await plinth()] : ((x, y) => [y, x])(await plinth(), await direct());
    straight.push(a);
    through.push(b);
    overhead.push(b - a);
  }
  console.log(`AI stream, time to first token (${REQUESTS} requests, ${database}, fake OpenAI-compatible provider on loopback)`);
  console.log(`  direct to the provider:  p50 ${ms(percentile(straight, 50))}  p99 ${ms(percentile(straight, 99))}`);
  console.log(`  through Plinth:          p50 ${ms(percentile(through, 50))}  p99 ${ms(percentile(through, 99))}`);
  console.log(`  Plinth's overhead:       p50 ${ms(percentile(overhead, 50))}  p99 ${ms(percentile(overhead, 99))}  (paired per request; target p99 < 5 ms)`);
  agent.destroy();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  if (child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await fake.close();
  await cleanup();
}
