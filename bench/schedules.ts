/**
 * Cron firing drift: 10,000 tenant schedules (spread over 10 tenants) whose cron falls on the same
 * second, in one process with the in-process worker, as `plinth start` runs. Drift is how late each
 * fire time became a run (run created - scheduled_for); working the actions follows at the job
 * workers' pace and is not waited for.
 * Target: drift p99 < 1 s.
 *
 *   npm run bench:schedules
 *   BENCH_SCHEDULES=2000 npm run bench:schedules
 *   DATABASE_URL=postgres://... npm run bench:schedules
 *
 * 2026-12-07 (2 cores): PostgreSQL drift p99 529 ms (p50 178), all 10,000 fired 0.72 s after the fire
 * time. PGlite p99 1,448 ms (p50 570): on one session the runs' job sends queued between the claims
 * held each next claim back. With the sends made once every due schedule has its run (PGlite only;
 * PostgreSQL claims on other connections meanwhile): PGlite p99 406 and 412 ms (p50 179-191) in two runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { and, count, eq, isNotNull, sql } from 'drizzle-orm';
import pg from 'pg';
import { bootstrapTenant, createPlatform } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { appRoleFor } from '../src/core/db/client.ts';
import { newId } from '../src/core/http/ids.ts';
import { scheduledJobRuns, scheduledJobs } from '../src/modules/automations/schedules/tables.ts';

const SCHEDULES = Number(process.env.BENCH_SCHEDULES ?? 10_000);
const TENANTS = 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

// On PostgreSQL, a database of its own for the run (dropped after).
let databaseUrl = process.env.DATABASE_URL;
let dropDatabase = async () => {};
if (databaseUrl) {
  const name = `plinth_cron_bench_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  databaseUrl = url.toString();
  dropDatabase = async () => {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.query(`drop role if exists ${appRoleFor(name)}`).catch(() => {});
    await admin.end();
  };
}
const dataDir = databaseUrl ? 'memory://' : fs.mkdtempSync(path.join(os.tmpdir(), 'plinth-bench-'));
const config = loadConfig({ ...process.env, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}), DATA_DIR: dataDir, LOG_LEVEL: 'warn', NODE_ENV: 'production', JOBS_WORKER: 'true' });
const platform = await createPlatform(config);
const { kernel } = platform;
try {
  const tenants: { id: string }[] = [];
  for (let i = 0; i < TENANTS; i++) {
    const made = await bootstrapTenant(kernel, { name: `cron-bench-${i}-${Date.now()}`, plan_tier: 'enterprise' });
    tenants.push({ id: made.tenant.id });
  }
  // One fire time for all, far enough ahead for the rows to be written: second `s` of minute `m`
  // (a cron that fires once an hour, so each schedule fires once in the run).
  const fireAt = new Date(Math.ceil((Date.now() + 15_000 + SCHEDULES * 1.5) / 1000) * 1000);
  const cron = `${fireAt.getUTCSeconds()} ${fireAt.getUTCMinutes()} * * * *`;
  const rows: (typeof scheduledJobs.$inferInsert)[] = [];
  for (let i = 0; i < SCHEDULES; i++) {
    const tenant = tenants[i % TENANTS]!;
    rows.push({
      id: newId('job'),
      tenantId: tenant.id,
      name: `cron ${i}`,
      cronExpression: cron,
      timezone: 'UTC',
      actionType: 'emit_event',
      actionConfig: { event_type: 'custom.cron_bench', data: { at: '{{ data.scheduled_for }}' } },
      nextRunAt: fireAt,
      createdByType: 'system',
    });
  }
  // Rows as POST /v1/scheduled-jobs writes them (the dispatcher is what is measured, not the API).
  for (let i = 0; i < rows.length; i += 500) await kernel.db.system.insert(scheduledJobs).values(rows.slice(i, i + 500));
  const wait = fireAt.getTime() - Date.now();
  console.log(`cron drift on ${kernel.db.kind}: ${SCHEDULES} schedules of ${TENANTS} tenants, all at ${fireAt.toISOString()} (cron "${cron}"), tick ${config.SCHEDULER_TICK_MS} ms; waiting ${(wait / 1000).toFixed(1)} s`);
  await sleep(Math.max(0, wait));
  const countRuns = async (where = sql`true`) => (await kernel.db.system.select({ n: count() }).from(scheduledJobRuns).where(where))[0]!.n;
  const deadline = Date.now() + 600_000;
  while ((await countRuns()) < SCHEDULES && Date.now() < deadline) await sleep(100);
  const firedBy = Date.now();
  // Working the 10,000 actions takes the worker's time; only how late they fired is measured here.
  const runs = await kernel.db.system
    .select({ scheduledFor: scheduledJobRuns.scheduledFor, createdAt: scheduledJobRuns.createdAt, finishedAt: scheduledJobRuns.finishedAt, status: scheduledJobRuns.status })
    .from(scheduledJobRuns)
    .where(and(isNotNull(scheduledJobRuns.scheduledFor), eq(scheduledJobRuns.trigger, 'schedule')));
  const drift = runs.map((r) => r.createdAt.getTime() - r.scheduledFor!.getTime());
  const done = runs.filter((r) => r.finishedAt).map((r) => r.finishedAt!.getTime() - r.scheduledFor!.getTime());
  const ok = drift.length ? percentile(drift, 99) < 1000 : false;
  console.log(`  ${runs.length} fired (one run per schedule: ${new Set(runs.map((r) => r.scheduledFor!.getTime())).size === 1 && runs.length === SCHEDULES}), all fired ${((firedBy - fireAt.getTime()) / 1000).toFixed(2)} s after the fire time`);
  console.log(`  firing drift (run created - fire time): min ${Math.min(...drift)} ms, p50 ${percentile(drift, 50)} ms, p99 ${percentile(drift, 99)} ms, max ${Math.max(...drift)} ms  [target p99 < 1000 ms: ${ok ? 'met' : 'MISSED'}]`);
  if (done.length) console.log(`  ${done.length} actions done by then (done - fire time p50 ${percentile(done, 50)} ms)`);
} finally {
  await platform.close();
  await dropDatabase();
  if (dataDir !== 'memory://') fs.rmSync(dataDir, { recursive: true, force: true });
}
