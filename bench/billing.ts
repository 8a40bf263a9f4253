/**
 * Billing usage benchmark, against `plinth start` in a child process (so the clients do not share its
 * event loop):
 *  1. ingest: usage records through the agent service API (POST /api/v1/billing/tenants/{id}/usage) in
 *     batches of 100 from concurrent clients, each record with its own idempotency key: records/s;
 *  2. replay: every batch sent again: how many records were counted twice (must be 0), and the total in
 *     GET /v1/billing/usage against the number of distinct records;
 *  3. lag: a fresh batch, then GET /v1/billing/usage until it shows it: p50/p99/max.
 *
 * The rate depends on what else the machine runs, so the bench also prints the CPU time the ingest
 * took (Linux: the server process, the database's sessions when PostgreSQL runs here, and this
 * process sending the requests) per 1,000 records, with the machine's load average beside it.
 *
 *   npm run bench:billing                                         # embedded PGlite
 *   DATABASE_URL=postgres://... npm run bench:billing
 *   BENCH_RECORDS=200000 BENCH_CLIENTS=16 npm run bench:billing
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { appRoleFor } from '../src/core/db/client.ts';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 100_000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 16);
const LAG_PROBES = Number(process.env.BENCH_LAG_PROBES ?? 50);
const BATCH = 100;
const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';
const TARGET_RATE = 20_000;
const TARGET_LAG_MS = 1_000;

/** CPU seconds (user + system) of a process on this machine, from /proc; null where there is none to read. */
function processCpu(pid: number): number | null {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
const CLOCK_TICKS = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

const env: Record<string, string> = {
  ...(process.env as Record<string, string>),
  PORT: '0',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  PLINTH_ADMIN_KEY: ADMIN_KEY,
  DB_POOL_MAX: '20',
};
let cleanup = async () => {};
let database = 'embedded PGlite';
/** CPU seconds so far of each database session serving the bench (PostgreSQL on this machine only). */
let databaseCpu: () => Promise<Map<number, number> | null> = async () => null;
if (process.env.DATABASE_URL) {
  const name = `plinth_bench_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(process.env.DATABASE_URL);
  url.pathname = `/${name}`;
  env.DATABASE_URL = url.toString();
  database = 'PostgreSQL';
  databaseCpu = async () => {
    const sessions = new Map<number, number>();
    for (const { pid } of (await admin.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [name])).rows) {
      const seconds = processCpu(pid);
      if (seconds === null) return null;
      sessions.set(pid, seconds);
    }
    return sessions;
  };
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

const child = spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), path.join(import.meta.dirname, '../bin/plinth.mjs'), 'start'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
const started = Date.now();
while (!/listening on http/.test(out)) {
  if (Date.now() - started > 300_000 || child.exitCode !== null) {
    child.kill('SIGKILL');
    await cleanup();
    throw new Error('the server did not start');
  }
  await sleep(50);
}
const port = Number(/listening on http:\/\/[^:]+:(\d+)/.exec(out)![1]);
const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS * 2 });

/** One request; a connection the server reset is tried again (usage batches are idempotent by their keys). */
async function call(method: string, url: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await request(method, url, token, body);
    } catch (error) {
      if (attempt >= 3 || !['ECONNRESET', 'EPIPE'].includes((error as { code?: string }).code ?? '')) throw error;
      retries++;
    }
  }
}
let retries = 0;

function request(method: string, url: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      `http://127.0.0.1:${port}${url}`,
      { method, agent, headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) } },
      (res) => {
        let text = '';
        res.on('error', reject);
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

try {
  const made = await call('POST', '/v1/admin/tenants', ADMIN_KEY, {
    name: 'Billing bench',
    plan_tier: 'enterprise',
    plan_limits: { rate_limit_per_minute: 100_000_000, requests_per_month: 1_000_000_000 },
  });
  if (made.status !== 201) throw new Error(`tenant: ${JSON.stringify(made.body)}`);
  const token: string = made.body.data.api_key.token;
  const tenantId: string = made.body.data.tenant.id;
  const usagePath = `/api/v1/billing/tenants/${tenantId}/usage`;
  const batch = (n: number, prefix = 'r') => Array.from({ length: BATCH }, (_, i) => ({ feature_key: 'requests', quantity: 1, idempotency_key: `${prefix}${n * BATCH + i}` }));
  const batches = Math.ceil(RECORDS / BATCH);

  /** Sends batches 0..batches-1 from CLIENTS callers; the sum of `accepted` and `duplicates`. */
  async function send(prefix: string) {
    let next = 0;
    let accepted = 0;
    let duplicates = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < batches) {
          const n = next++;
          const res = await call('POST', usagePath, token, batch(n, prefix));
          if (res.status !== 202) throw new Error(`usage: ${res.status} ${JSON.stringify(res.body)}`);
          accepted += res.body.data.accepted;
          duplicates += res.body.data.duplicates;
        }
      }),
    );
    return { accepted, duplicates };
  }

  // Warm-up (connections, prepared plans), not counted.
  await send('warm');
  const total = async () => (await call('GET', '/v1/billing/usage?feature_key=requests', token)).body.data.features[0]?.quantity ?? 0;
  const before = await total();

  const cpuBefore = { server: processCpu(child.pid!), database: await databaseCpu(), client: process.cpuUsage() };
  const t0 = now();
  const ingest = await send('r');
  const seconds = (now() - t0) / 1000;
  const client = process.cpuUsage(cpuBefore.client);
  const cpuAfter = { server: processCpu(child.pid!), database: await databaseCpu() };
  const cpu = {
    server: cpuBefore.server !== null && cpuAfter.server !== null ? cpuAfter.server - cpuBefore.server : null,
    // Per session: one that opened during the ingest counts from zero (one that closed is lost: pools keep theirs while busy).
    database: cpuBefore.database && cpuAfter.database ? [...cpuAfter.database].reduce((sum, [pid, s]) => sum + s - (cpuBefore.database!.get(pid) ?? 0), 0) : null,
    client: (client.user + client.system) / 1e6,
  };
  const load = os.loadavg();
  const rate = ingest.accepted / seconds;

  const r0 = now();
  const replay = await send('r');
  const replaySeconds = (now() - r0) / 1000;
  const counted = (await total()) - before;
  const doubleCounts = replay.accepted + Math.max(0, counted - batches * BATCH);

  const lags: number[] = [];
  for (let p = 0; p < LAG_PROBES; p++) {
    const expected = (await total()) + BATCH;
    const s = now();
    const res = await call('POST', usagePath, token, batch(p, 'lag'));
    if (res.status !== 202) throw new Error(`lag probe: ${res.status}`);
    while ((await total()) < expected) await sleep(1);
    lags.push(now() - s);
  }

  const ok = (pass: boolean) => (pass ? 'PASS' : 'FAIL');
  console.log(`\nBilling usage ingest (${database}, ${CLIENTS} clients, batches of ${BATCH})`);
  console.log(`  ingested            ${ingest.accepted} records in ${seconds.toFixed(2)} s = ${Math.round(rate)} records/s   target >= ${TARGET_RATE}   ${ok(rate >= TARGET_RATE)}`);
  console.log(`  replay              ${replay.duplicates} records re-sent in ${replaySeconds.toFixed(2)} s (${Math.round(replay.duplicates / replaySeconds)} records/s), ${replay.accepted} counted again`);
  console.log(`  double counts       ${doubleCounts} (usage total ${counted} for ${batches * BATCH} distinct records)   target 0   ${ok(doubleCounts === 0 && counted === batches * BATCH)}`);
  const perThousand = (s: number | null) => (s === null ? 'n/a' : `${((s * 1000 * 1000) / ingest.accepted).toFixed(1)} ms`);
  const cpuTotal = cpu.server !== null ? cpu.server + (cpu.database ?? 0) + cpu.client : null;
  console.log(
    `  CPU per 1,000 recs  server ${perThousand(cpu.server)}${database === 'PostgreSQL' ? `, database ${perThousand(cpu.database)}` : ' (the database runs inside it)'}, load generator ${perThousand(cpu.client)}` +
      // The server is one thread (with PGlite, the database too): it alone can use at most one core.
      (cpuTotal !== null && cpu.server
        ? `: ${os.cpus().length} idle cores would ingest ~${Math.round(Math.min(ingest.accepted / cpu.server, (os.cpus().length * ingest.accepted) / cpuTotal))} records/s`
        : ''),
  );
  console.log(`  machine             ${os.cpus().length} cores, load average ${load.map((l) => l.toFixed(2)).join(' ')} at the end of the ingest`);
  if (retries) console.log(`  (${retries} request(s) sent again after the server reset a kept-alive connection)`);
  console.log(`  lag to /usage       p50 ${percentile(lags, 50).toFixed(1)} ms, p99 ${percentile(lags, 99).toFixed(1)} ms, max ${Math.max(...lags).toFixed(1)} ms   target <= ${TARGET_LAG_MS} ms   ${ok(Math.max(...lags) <= TARGET_LAG_MS)}`);
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  agent.destroy();
  await cleanup();
}
