import { and, asc, eq, isNotNull, lte } from 'drizzle-orm';
import { logLoopFailure } from '../../../core/db/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { executeJobRun, nextFire } from './service.ts';
import { scheduledJobRuns, scheduledJobs } from './tables.ts';

const FIRE_JOB = 'automations.scheduled-run';
/** A fire time later than this is "missed" (no worker was running): run once or skipped, per the job. */
const MISSED_AFTER_MS = 60_000;
const BATCH = 200;

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
    });
    return dispatcher;
  }

  /** Claims and fires what is due; returns how many runs it created. */
  tick(): Promise<number> {
    if (this.closed) return Promise.resolve(0);
    this.ticking ??= this.fire()
      .catch((error: unknown) => {
        if (!this.closed) logLoopFailure(this.kernel.log, error, 'scheduler tick failed', {}, 'warn');
        return 0;
      })
      .finally(() => {
        this.ticking = undefined;
      });
    return this.ticking;
  }

  private async fire(): Promise<number> {
    const now = new Date(this.kernel.clock.now());
    const created = await this.kernel.db.system.transaction(async (tx) => {
      const due = await tx
        .select()
        .from(scheduledJobs)
        .where(and(eq(scheduledJobs.enabled, true), isNotNull(scheduledJobs.nextRunAt), lte(scheduledJobs.nextRunAt, now)))
        .orderBy(asc(scheduledJobs.nextRunAt))
        .limit(BATCH)
        .for('update', { skipLocked: true });
      const runs: FireJob[] = [];
      for (const job of due) {
        const fireAt = job.nextRunAt!;
        const missed = now.getTime() - fireAt.getTime() > MISSED_AFTER_MS;
        let next: Date | null = null;
        try {
          next = job.cronExpression ? nextFire({ ...job, runAt: null }, now) : null;
        } catch {
          next = null;
        }
        if (!(missed && job.missedRuns === 'skip')) {
          const runId = newId('jrun');
          const inserted = await tx
            .insert(scheduledJobRuns)
            .values({ id: runId, tenantId: job.tenantId, jobId: job.id, trigger: 'schedule', status: 'pending', scheduledFor: fireAt })
            .onConflictDoNothing()
            .returning({ id: scheduledJobRuns.id });
          if (inserted.length) runs.push({ tenantId: job.tenantId, runId });
        }
        await tx
          .update(scheduledJobs)
          .set({ nextRunAt: next, ...(missed && job.missedRuns === 'skip' ? { lastStatus: 'skipped' } : {}) })
          .where(and(eq(scheduledJobs.tenantId, job.tenantId), eq(scheduledJobs.id, job.id)));
      }
      return runs;
    });
    for (const run of created) await this.kernel.jobs.send<FireJob>(FIRE_JOB, run);
    return created.length;
  }
}
