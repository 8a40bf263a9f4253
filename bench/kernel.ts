/**
 * Kernel benchmark: an authenticated, tenant-scoped read (GET /v1/keys: key check, rate limit, quota,
 * a transaction under row-level security) against a bare Hono route doing one primary-key SELECT on the
 * same database. Prints req/s and p99 latency of both and their ratio (target >= 0.75 on PostgreSQL).
 *
 *   npm run bench:kernel                                    # embedded PGlite
 *   DATABASE_URL=postgres://... [REDIS_URL=...] npm run bench:kernel
 *   BENCH_SECONDS=20 BENCH_CONNECTIONS=20 npm run bench:kernel
 *
 * The servers run in a child process so that autocannon does not share their event loop.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import autocannon from 'autocannon';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);

const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'kernel-server.ts')], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: process.env,
});
const first = await new Promise<string>((resolve) => readline.createInterface({ input: child.stdout! }).once('line', resolve));
const info = JSON.parse(first) as { appPort: number; basePort: number; token: string; database: string; redis: boolean };

async function measure(url: string, headers: Record<string, string> = {}) {
  // A short warm-up so JIT and pools are hot before the measured run.
  await autocannon({ url, connections, duration: 2, headers });
  const result = await autocannon({ url, connections, duration: seconds, headers });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, p99: result.latency.p99, p50: result.latency.p50 };
}

try {
  const base = await measure(`http://127.0.0.1:${info.basePort}/baseline`);
  const app = await measure(`http://127.0.0.1:${info.appPort}/v1/keys`, { authorization: `Bearer ${info.token}` });
  const ratio = app.rps / base.rps;
  const rows = [
    ['route', 'req/s', 'p50 ms', 'p99 ms'],
    ['baseline: bare Hono, one PK SELECT', base.rps.toFixed(0), String(base.p50), String(base.p99)],
    ['GET /v1/keys (auth, limits, RLS tx)', app.rps.toFixed(0), String(app.p50), String(app.p99)],
  ];
  console.log(`\nkernel benchmark: ${info.database}${info.redis ? ' + redis' : ''}, ${connections} connections, ${seconds} s each\n`);
  for (const row of rows) console.log(`${row[0]!.padEnd(40)}${row.slice(1).map((c) => c.padStart(10)).join('')}`);
  console.log(`\nratio (app / baseline req/s): ${ratio.toFixed(2)}  (target >= 0.75 on PostgreSQL)`);
} finally {
  child.kill('SIGTERM');
}
