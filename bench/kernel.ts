/**
 * Kernel benchmark: an authenticated, tenant-scoped read (GET /v1/keys: key check, rate limit, quota,
 * a transaction under row-level security) against a bare Hono route doing one primary-key SELECT on the
 * same database. Prints req/s and p99 latency of both and their ratio (target >= 0.75 on PostgreSQL).
 *
 *   npm run bench:kernel                                    # embedded PGlite
 *   DATABASE_URL=postgres://... [REDIS_URL=...] npm run bench:kernel
 *   BENCH_SECONDS=10 BENCH_ROUNDS=7 BENCH_CONNECTIONS=20 npm run bench:kernel
 *
 * The servers run in a child process so that autocannon does not share their event loop. Both share
 * that process and its pool, so this ratio is the kernel's overhead over Drizzle there, not the limit:
 * bench:read-path measures the object read against an independent bare server in a process of its own.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import autocannon from 'autocannon';
import { median } from './support.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);

const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'kernel-server.ts')], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: process.env,
});
const first = await new Promise<string>((resolve) => readline.createInterface({ input: child.stdout! }).once('line', resolve));
const info = JSON.parse(first) as { appPort: number; basePort: number; token: string; database: string; redis: boolean };

interface Run {
  rps: number;
  p50: number;
  p99: number;
}

async function measure(url: string, headers: Record<string, string>, duration: number): Promise<Run> {
  const result = await autocannon({ url, connections, duration, headers });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}


const baseUrl = `http://127.0.0.1:${info.basePort}/baseline`;
const preparedUrl = `http://127.0.0.1:${info.basePort}/baseline-prepared`;
const appUrl = `http://127.0.0.1:${info.appPort}/v1/keys`;
const auth = { authorization: `Bearer ${info.token}` };

try {
  // Warm-up so JIT and pools are hot before anything is measured.
  await measure(baseUrl, {}, 2);
  await measure(preparedUrl, {}, 2);
  await measure(appUrl, auth, 2);
  // The two routes alternate, round by round, so that drift on a shared machine (other processes,
  // autovacuum, CPU frequency) lands on both; medians keep one disturbed round from deciding.
  const base: Run[] = [];
  const prep: Run[] = [];
  const app: Run[] = [];
  const ratios: number[] = [];
  const preparedRatios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const b = await measure(baseUrl, {}, seconds);
    const p = await measure(preparedUrl, {}, seconds);
    const a = await measure(appUrl, auth, seconds);
    base.push(b);
    prep.push(p);
    app.push(a);
    ratios.push(a.rps / b.rps);
    preparedRatios.push(a.rps / p.rps);
  }
  const summary = (runs: Run[]) => ({ rps: median(runs.map((r) => r.rps)), p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)) });
  const b = summary(base);
  const p = summary(prep);
  const a = summary(app);
  console.log(`\nkernel benchmark: ${info.database}${info.redis ? ' + redis' : ''}, ${connections} connections, ${rounds} alternating rounds of ${seconds} s per route\n`);
  const rows = [
    ['route (median of rounds)', 'req/s', 'p50 ms', 'p99 ms'],
    ['baseline: bare Hono, one PK SELECT', b.rps.toFixed(0), String(b.p50), String(b.p99)],
    ['baseline: same, prepared statement', p.rps.toFixed(0), String(p.p50), String(p.p99)],
    ['GET /v1/keys (auth, limits, RLS)', a.rps.toFixed(0), String(a.p50), String(a.p99)],
  ];
  for (const row of rows) console.log(`${row[0]!.padEnd(40)}${row.slice(1).map((c) => c.padStart(10)).join('')}`);
  console.log(`\nratio per round: ${ratios.map((r) => r.toFixed(2)).join(' ')}`);
  console.log(`ratio (median app / median baseline req/s): ${(a.rps / b.rps).toFixed(2)}  (target >= 0.75 on PostgreSQL)`);
  console.log(`ratio against the prepared baseline (the kernel's own cost alone): ${(a.rps / p.rps).toFixed(2)}  (per round: ${preparedRatios.map((r) => r.toFixed(2)).join(' ')})`);
} finally {
  child.kill('SIGTERM');
}
