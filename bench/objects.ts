/**
 * Data engine benchmark: one tenant, one object type, loaded with 10k, 100k and 1M records (bulk SQL
 * for setup speed), measured over HTTP against a server in a child process:
 *
 *   - a filtered and sorted list on indexed properties (status = open, by amount desc; page 1 and
 *     page 10 through cursors), a filter with a range on the sort property, and two filters in the
 *     default order (newest first); every list counts its matches (exact up to 1,000) as by default;
 *   - get by id: latency, and throughput under 10 connections;
 *   - the kernel benchmark's baseline on the same database: a bare Hono route doing one primary-key
 *     SELECT (bench/kernel-server.ts), and the kernel's own GET /v1/keys, for the ratio.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:objects
 *   BENCH_SIZES=10000,100000 BENCH_SECONDS=5 ... for a shorter run
 *
 * It creates its own database on that server and drops it at the end (also on failure or Ctrl-C);
 * BENCH_KEEP=1 keeps it (and says its name) for EXPLAIN-ing queries afterwards.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import autocannon from 'autocannon';
import { eq, sql } from 'drizzle-orm';
import { Hono } from 'hono';
import pg from 'pg';
import { bootstrapTenant, createKernel, createPlatform } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { tenants } from '../src/modules/tenants/tables.ts';
import { appRoleFor } from '../src/core/db/client.ts';

const SIZES = (process.env.BENCH_SIZES ?? '10000,100000,1000000').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 300);
const CHUNK = 100_000;

/**
 * Child process: the platform on the benchmark database, and beside it the kernel benchmark's baseline
 * (a bare Hono route doing one primary-key SELECT through the same pool), each on a free port.
 */
async function serveForBenchmark() {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent', JOBS_WORKER: 'false', NODE_ENV: 'production' });
  const platform = await createPlatform(config, { migrate: false });
  const tenantId = process.env.BENCH_TENANT_ID!;
  const baseline = new Hono();
  baseline.get('/baseline', async (c) => {
    const [row] = await platform.kernel.db.system.select().from(tenants).where(eq(tenants.id, tenantId));
    return c.json({ success: true, data: row });
  });
  const listen = (fetch: (req: Request) => Response | Promise<Response>) =>
    new Promise<number>((resolve) => serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(info.port)));
  process.send!({ port: await listen(platform.app.fetch), basePort: await listen(baseline.fetch) });
}

async function main() {
  const base = process.env.DATABASE_URL;
  if (!base) {
    process.stderr.write('bench:objects needs DATABASE_URL (a PostgreSQL server it may create a database on)\n');
    process.exit(1);
  }
  const dbName = `plinth_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  const url = new URL(base);
  url.pathname = `/${dbName}`;
  const dbUrl = url.toString();
  const cleanup = async () => {
    server?.kill();
    if (process.env.BENCH_KEEP === '1') process.stdout.write(`kept database ${dbName}\n`);
    else {
      await admin.query(`drop database if exists ${dbName} with (force)`).catch(() => {});
      await admin.query(`drop role if exists ${appRoleFor(dbName)}`).catch(() => {});
    }
    await admin.end().catch(() => {});
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    await run(dbUrl);
  } finally {
    await cleanup();
  }
}

let server: ChildProcess | undefined;

function startServer(dbUrl: string, tenantId: string): Promise<{ port: number; basePort: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--server'], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, DATABASE_URL: dbUrl, BENCH_TENANT_ID: tenantId },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  server = child;
  return new Promise((resolve, reject) => {
    child.once('message', (m: { port: number; basePort: number }) => resolve(m));
    child.once('exit', (code) => reject(new Error(`benchmark server exited with ${code}`)));
  });
}

const pct = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const ms = (n: number) => `${n.toFixed(2)} ms`;

async function run(dbUrl: string): Promise<void> {
  const kernel = await createKernel(loadConfig({ DATABASE_URL: dbUrl, LOG_LEVEL: 'silent', JOBS_WORKER: 'false' }));
  const { tenant, token } = await bootstrapTenant(kernel, {
    name: 'Benchmark',
    plan_tier: 'enterprise',
    plan_limits: { rate_limit_per_minute: 1_000_000_000, requests_per_month: 1_000_000_000_000 },
  });
  const { port, basePort } = await startServer(dbUrl, tenant.id);
  const origin = `http://127.0.0.1:${port}`;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(origin + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const json = (await res.json()) as { data: any };
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json.data;
  };

  await call('POST', '/v1/object-types', { name: 'bench' });
  const typeId = (await call('GET', '/v1/object-types/bench')).id as string;
  const prop = async (body: Record<string, unknown>) => (await call('POST', '/v1/object-types/bench/properties', body)).id as string;
  await prop({ name: 'name', data_type: 'string' });
  const statusId = await prop({ name: 'status', data_type: 'enum', enum_values: ['open', 'won', 'lost', 'new'], is_indexed: true });
  const amountId = await prop({ name: 'amount', data_type: 'number', is_sortable: true });
  const regionId = await prop({ name: 'region', data_type: 'enum', enum_values: ['eu', 'us', 'apac'], is_indexed: true });

  // The values are functions of the row number, written identically to the JSON and the typed index.
  const status = `(array['open','won','lost','new'])[1 + (g * 7) % 4]`;
  const amount = `(((g::bigint * 7919) % 1000000) / 100.0)`;
  const region = `(array['eu','us','apac'])[1 + (g * 13) % 3]`;
  const id = `'obj_' || lpad(g::text, 26, '0')`;

  async function load(from: number, to: number) {
    await kernel.db.withSession(async (db) => {
      const q = (text: string) => db.execute(sql.raw(text));
      // Foreign-key triggers are skipped for the bulk load (the rows are consistent by construction).
      await q(`set session_replication_role = replica`).catch(() => {});
      for (let start = from; start <= to; start += CHUNK) {
        const end = Math.min(to, start + CHUNK - 1);
        const series = `generate_series(${start}, ${end}) g`;
        await q('begin');
        await q(`insert into objects (id, tenant_id, object_type_id, properties, search, version, created_by, updated_by)
          select ${id}, '${tenant.id}', '${typeId}',
            jsonb_build_object('name', 'Company ' || g, 'status', ${status}, 'amount', ${amount}, 'region', ${region}),
            to_tsvector('simple', 'Company ' || g), 1, 'bench', 'bench' from ${series}`);
        await q(`insert into object_index (tenant_id, object_id, property_id, ord, value_text) select '${tenant.id}', ${id}, '${statusId}', 0, ${status} from ${series}`);
        await q(`insert into object_index (tenant_id, object_id, property_id, ord, value_num) select '${tenant.id}', ${id}, '${amountId}', 0, ${amount} from ${series}`);
        await q(`insert into object_index (tenant_id, object_id, property_id, ord, value_text) select '${tenant.id}', ${id}, '${regionId}', 0, ${region} from ${series}`);
        await q('commit');
      }
      await q(`set session_replication_role = origin`).catch(() => {});
    });
    await kernel.db.raw('vacuum analyze objects');
    await kernel.db.raw('vacuum analyze object_index');
  }

  const LIST_A = '/v1/objects/bench/list?filter=status:eq:open&sort=amount&order=desc&limit=20';
  const LIST_B = '/v1/objects/bench/list?filter=region:eq:eu&filter=amount:gte:5000&sort=amount&order=asc&limit=20';
  const LIST_C = '/v1/objects/bench/list?filter=status:eq:open&filter=region:eq:us&limit=20';

  async function latency(path: () => string, n = SAMPLES) {
    for (let i = 0; i < 20; i++) await fetch(origin + path(), { headers }).then((r) => r.arrayBuffer());
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      const res = await fetch(origin + path(), { headers });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${path()}: ${res.status}`);
      times.push(performance.now() - started);
    }
    return { p50: pct(times, 50), p95: pct(times, 95), p99: pct(times, 99) };
  }

  async function throughput(path: (() => string) | string, url = origin) {
    await autocannon({ url, connections: CONNECTIONS, duration: 2, headers, requests: [{ method: 'GET', path: typeof path === 'string' ? path : path() }] });
    const result = await autocannon({
      url,
      connections: CONNECTIONS,
      duration: SECONDS,
      headers,
      requests: [typeof path === 'string' ? { method: 'GET', path } : { method: 'GET', setupRequest: (req) => ({ ...req, path: path() }) }],
    });
    if (result.non2xx || result.errors) throw new Error(`throughput run had ${result.non2xx} non-2xx and ${result.errors} errors`);
    return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
  }

  const rows: Record<string, string | number>[] = [];
  let loaded = 0;
  for (const size of SIZES) {
    const started = performance.now();
    await load(loaded + 1, size);
    const loadSeconds = (performance.now() - started) / 1000;
    loaded = size;

    const page1 = await call('GET', LIST_A);
    let cursor: string = page1.next_cursor;
    for (let i = 2; i < 10; i++) cursor = (await call('GET', `${LIST_A}&cursor=${cursor}`)).next_cursor;
    const page10 = `${LIST_A}&cursor=${cursor}`;
    const check = await call('GET', page10);
    if (check.results.length !== 20) throw new Error('page 10 is short');

    const randomId = () => `/v1/objects/bench/obj_${String(1 + Math.floor(Math.random() * size)).padStart(26, '0')}`;
    // Warm the server (JIT, pools, plan and buffer caches) before anything is measured.
    for (const path of [LIST_A, page10, LIST_B, LIST_C]) await latency(() => path, 100);
    await latency(randomId, 200);
    const listA = await latency(() => LIST_A);
    const listA10 = await latency(() => page10);
    const listB = await latency(() => LIST_B);
    const listC = await latency(() => LIST_C);
    const get = await latency(randomId);
    const getRps = await throughput(randomId);
    const baseRps = await throughput('/baseline', `http://127.0.0.1:${basePort}`);
    const keysRps = await throughput('/v1/keys');
    const row = {
      records: size,
      load_s: Number(loadSeconds.toFixed(1)),
      list_p50: listA.p50,
      list_p95: listA.p95,
      list_page10_p50: listA10.p50,
      list_range_p50: listB.p50,
      list_newest_p50: listC.p50,
      get_p50: get.p50,
      get_p95: get.p95,
      get_rps: Math.round(getRps.rps),
      baseline_rps: Math.round(baseRps.rps),
      keys_rps: Math.round(keysRps.rps),
    };
    rows.push(row);
    process.stdout.write(
      `\n${size.toLocaleString('en')} records (loaded in ${row.load_s} s)\n` +
        `  list status=open by amount desc, page 1   p50 ${ms(listA.p50)}  p95 ${ms(listA.p95)}  p99 ${ms(listA.p99)}\n` +
        `  same list, page 10 (cursor)               p50 ${ms(listA10.p50)}  p95 ${ms(listA10.p95)}\n` +
        `  list region=eu, amount>=5000, by amount   p50 ${ms(listB.p50)}  p95 ${ms(listB.p95)}\n` +
        `  list status=open, region=us, newest first p50 ${ms(listC.p50)}  p95 ${ms(listC.p95)}\n` +
        `  get by id                                 p50 ${ms(get.p50)}  p95 ${ms(get.p95)}\n` +
        `  get by id throughput (${CONNECTIONS} connections)    ${row.get_rps} req/s (p50 ${getRps.p50} ms, p99 ${getRps.p99} ms)\n` +
        `  kernel baseline (bare route, one PK read) ${row.baseline_rps} req/s;  GET /v1/keys ${row.keys_rps} req/s\n`,
    );
  }

  process.stdout.write('\nSummary\n');
  console.table(rows);
  const first = rows[0]!;
  const last = rows.at(-1)!;
  process.stdout.write(
    `list p50 at ${Number(last.records).toLocaleString('en')} / at ${Number(first.records).toLocaleString('en')}: ${(Number(last.list_p50) / Number(first.list_p50)).toFixed(2)}x (target <= 2x)\n` +
      `get-by-id throughput / baseline at ${Number(last.records).toLocaleString('en')}: ${(Number(last.get_rps) / Number(last.baseline_rps)).toFixed(2)} (target >= 0.7)\n`,
  );
  await kernel.close();
}

if (process.argv.includes('--server')) await serveForBenchmark();
else await main();
