/**
 * Automations benchmark, against `plinth start` in a child process: `object.created` events, emitted by
 * batch creates of 100 records over HTTP (EMITTERS at once, so that emitting is not the bound), each
 * starting a run of one automation (a JSONata-mapped `emit_event` action) through the outbox consumer;
 * runs per second end to end and as worked (first run created to last run done), and the p50/p99 lag
 * from an event's emit to its run's end. BENCH_EMIT=single emits custom events one request each.
 *
 *   npm run bench:automations                                     # embedded PGlite
 *   DATABASE_URL=postgres://... npm run bench:automations
 *   BENCH_EVENTS=5000 npm run bench:automations
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { appRoleFor } from '../src/core/db/client.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 4000);
/** Runs each quiet tenant submits in the fairness phase; the flooding tenant submits 100x. */
const FAIR_EVENTS = Number(process.env.BENCH_FAIR_EVENTS ?? 20);
const QUIET = 4;
const EMITTERS = Number(process.env.BENCH_EMITTERS ?? 32);
/** Records per batch create (each one event); `single` emits one custom event per request instead. */
const BATCH = Number(process.env.BENCH_BATCH ?? 100);
const SINGLE = process.env.BENCH_EMIT === 'single';
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

// BENCH_CPU_PROF=<dir>: the server writes a V8 CPU profile there when it stops.
const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
const child = spawn(process.execPath, [...profile, path.join(import.meta.dirname, '../bin/plinth.mjs'), 'start'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
let stopping = false;
child.on('exit', (code, signal) => {
  if (!stopping) console.error(`the server exited (${code ?? signal}); its last output:\n${out.slice(-4000)}`);
});
await waitUntil(() => /listening on http/.test(out), 'the server to start', 90_000);
const port = Number(/listening on http:\/\/[^:]+:(\d+)/.exec(out)![1]);
const base = `http://127.0.0.1:${port}`;
/** The server's CPU time so far (user + system, ms), from /proc (Linux); NaN elsewhere. */
function serverCpuMs(): number {
  try {
    const fields = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}
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

async function newTenant(name: string) {
  const res = await call('POST', '/v1/admin/tenants', ADMIN_KEY, {
    name,
    plan_tier: 'enterprise',
    plan_limits: { rate_limit_per_minute: 10_000_000, requests_per_month: 1_000_000_000, webhook_endpoints: 1000 },
  });
  if (res.status !== 201) throw new Error(`tenant: ${JSON.stringify(res.body)}`);
  return { token: res.body.data.api_key.token as string, tenantId: res.body.data.tenant.id as string };
}
const { token } = await newTenant('Bench');

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

/** Emits `count` object.created events of type `bench` in batch creates of BATCH, EMITTERS at once. */
async function emitBatches(count: number) {
  let next = 0;
  await Promise.all(
    Array.from({ length: EMITTERS }, async () => {
      while (next < count) {
        const from = next;
        const n = Math.min(BATCH, count - from);
        next += n;
        const t0 = now();
        const res = await call('POST', '/v1/objects/bench/batch/create', token, { objects: Array.from({ length: n }, (_, k) => ({ properties: { i: from + k, t0 } })) });
        if (res.status !== 201) throw new Error(`batch: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }),
  );
}

// ---- runs ---------------------------------------------------------------------------------------------

try {
  if (!SINGLE) {
    if ((await call('POST', '/v1/object-types', token, { name: 'bench' })).status !== 201) throw new Error('object type');
    for (const name of ['i', 't0']) await call('POST', '/v1/object-types/bench/properties', token, { name, data_type: 'number' });
  }
  const created = await call('POST', '/v1/automations', token, {
    name: 'bench',
    trigger_event: SINGLE ? 'custom.bench' : 'object.created',
    actions: [
      SINGLE
        ? { type: 'emit_event', input: { event_type: 'custom.bench_done', data: { i: '{{ data.i }}', t0: '{{ data.t0 }}' } } }
        : { type: 'emit_event', input: { event_type: 'custom.bench_done', data: { i: '{{ data.properties.i }}', t0: '{{ data.properties.t0 }}' } } },
    ],
  });
  if (created.status !== 201) throw new Error(`automation: ${JSON.stringify(created.body)}`);
  const id: string = created.body.data.id;
  const started = now();
  const cpuStarted = serverCpuMs();
  if (SINGLE) await emit('custom.bench', EVENTS);
  else await emitBatches(EVENTS);
  const emitted = now() - started;
  let runs: any[] = [];
  await waitUntilAsync(async () => {
    const res = await call('GET', `/v1/automations/${id}/runs?status=succeeded&limit=1`, token);
    return res.body.data.total >= EVENTS;
  }, 'every run');
  const elapsed = now() - started;
  const cpu = serverCpuMs() - cpuStarted;
  for (let offset = 0; offset < EVENTS; offset += 200) {
    runs = runs.concat((await call('GET', `/v1/automations/${id}/runs?limit=200&offset=${offset}`, token)).body.data.runs);
  }
  const lags = runs.map((r) => Date.parse(r.finished_at) - (SINGLE ? r.input.event.data.t0 : r.input.event.data.properties.t0));
  console.log(`automations on ${database}: ${EVENTS} ${SINGLE ? 'custom events (one per request)' : `object.created events (batch creates of ${BATCH})`} -> ${runs.length} runs (emitted in ${(emitted / 1000).toFixed(1)} s, ${((EVENTS / emitted) * 1000).toFixed(0)}/s)`);
  const first = Math.min(...runs.map((r) => Date.parse(r.created_at)));
  const last = Math.max(...runs.map((r) => Date.parse(r.finished_at)));
  console.log(`  ${((EVENTS / elapsed) * 1000).toFixed(0)} runs/s end to end (first emit to last run done; includes emitting)`);
  console.log(`  ${((runs.length / (last - first)) * 1000).toFixed(0)} runs/s worked (first run created to last run done)`);
  console.log(`  server CPU: ${((cpu / EVENTS) * 1000).toFixed(0)} ms per 1,000 events (emitting and running; the server is one thread), ${((cpu / elapsed) * 100).toFixed(0)}% of a core over the phase`);
  console.log(`  emit -> run done: p50 ${ms(percentile(lags, 50))}, p99 ${ms(percentile(lags, 99))}`);
  // Where a run waited: the event to its run (the outbox consumer), the run to its start (the queue), the work.
  const t0Of = (r: any) => (SINGLE ? r.input.event.data.t0 : r.input.event.data.properties.t0);
  const stage = (f: (r: any) => number) => ms(percentile(runs.map(f), 50));
  console.log(`  p50 by stage: emit -> run created ${stage((r) => Date.parse(r.created_at) - t0Of(r))}, created -> started ${stage((r) => Date.parse(r.started_at) - Date.parse(r.created_at))}, started -> done ${stage((r) => Date.parse(r.finished_at) - Date.parse(r.started_at))}`);
  const rate = (runs.length / (last - first)) * 1000;
  console.log(`  [target >= 500 runs/s worked: ${rate >= 500 ? 'met' : 'MISSED'}]`);
  await fairness();
} finally {
  stopping = true;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await cleanup();
}

// ---- fairness: one tenant floods 100x --------------------------------------------------------------------

async function fairness() {
  const tenants = [await newTenant('Flood'), ...(await Promise.all(Array.from({ length: QUIET }, (_, i) => newTenant(`Quiet ${i}`))))];
  const automations: string[] = [];
  for (const t of tenants) {
    if ((await call('POST', '/v1/object-types', t.token, { name: 'items' })).status !== 201) throw new Error('type');
    await call('POST', '/v1/object-types/items/properties', t.token, { name: 'n', data_type: 'number' });
    const made = await call('POST', '/v1/automations', t.token, {
      name: 'on item',
      trigger_event: 'object.created',
      actions: [{ type: 'emit_event', input: { event_type: 'custom.item_seen', data: { n: '{{ data.properties.n }}' } } }],
    });
    if (made.status !== 201) throw new Error(`automation: ${JSON.stringify(made.body)}`);
    automations.push(made.body.data.id);
  }
  const batch = async (token: string, from: number, n: number) => {
    const res = await call('POST', '/v1/objects/items/batch/create', token, { objects: Array.from({ length: n }, (_, i) => ({ properties: { n: from + i } })) });
    if (res.status !== 201) throw new Error(`batch: ${res.status} ${JSON.stringify(res.body)}`);
  };
  const flood = FAIR_EVENTS * 100;
  const [noisy, ...quiet] = tenants;
  // The flood is submitted first (in batches of 100), the quiet tenants' records right after it.
  for (let i = 0; i < flood; i += 100) await batch(noisy!.token, i, Math.min(100, flood - i));
  await Promise.all(quiet.map((t) => batch(t.token, 0, FAIR_EVENTS)));
  const runsOf = async (i: number) => {
    const all: any[] = [];
    for (let offset = 0; ; offset += 200) {
      const page = (await call('GET', `/v1/automations/${automations[i]}/runs?limit=200&offset=${offset}`, tenants[i]!.token)).body.data;
      all.push(...page.runs);
      if (all.length >= page.total) return all;
    }
  };
  const doneCount = async (i: number) => (await call('GET', `/v1/automations/${automations[i]}/runs?status=succeeded&limit=1`, tenants[i]!.token)).body.data.total as number;
  await waitUntilAsync(async () => (await Promise.all(tenants.map((_, i) => doneCount(i)))).every((n, i) => n >= (i === 0 ? flood : FAIR_EVENTS)), 'the fairness runs');
  const all = await Promise.all(tenants.map((_, i) => runsOf(i)));
  const span = (runs: any[]) => ({ start: Math.min(...runs.map((r) => Date.parse(r.created_at))), end: Math.max(...runs.map((r) => Date.parse(r.finished_at))) });
  const everything = span(all.flat());
  const capacity = (all.flat().length / (everything.end - everything.start)) * 1000;
  const fairSeconds = (QUIET + 1) * FAIR_EVENTS / capacity;
  const shares = all.slice(1).map((runs) => {
    const s = span(runs);
    return Math.min(1, fairSeconds / ((s.end - s.start) / 1000));
  });
  const floodSpan = span(all[0]!);
  const worst = Math.min(...shares);
  console.log(`fairness: 1 tenant floods ${flood} runs, ${QUIET} others ${FAIR_EVENTS} each, submitted just after`);
  console.log(`  ${capacity.toFixed(0)} runs/s in all; the flood took ${((floodSpan.end - floodSpan.start) / 1000).toFixed(1)} s`);
  console.log(`  quiet tenants' runs took ${all.slice(1).map((r) => ((span(r).end - span(r).start) / 1000).toFixed(2)).join(', ')} s (a fair share: ${fairSeconds.toFixed(2)} s)`);
  console.log(`  share of fair throughput kept: min ${(worst * 100).toFixed(0)}%, mean ${((shares.reduce((a, b) => a + b, 0) / shares.length) * 100).toFixed(0)}%  [target >= 90%: ${worst >= 0.9 ? 'met' : 'MISSED'}]`);
}

async function waitUntilAsync(probe: () => Promise<boolean>, what: string, timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
