import { and, asc, eq, inArray, isNotNull, lte, sql } from 'drizzle-orm';
import { logLoopFailure } from '../../../core/db/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import type { Cron } from 'croner';
import { executeJobRun, parseCron } from './service.ts';
import { scheduledJobRuns, scheduledJobs } from './tables.ts';

const FIRE_JOB = 'automations.scheduled-run';
/** A fire time later than this is "missed" (no worker was running): run once or skipped, per the job. */
const MISSED_AFTER_MS = 60_000;
/** Due jobs claimed per transaction: 10,000 schedules on one second fire in 10 of them. */
const BATCH = 1000;

interface FireJob {
  tenantId: string;
  runId: string;
}

/**
 * The per-tenant scheduler. pg-boss keeps one cron per queue name, so tenant schedules have their own
 * dispatcher: every process ticks, and a tick claims due rows with FOR UPDATE SKIP LOCKED, writes one
 * run per fire time (unique on tenant, job and fire time) and moves `next_run_at` on, in one
 * transaction; the runs are then worked as pg-boss jobs. However many processes tick, a fire time
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
      // A batch's jobs are queued while the next batch is claimed (separate connections on PostgreSQL).
      let total = 0;
      const sends: Promise<void>[] = [];
      try {
        for (;;) {
          const { created, claimed } = await this.fire();
          total += created.length;
          sends.push(this.kernel.jobs.sendMany<FireJob>(FIRE_JOB, created.map((data) => ({ data }))));
          if (claimed < BATCH || this.closed) break;
        }
      } finally {
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

  private async fire(): Promise<{ created: FireJob[]; claimed: number }> {
    const now = new Date(this.kernel.clock.now());
    const { runs, claimed } = await this.kernel.db.system.transaction(async (tx) => {
      const due = await tx
        .select()
        .from(scheduledJobs)
        .where(and(eq(scheduledJobs.enabled, true), isNotNull(scheduledJobs.nextRunAt), lte(scheduledJobs.nextRunAt, now)))
        .orderBy(asc(scheduledJobs.nextRunAt))
        .limit(BATCH)
        .for('update', { skipLocked: true });
      const values: (typeof scheduledJobRuns.$inferInsert)[] = [];
      // Jobs moved on to the same next fire time (the same cron) are updated together.
      // One parsed cron per expression and zone in a batch (10,000 schedules often share a handful).
      const crons = new Map<string, Cron>();
      const moves = new Map<string, { next: Date | null; skipped: boolean; ids: string[]; tenants: Set<string> }>();
      for (const job of due) {
        const fireAt = job.nextRunAt!;
        const missed = now.getTime() - fireAt.getTime() > MISSED_AFTER_MS;
        const skipped = missed && job.missedRuns === 'skip';
        let next: Date | null = null;
        try {
          if (job.cronExpression) {
            const key = `${job.timezone}|${job.cronExpression}`;
            let cron = crons.get(key);
            if (!cron) crons.set(key, (cron = parseCron(job.cronExpression, job.timezone)));
            next = cron.nextRun(now) ?? null;
          }
        } catch {
          next = null;
        }
        if (!skipped) values.push({ id: newId('jrun'), tenantId: job.tenantId, jobId: job.id, trigger: 'schedule', status: 'pending', scheduledFor: fireAt });
        const key = `${next?.getTime() ?? 'none'}:${skipped}`;
        const move = moves.get(key) ?? { next, skipped, ids: [], tenants: new Set<string>() };
        move.ids.push(job.id);
        move.tenants.add(job.tenantId);
        moves.set(key, move);
      }
      const inserted = values.length
        ? await tx.insert(scheduledJobRuns).values(values).onConflictDoNothing().returning({ id: scheduledJobRuns.id, tenantId: scheduledJobRuns.tenantId })
        : [];
      for (const move of moves.values()) {
        // Job ids are unique across tenants (time-sortable random ids); the tenants let the key serve.
        await tx
          .update(scheduledJobs)
          .set({ nextRunAt: move.next, ...(move.skipped ? { lastStatus: 'skipped' } : {}) })
          .where(and(inArray(scheduledJobs.tenantId, [...move.tenants]), inArray(scheduledJobs.id, move.ids)));
      }
      return { runs: inserted.map((r): FireJob => ({ tenantId: r.tenantId, runId: r.id })), claimed: due.length };
    });
    return { created: runs, claimed };
  }
}
