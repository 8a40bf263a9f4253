/**
 * Outage benchmark: a real `plinth start` process on PostgreSQL, reached through a TCP proxy, under a
 * mixed load of reads and writes for about 60 s; in the middle the proxy is cut for 10 s (live
 * connections destroyed, new ones refused) and then reopened. It prints what the clients saw:
 *
 *   - requests in all, 5xx other than 503 (and any other failure), 503s;
 *   - seconds from the database's return until requests stopped failing;
 *   - writes acknowledged with a 2xx that are not in the database afterwards;
 *   - whether the server process crashed.
 *
 * Targets: 0 crashes, 0 non-503 5xx, recovery under 5 s, 0 lost writes.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:outage
 *   BENCH_OUTAGE_SECONDS=10 BENCH_SECONDS=60 BENCH_CONNECTIONS=8 ... to change the shape
 *
 * It creates its own database on that server and drops it at the end. With REDIS_URL the server uses
 * Redis too (through its own proxy; BENCH_REDIS_OUTAGE_SECONDS cuts it alone first).
 */
import { randomBytes } from 'node:crypto';
import { runOutage, scratchDatabase } from '../test/support/outage.ts';

const TOTAL_S = Number(process.env.BENCH_SECONDS ?? 60);
const OUTAGE_S = Number(process.env.BENCH_OUTAGE_SECONDS ?? 10);
const REDIS_OUTAGE_S = Number(process.env.BENCH_REDIS_OUTAGE_SECONDS ?? 0);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);

async function main() {
  const base = process.env.DATABASE_URL;
  if (!base) {
    process.stderr.write('bench:outage needs DATABASE_URL (a PostgreSQL server it may create a database on)\n');
    process.exit(1);
  }
  const db = await scratchDatabase(base, `plinth_bench_outage_${randomBytes(4).toString('hex')}`);
  process.once('SIGINT', () => void db.drop().then(() => process.exit(130)));
  // The cut sits in the middle: as much load before it as after the database returns.
  const around = Math.max(1, (TOTAL_S - OUTAGE_S - REDIS_OUTAGE_S) / 2) * 1000;
  const started = Date.now();
  try {
    const report = await runOutage({
      databaseUrl: db.url,
      redisUrl: process.env.REDIS_URL,
      warmupMs: around,
      redisOutageMs: REDIS_OUTAGE_S * 1000,
      outageMs: OUTAGE_S * 1000,
      settleMs: around,
      recoveryTimeoutMs: 120_000,
      concurrency: CONNECTIONS,
      log: (line) => process.stdout.write(`  ${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s  ${line}\n`),
    });
    const other5xx = report.failures.filter((f) => f.status >= 500 && f.status !== 503).length;
    const otherFailures = report.failures.length - other5xx;
    const lines = [
      ``,
      `Outage benchmark: ${TOTAL_S} s of load from ${CONNECTIONS} clients, PostgreSQL cut for ${OUTAGE_S} s${process.env.REDIS_URL ? ' (with Redis)' : ''}`,
      `  requests                    ${report.requests}`,
      `  by status                   ${JSON.stringify(report.byStatus)}`,
      `  5xx other than 503          ${other5xx}`,
      `  other failures              ${otherFailures}${otherFailures ? ` ${JSON.stringify(report.failures.slice(0, 5))}` : ''}`,
      `  503s                        ${report.unavailable} (${report.unavailableMalformed.length} without Retry-After or envelope)`,
      `  /ready during the outage    ${[...new Set(report.readyDuringOutage)].join(', ')}`,
      `  seconds to recover          ${report.recoverySeconds === null ? 'did not recover' : report.recoverySeconds.toFixed(2)}`,
      `  acknowledged writes         ${report.acknowledgedWrites}`,
      `  acknowledged writes lost    ${report.lostWrites.length}`,
      `  webhooks not delivered      ${report.undeliveredWebhooks}`,
      `  process crashed             ${report.crashed ? 'yes' : 'no'}`,
      ``,
    ];
    process.stdout.write(lines.join('\n'));
    if (report.crashed) process.stdout.write(`server output:\n${report.serverOutput}\n`);
    const met = !report.crashed && other5xx === 0 && report.recoverySeconds !== null && report.recoverySeconds < 5 && report.lostWrites.length === 0;
    process.stdout.write(`targets (0 crashes, 0 non-503 5xx, recovery < 5 s, 0 lost): ${met ? 'met' : 'NOT met'}\n`);
    process.exitCode = met ? 0 : 1;
  } finally {
    await db.drop();
  }
}

await main();
