/**
 * Events benchmark, against `plinth start` in a child process (so the clients do not share its event
 * loop):
 *  1. webhook deliveries end to end (POST /v1/events -> outbox -> fan-out -> pg-boss job -> signed
 *     POST to a local receiver): deliveries per second and the p50/p99 lag from emit to receipt, for
 *     one endpoint (strictly in order) and for many endpoints at once;
 *  2. fan-out of one event to 1,000 SSE subscribers and to 1,000 WebSocket subscribers: p50/p99/max lag
 *     from emit to receipt, and the server's memory per connection.
 *
 *   npm run bench:events                                          # embedded PGlite
 *   DATABASE_URL=postgres://... REDIS_URL=redis://... npm run bench:events
 *   BENCH_EVENTS=2000 BENCH_ENDPOINTS=20 BENCH_SUBSCRIBERS=1000 npm run bench:events
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import WebSocket from 'ws';
import { appRoleFor } from '../src/core/db/client.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 2000);
const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 20);
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const FANOUT_ROUNDS = Number(process.env.BENCH_FANOUT_ROUNDS ?? 20);
const EMITTERS = 16;
const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const ms = (v: number) => `${v.toFixed(1)} ms`;

async function waitUntil(probe: () => boolean, what: string, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// ---- the server -------------------------------------------------------------------------------------

const env: Record<string, string> = {
  ...(process.env as Record<string, string>),
  PORT: '0',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  PLINTH_ADMIN_KEY: ADMIN_KEY,
  OUTBOUND_ALLOW_LOOPBACK: 'true',
  JOBS_POLL_SECONDS: '0.5',
  WEBHOOK_CONCURRENCY: String(Math.max(ENDPOINTS, 8)),
  DB_POOL_MAX: '20',
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

const child = spawn(process.execPath, [path.join(import.meta.dirname, '../bin/plinth.mjs'), 'start'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
await waitUntil(() => /listening on http/.test(out), 'the server to start', 90_000);
const port = Number(/listening on http:\/\/[^:]+:(\d+)/.exec(out)![1]);
const base = `http://127.0.0.1:${port}`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function call(method: string, url: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      `${base}${url}`,
      { method, agent, headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function rssOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

const tenantRes = await call('POST', '/v1/admin/tenants', ADMIN_KEY, {
  name: 'Bench',
  plan_tier: 'enterprise',
  plan_limits: { rate_limit_per_minute: 10_000_000, requests_per_month: 1_000_000_000, webhook_endpoints: 1000 },
});
if (tenantRes.status !== 201) throw new Error(`tenant: ${JSON.stringify(tenantRes.body)}`);
const token: string = tenantRes.body.data.api_key.token;
const tenantId: string = tenantRes.body.data.tenant.id;

/** Emits `count` custom events of `type` from EMITTERS concurrent callers; each carries its emit time. */
async function emit(type: string, count: number, extra: (i: number) => Record<string, unknown> = () => ({})) {
  let next = 0;
  await Promise.all(
    Array.from({ length: EMITTERS }, async () => {
      while (next < count) {
        const i = next++;
        const res = await call('POST', '/v1/events', token, { event_type: type, data: { i, t0: now(), ...extra(i) } });
        if (res.status !== 200) throw new Error(`emit: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }),
  );
}

// ---- 1. webhooks --------------------------------------------------------------------------------------

interface Receipt {
  path: string;
  i: number;
  lag: number;
  at: number;
}
const receipts: Receipt[] = [];
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const at = now();
    const event = JSON.parse(body);
    receipts.push({ path: req.url ?? '', i: event.data.i, lag: at - event.data.t0, at });
    res.writeHead(204).end();
  });
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const receiverPort = (receiver.address() as AddressInfo).port;

async function webhookScenario(label: string, endpoints: number, events: number, type: string, perSecond?: number) {
  receipts.length = 0;
  for (let e = 0; e < endpoints; e++) {
    const res = await call('POST', '/v1/webhooks', token, { url: `http://127.0.0.1:${receiverPort}/${type}/${e}`, events: [type] });
    if (res.status !== 201) throw new Error(`webhook: ${JSON.stringify(res.body)}`);
  }
  const expected = endpoints * events;
  const started = now();
  if (perSecond) {
    // Paced below capacity: the lag is the path's latency, not a queue's length.
    for (let i = 0; i < events; i++) {
      const due = started + (i * 1000) / perSecond;
      if (due > now()) await sleep(due - now());
      const res = await call('POST', '/v1/events', token, { event_type: type, data: { i, t0: now() } });
      if (res.status !== 200) throw new Error(`emit: ${res.status}`);
    }
  } else {
    await emit(type, events);
  }
  const emitted = now();
  await waitUntil(() => receipts.length >= expected, `${expected} deliveries`, 600_000);
  const finished = Math.max(...receipts.map((r) => r.at));
  // Per endpoint, events arrive in the order they were committed; emitters race, so check by endpoint
  // that nothing arrived twice and nothing is missing.
  const byEndpoint = new Map<string, number[]>();
  for (const r of receipts) byEndpoint.set(r.path, [...(byEndpoint.get(r.path) ?? []), r.i]);
  for (const [p, list] of byEndpoint) if (new Set(list).size !== events) throw new Error(`${p}: ${new Set(list).size} distinct of ${events}`);
  const lags = receipts.map((r) => r.lag);
  return {
    label,
    deliveries: expected,
    rate: expected / ((finished - started) / 1000),
    emitRate: events / ((emitted - started) / 1000),
    p50: percentile(lags, 50),
    p99: percentile(lags, 99),
  };
}

// ---- 2. fan-out -----------------------------------------------------------------------------------------

interface Fanout {
  label: string;
  subscribers: number;
  p50: number;
  p99: number;
  max: number;
  rssBefore: number;
  rssAfter: number;
}

async function fanoutRounds(label: string, subscribers: number, received: () => Map<number, number[]>, rssBefore: number): Promise<Fanout> {
  const rssAfter = rssOf(child.pid!);
  const lags: number[] = [];
  for (let round = 0; round < FANOUT_ROUNDS; round++) {
    const t0 = now();
    const res = await call('POST', '/v1/events', token, { event_type: `bench.${label}`, data: { i: round, t0 } });
    if (res.status !== 200) throw new Error(`emit: ${res.status}`);
    await waitUntil(() => (received().get(round)?.length ?? 0) >= subscribers, `round ${round} on ${subscribers} ${label} subscribers`, 60_000);
    lags.push(...received().get(round)!);
    await sleep(50);
  }
  return { label, subscribers, p50: percentile(lags, 50), p99: percentile(lags, 99), max: Math.max(...lags), rssBefore, rssAfter };
}

async function sseScenario(): Promise<Fanout> {
  const got = new Map<number, number[]>();
  const requests: http.ClientRequest[] = [];
  let connected = 0;
  const sseAgent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const rssBefore = rssOf(child.pid!);
  for (let s = 0; s < SUBSCRIBERS; s++) {
    const req = http.get(`${base}/events/stream?types=bench.sse&token=${token}`, { agent: sseAgent }, (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          if (frame.startsWith(': connected')) connected++;
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (data) {
            const at = now();
            const event = JSON.parse(data);
            const list = got.get(event.data.i) ?? [];
            list.push(at - event.data.t0);
            got.set(event.data.i, list);
          }
        }
      });
    });
    requests.push(req);
    if (s % 100 === 99) await waitUntil(() => connected >= s + 1, 'SSE connections', 60_000);
  }
  await waitUntil(() => connected >= SUBSCRIBERS, 'all SSE connections', 60_000);
  const result = await fanoutRounds('sse', SUBSCRIBERS, () => got, rssBefore);
  for (const req of requests) req.destroy();
  return result;
}

async function wsScenario(): Promise<Fanout> {
  const got = new Map<number, number[]>();
  const sockets: WebSocket[] = [];
  let subscribed = 0;
  const rssBefore = rssOf(child.pid!);
  for (let s = 0; s < SUBSCRIBERS; s++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/realtime?token=${token}&tenant_id=${tenantId}&channels=bench.ws`);
    ws.on('message', (raw) => {
      const at = now();
      const message = JSON.parse(String(raw));
      if (message.type === 'subscribed') subscribed++;
      if (message.type === 'event') {
        const list = got.get(message.event.data.i) ?? [];
        list.push(at - message.event.data.t0);
        got.set(message.event.data.i, list);
      }
    });
    ws.on('error', (error) => console.error('ws error', error.message));
    sockets.push(ws);
    if (s % 100 === 99) await waitUntil(() => subscribed >= s + 1, 'WebSocket connections', 60_000);
  }
  await waitUntil(() => subscribed >= SUBSCRIBERS, 'all WebSocket subscriptions', 60_000);
  const result = await fanoutRounds('ws', SUBSCRIBERS, () => got, rssBefore);
  for (const ws of sockets) ws.terminate();
  return result;
}

// ---- run ------------------------------------------------------------------------------------------------

try {
  // Warm-up: JIT, pools and the pg-boss queues.
  await webhookScenario('warm-up', 2, 50, 'warm.up');
  const paced = await webhookScenario('1 endpoint, 20 events/s', 1, 200, 'bench.paced', 20);
  const one = await webhookScenario('1 endpoint, flood', 1, EVENTS, 'bench.one');
  const many = await webhookScenario(`${ENDPOINTS} endpoints, flood`, ENDPOINTS, Math.ceil(EVENTS / ENDPOINTS) * 2, 'bench.many');
  const sse = await sseScenario();
  await sleep(500);
  const ws = await wsScenario();

  console.log(`\nevents benchmark: ${database}${process.env.REDIS_URL ? ' + Redis' : ''}, server in a child process, ${os.cpus().length} cores\n`);
  console.log('webhook deliveries, end to end (POST /v1/events -> signed POST received; one endpoint is strictly in order)');
  console.log(`${'scenario'.padEnd(26)}${'deliveries'.padStart(11)}${'deliv/s'.padStart(10)}${'emit/s'.padStart(9)}${'p50 lag'.padStart(12)}${'p99 lag'.padStart(12)}`);
  for (const r of [paced, one, many]) {
    console.log(`${r.label.padEnd(26)}${String(r.deliveries).padStart(11)}${r.rate.toFixed(0).padStart(10)}${r.emitRate.toFixed(0).padStart(9)}${ms(r.p50).padStart(12)}${ms(r.p99).padStart(12)}`);
  }
  console.log(`\nfan-out of one event to ${SUBSCRIBERS} subscribers, ${FANOUT_ROUNDS} events (emit -> receipt)`);
  console.log(`${'transport'.padEnd(26)}${'p50 lag'.padStart(12)}${'p99 lag'.padStart(12)}${'max lag'.padStart(12)}${'server RSS before -> connected'.padStart(32)}`);
  const mib = (b: number) => `${(b / 1048576).toFixed(0)} MiB`;
  for (const r of [sse, ws]) {
    console.log(`${(r.label === 'sse' ? 'SSE /events/stream' : 'WebSocket /v1/realtime').padEnd(26)}${ms(r.p50).padStart(12)}${ms(r.p99).padStart(12)}${ms(r.max).padStart(12)}${`${mib(r.rssBefore)} -> ${mib(r.rssAfter)}`.padStart(32)}`);
  }
  console.log('');
} finally {
  receiver.close();
  agent.destroy();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await cleanup();
}
