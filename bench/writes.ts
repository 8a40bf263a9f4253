/**
 * Write-path benchmark, against `plinth start` in a child process: single-record creates
 * (`POST /v1/objects/:type`, an API key, one string property; each is a transaction with the type's
 * schema reads, the insert, its `object.created` event and audit entry) and tracked events
 * (`POST /v1/events`, grouped into shared inserts by the server). Per route: requests/s, p50/p99 and
 * the server's CPU per request (utime + stime from /proc, both threads of a PGlite worker included),
 * the steadier figure on a shared machine. With BENCH_BASELINE the rounds alternate between this
 * checkout's server and that checkout's, each on a database of its own, and the medians are compared.
 *
 *   npm run bench:writes                                         # embedded PGlite
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 npm run bench:writes
 *   BENCH_BASELINE=/path/to/other/checkout BENCH_ROUNDS=3 BENCH_SECONDS=8 BENCH_CONNECTIONS=10
 *
 * 2026-12-07 (2 cores, load 2-4 with both servers up), 3 alternating rounds against the tree before
 * the outbox and audit rows went in as fixed statements (src/core/events/write.ts) and a write's type
 * reads became prepared queries (objects/types/service.ts): on PostgreSQL + Redis, creates 168 against
 * 122 req/s, 3.5 against 5.3 ms of server CPU each (0.66); tracked events 1,619 against 1,075 req/s,
 * 494 against 802 µs each (0.62). On PGlite 0.93 and 0.92 of the CPU (228 against 204 creates/s, 1,339
 * against 1,221 events/s): there a transaction's queries are built on a session of its own, so a
 * prepared query is built again for each, and the engine's own work is most of a write. The CPU
 * counts the whole server: the outbox consumers that read the events are in it.
 */
import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { apiCaller, benchStore, benchTenant, cpuMsOf, plinthEnv, startPlinth, type BenchStore } from './support.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const BASELINE = process.env.BENCH_BASELINE;
const HERE = path.resolve(import.meta.dirname, '..');
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

interface Server {
  label: string;
  child: ChildProcess;
  store: BenchStore;
  base: string;
  token: string;
}

async function startServer(label: string, root: string): Promise<Server> {
  const store = await benchStore('writes');
  const { child, base } = await startPlinth(root, plinthEnv(store));
  const call = apiCaller(base);
  const token = await benchTenant(call, 'Writes bench');
  await call('POST', '/v1/object-types', token, { name: 'items' });
  await call('POST', '/v1/object-types/items/properties', token, { name: 'title', data_type: 'string' });
  return { label, child, store, base, token };
}

async function stop(s: Server) {
  if (s.child.exitCode === null) {
    const exited = new Promise((r) => s.child.once('exit', r));
    s.child.kill('SIGTERM');
    await exited;
  }
  await s.store.cleanup();
}

interface Route {
  name: string;
  path: string;
  body: unknown;
}
const ROUTES: Route[] = [
  { name: 'POST /v1/objects/items (one record)', path: '/v1/objects/items', body: { properties: { title: 'A record' } } },
  { name: 'POST /v1/events (one event)', path: '/v1/events', body: { event_type: 'bench.tracked', data: { n: 1 } } },
];

interface Run {
  rps: number;
  p50: number;
  p99: number;
  cpuUs: number;
}

async function measure(s: Server, route: Route, seconds: number): Promise<Run> {
  const opts = {
    url: `${s.base}${route.path}`,
    method: 'POST' as const,
    connections: CONNECTIONS,
    headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(route.body),
  };
  const cpu = cpuMsOf(s.child.pid);
  const result = await autocannon({ ...opts, duration: seconds });
  const used = cpuMsOf(s.child.pid) - cpu;
  if (result.non2xx || result.errors) throw new Error(`${s.label} ${route.name}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, cpuUs: (used * 1000) / result.requests.total };
}

const servers: Server[] = [];
try {
  servers.push(await startServer('this checkout', HERE));
  if (BASELINE) servers.push(await startServer(`baseline (${BASELINE})`, path.resolve(BASELINE)));
  const runs = new Map<string, Run[]>();
  const key = (s: Server, r: Route) => `${s.label}|${r.name}`;
  // A short warm-up of every route on every server (JIT, prepared statements, pools).
  for (const s of servers) for (const r of ROUTES) await measure(s, r, 2);
  console.log(
    `write-path benchmark: ${servers[0]!.store.database}${process.env.REDIS_URL ? ' + Redis' : ''}, ${CONNECTIONS} connections, ${ROUNDS} alternating round(s) of ${SECONDS} s per route and server; load ${load()}; ${os.cpus().length} cores`,
  );
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...servers].reverse() : servers;
    for (const r of ROUTES) {
      for (const s of order) {
        const run = await measure(s, r, SECONDS);
        runs.set(key(s, r), [...(runs.get(key(s, r)) ?? []), run]);
        console.log(`  round ${round + 1} ${s.label}, ${r.name}: ${run.rps.toFixed(0)} req/s, p99 ${run.p99} ms, ${run.cpuUs.toFixed(0)} µs CPU/request (load ${load()})`);
      }
    }
  }
  console.log('\nmedians of rounds');
  for (const r of ROUTES) {
    for (const s of servers) {
      const rs = runs.get(key(s, r))!;
      console.log(
        `  ${r.name.padEnd(38)} ${s.label.padEnd(16)} ${median(rs.map((x) => x.rps)).toFixed(0).padStart(6)} req/s  p50 ${median(rs.map((x) => x.p50))} ms  p99 ${median(rs.map((x) => x.p99))} ms  ${median(rs.map((x) => x.cpuUs)).toFixed(0).padStart(5)} µs CPU/request`,
      );
    }
    if (servers.length > 1) {
      const [a, b] = servers.map((s) => median(runs.get(key(s, r))!.map((x) => x.cpuUs)));
      console.log(`    CPU per request, this / baseline: ${(a! / b!).toFixed(2)}`);
    }
  }
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  for (const s of servers) await stop(s).catch((e) => console.error(e));
}
