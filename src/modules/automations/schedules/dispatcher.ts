import { and, eq, isNotNull, sql } from 'drizzle-orm';
import { rows } from '../../../core/db/client.ts';
import { logLoopFailure } from '../../../core/db/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { executeJobRun, parseCron } from './service.ts';
import { scheduledJobs } from './tables.ts';

const FIRE_JOB = 'automations.scheduled-run';
/** A fire time later than this is "missed" (no worker was running): run once or skipped, per the job. */
const MISSED_AFTER_MS = 60_000;
/** Due jobs claimed per statement: 10,000 schedules on one second fire in 4 of them. */
const BATCH = 2500;
/** Batches claimed at once when more than one is due (separate connections; the database has cores). */
const CLAIMERS = 2;

interface FireJob {
  tenantId: string;
  runId: string;
}

/**
 * The per-tenant scheduler. pg-boss keeps one cron per queue name, so tenant schedules have their own
 * dispatcher: every process ticks, and a tick claims due rows with FOR UPDATE SKIP LOCKED, writes one
 * run per fire time (unique on tenant, job and fire time) and moves `next_run_at` on, in one
 * statement; the runs are then worked as pg-boss jobs. However many processes tick, a fire time
 * becomes one run. Fire times missed while no process ran come out as one run (`run_once`) or none
 * (`skip`), and the next one is computed from now.
 */
export class ScheduleDispatcher {
  private timer?: NodeJS.Timeout;
  private wakeup?: NodeJS.Timeout;
  private ticking?: Promise<number>;
  private closed = false;

  constructor(private readonly kernel: Kernel) {}

  static register(kernel: Kernel): ScheduleDispatcher {
    const dispatcher = new ScheduleDispatcher(kernel);
    kernel.jobs.define<FireJob>(FIRE_JOB, { retryLimit: 0, expireInSeconds: 15 * 60, concurrency: 4, batchSize: 25, handler: (job) => executeJobRun(kernel, job.tenantId, job.runId).then(() => {}) });
    // Only processes that work jobs dispatch (JOBS_WORKER); the first tick waits for the queues to exist.
    if (kernel.config.JOBS_WORKER) {
      dispatcher.timer = setInterval(() => void dispatcher.tick(), kernel.config.SCHEDULER_TICK_MS);
      dispatcher.timer.unref();
    }
    kernel.onClose(() => {
      dispatcher.closed = true;
      clearInterval(dispatcher.timer);
      clearTimeout(dispatcher.wakeup);
    });
    return dispatcher;
  }

  /** Claims and fires what is due, batch after batch until nothing is; returns how many runs it created. */
  tick(): Promise<number> {
    if (this.closed) return Promise.resolve(0);
    this.ticking ??= (async () => {
      // CLAIMERS batches are claimed at once on separate connections (SKIP LOCKED gives each its own
      // rows), and a batch's jobs are queued while the next batch is claimed.
      let total = 0;
      const sends: Promise<void>[] = [];
      // On one session (PGlite) a send queued between two claims holds the second back: there the
      // runs' jobs are sent once every due schedule has its run, so a fire time is late by the claims
      // alone (bench:schedules: 10,000 at once, drift p99 1.45 s with the sends between the claims).
      const held: FireJob[][] = [];
      const oneSession = this.kernel.db.kind === 'pglite';
      const send = (created: FireJob[]) => this.kernel.jobs.sendMany<FireJob>(FIRE_JOB, created.map((data) => ({ data })));
      const batch = async () => {
        const { created, claimed } = await this.fire();
        total += created.length;
        if (oneSession) held.push(created);
        else sends.push(send(created));
        return claimed >= BATCH && !this.closed;
      };
      try {
        // A full first batch: there is more, claimed by CLAIMERS loops at once until one comes short.
        if (await batch()) {
          await Promise.all(
            Array.from({ length: CLAIMERS }, async () => {
              while (await batch());
            }),
          );
        }
      } finally {
        for (const created of held) sends.push(send(created));
        await Promise.all(sends);
      }
      await this.armForNext();
      return total;
    })()
      .catch((error: unknown) => {
        if (!this.closed) logLoopFailure(this.kernel.log, error, 'scheduler tick failed', {}, 'warn');
        return 0;
      })
      .finally(() => {
        this.ticking = undefined;
      });
    return this.ticking;
  }

  /**
   * The interval bounds how late a fire time is seen; when the next one is nearer than that, a timer
   * wakes this process at it, so a schedule fires within milliseconds of its time, not up to a tick late.
   */
  private async armForNext(): Promise<void> {
    if (this.closed || !this.timer) return;
    const [next] = await this.kernel.db.system
      .select({ at: sql<Date | string | null>`min(${scheduledJobs.nextRunAt})` })
      .from(scheduledJobs)
      .where(and(eq(scheduledJobs.enabled, true), isNotNull(scheduledJobs.nextRunAt)));
    if (!next?.at) return;
    const wait = new Date(next.at).getTime() - this.kernel.clock.now();
    if (wait >= this.kernel.config.SCHEDULER_TICK_MS) return;
    clearTimeout(this.wakeup);
    this.wakeup = setTimeout(() => void this.tick(), Math.max(0, wait) + 2);
    this.wakeup.unref();
  }

  /**
   * One batch of due jobs, claimed, fired and moved on in one statement (one round trip, one commit):
   * the due rows are locked FOR UPDATE SKIP LOCKED (another process takes the next ones), a run is
   * inserted per fire time (unique on tenant, job and fire time: a fire time is one run whatever else
   * happens) and `next_run_at` moves to the next fire time. Next fire times come from croner, once per
   * cron expression and zone due (10,000 schedules often share a handful), computed before the
   * statement; a due row whose cron was not computed (saved meanwhile) waits for the next batch.
   */
  private async fire(): Promise<{ created: FireJob[]; claimed: number }> {
    const now = new Date(this.kernel.clock.now());
    const db = this.kernel.db.system;
    // One-time jobs (no cron) come back as a null cron: an empty answer means nothing is due, and the
    // tick ends here instead of making BATCH run ids and sending them with a claim that finds nothing
    // (every second on every worker: 2,500 ids and a 90 KB statement, seen in request latency tails).
    const found = rows<{ cron: string | null; tz: string }>(
      await db.execute(sql`
        select distinct ${scheduledJobs.cronExpression} as cron, ${scheduledJobs.timezone} as tz from ${scheduledJobs}
        where ${scheduledJobs.enabled} and ${scheduledJobs.nextRunAt} <= ${now.toISOString()}::timestamptz`),
    );
    if (found.length === 0) return { created: [], claimed: 0 };
    const due = found.filter((d): d is { cron: string; tz: string } => d.cron !== null);
    const nexts = due.map(({ cron, tz }) => {
      try {
        return parseCron(cron, tz).nextRun(now)?.toISOString() ?? null;
      } catch {
        return null;
      }
    });
    const ids = Array.from({ length: BATCH }, () => newId('jrun'));
    const [result] = rows<{ claimed: number | string; runs: [string, string][] | string | null }>(
      await db.execute(sql`
        with nexts (cron, tz, next) as (
          select * from unnest(${sql.param(due.map((d) => d.cron))}::text[], ${sql.param(due.map((d) => d.tz))}::text[], ${sql.param(nexts)}::timestamptz[])
        ),
        due as (
          select j.tenant_id, j.id, j.next_run_at, j.cron_expression, j.timezone,
            (j.missed_runs = 'skip' and j.next_run_at < ${now.toISOString()}::timestamptz - make_interval(secs => ${MISSED_AFTER_MS / 1000})) as skipped
          from scheduled_jobs j
          where j.enabled and j.next_run_at <= ${now.toISOString()}::timestamptz
            and (j.cron_expression is null or exists (select 1 from nexts n where n.cron = j.cron_expression and n.tz = j.timezone))
          order by j.next_run_at
          limit ${BATCH}
          for update skip locked
        ),
        numbered as (select d.*, row_number() over () as k from due d),
        runs as (
          insert into scheduled_job_runs (id, tenant_id, job_id, trigger, status, scheduled_for)
          select (${sql.param(ids)}::text[])[k], tenant_id, id, 'schedule', 'pending', next_run_at from numbered where not skipped
          on conflict do nothing
          returning id, tenant_id
        ),
        moved as (
          update scheduled_jobs j
          set next_run_at = n.next, last_status = case when d.skipped then 'skipped' else j.last_status end
          from numbered d left join nexts n on n.cron = d.cron_expression and n.tz = d.timezone
          where j.tenant_id = d.tenant_id and j.id = d.id
          returning 1
        )
        select (select count(*) from moved) as claimed, (select json_agg(json_build_array(r.tenant_id, r.id)) from runs r) as runs`),
    );
    const runs = typeof result?.runs === 'string' ? (JSON.parse(result.runs) as [string, string][]) : (result?.runs ?? []);
    return { created: runs.map(([tenantId, runId]) => ({ tenantId, runId })), claimed: Number(result?.claimed ?? 0) };
  }
}
