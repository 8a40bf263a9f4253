import { createRequire } from 'node:module';
import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import { sql } from 'drizzle-orm';
import { rows, type Database } from '../db/client.ts';
import { logLoopFailure } from '../db/errors.ts';

export const JOBS_SCHEMA = 'pgboss';
/** The queues with a job that may be fetched now (Jobs.dispatch). */
const DUE_QUEUES = `select distinct name from ${JOBS_SCHEMA}.job where state < 'active' and start_after < now()`;

/** pg-boss's SQL texts (it exports no types for them). */
const bossPlans = createRequire(import.meta.url)('pg-boss/src/plans.js') as {
  completeJobs(schema: string): string;
  failJobsById(schema: string): string;
};

export interface JobDefinition<T> {
  handler: (data: T, job: PgBoss.Job<T>) => Promise<void>;
  /** Attempts after the first; pg-boss retries with `retryDelay` seconds, doubling with `retryBackoff`. */
  retryLimit?: number;
  retryDelay?: number;
  retryBackoff?: boolean;
  expireInSeconds?: number;
  /** Jobs fetched per poll by one worker. */
  batchSize?: number;
  /** Workers of this queue in each working process (default 1): how many of its jobs run at once. */
  concurrency?: number;
  /**
   * Works a fetched batch at once instead of calling `handler` job after job: answers the jobs that
   * failed (by id, with their error); those alone are failed (and retried), the others complete.
   */
  handleBatch?: (jobs: PgBoss.Job<T>[]) => Promise<Map<string, unknown>>;
}

export interface SendOptions {
  startAfter?: Date | number | string;
  singletonKey?: string;
  /** Deduplicates: a job with the same id is queued once. */
  id?: string;
}

/**
 * Background jobs on pg-boss, on the same database as everything else (PGlite too, through pg-boss's
 * `db` adapter, so an embedded server needs nothing else). Modules define their queues at startup;
 * `plinth start` works them in-process, `plinth worker` processes work them beside the API.
 */
export class Jobs {
  readonly boss: PgBoss;
  private readonly definitions = new Map<string, JobDefinition<any>>();
  private started = false;
  private working = false;
  /** Schedules asked for before start (registerModules runs before the queue starts). */
  private readonly pendingSchedules: { name: string; cron: string; data: object }[] = [];
  private readonly workers = new Map<string, string[]>();
  private nextWorker = 0;
  private dispatcher?: NodeJS.Timeout;
  private dispatching = false;

  constructor(
    private readonly db: Database,
    private readonly log: Logger,
    private readonly pollingIntervalSeconds: number,
  ) {
    // pg-boss completes or fails a worked job without awaiting the query, so while the database is
    // down its rejection would be unhandled and end the process. Those two are caught here; the job
    // stays active until it expires and is then retried (job handlers are at-least-once already).
    const unawaited = new Set([bossPlans.completeJobs(JOBS_SCHEMA), bossPlans.failJobsById(JOBS_SCHEMA)]);
    this.boss = new PgBoss({
      db: {
        executeSql: (text, values) => {
          // Its job table has a partition per queue and its statements name the queue as a parameter.
          const run = db.raw(text, values, { genericPlan: true });
          if (!unawaited.has(text)) return run;
          return run.catch((error: unknown) => {
            logLoopFailure(this.log, error, 'could not record a job as done or failed; it runs again when it expires', {}, 'warn');
            return { rows: [{ count: '0' }], rowCount: 0 };
          });
        },
      },
      schema: JOBS_SCHEMA,
      migrate: true,
      // Each pg-boss worker polls its own queue: with sixty queues that was sixty fetch queries per
      // interval per process, a quarter of an idle embedded server's CPU. One query per interval finds
      // the queues with due jobs instead (dispatch below); a worker's own poll is only a backstop.
      pollingIntervalSeconds: Math.max(60, pollingIntervalSeconds),
      // The one maintenance loop runs in every process; pg-boss serialises it with an advisory lock.
      supervise: true,
      schedule: true,
    });
    this.boss.on('error', (error) => logLoopFailure(this.log, error, 'job queue error', { queue: (error as { queue?: string }).queue }));
  }

  define<T>(name: string, definition: JobDefinition<T>): void {
    if (this.definitions.has(name)) throw new Error(`job ${name} is defined twice`);
    this.definitions.set(name, definition);
    if (this.working) void this.workQueue(name, definition);
  }

  async start(options: { work: boolean }): Promise<void> {
    // With no queues defined there is nothing to work; pg-boss starts on the first send or schedule.
    if (this.definitions.size === 0 && this.pendingSchedules.length === 0 && options.work) return;
    if (!this.started) {
      await this.boss.start();
      this.started = true;
      // Creating a queue is DDL (a partition with its indexes), tens of milliseconds even when it exists.
      for (const queue of await this.boss.getQueues()) if (!this.queues.has(queue.name)) this.queues.set(queue.name, Promise.resolve());
    }
    for (const [name, definition] of this.definitions) await this.ensureQueue(name, definition);
    for (const { name, cron, data } of this.pendingSchedules.splice(0)) await this.schedule(name, cron, data);
    if (options.work && !this.working) {
      this.working = true;
      for (const [name, definition] of this.definitions) await this.workQueue(name, definition);
      this.dispatcher = setInterval(() => void this.dispatch(), this.pollingIntervalSeconds * 1000);
      this.dispatcher.unref();
    }
  }

  /**
   * Wakes a worker of each queue of this process that has a due job: sent by another process, a retry
   * whose delay has passed, a delayed job, or one that pg-boss's cron sent.
   */
  private async dispatch(): Promise<void> {
    if (this.dispatching || this.workers.size === 0) return;
    this.dispatching = true;
    try {
      // Every queue's due jobs, filtered here to the queues this process works: a statement without
      // parameters is planned once and kept (PGlite's statements are prepared, see PgliteWire), where
      // `name = any($1)` over the job table's partitions (one per queue) was planned anew for its first
      // executions, 8-15 ms of WASM on the event loop each time on PGlite, every poll for the first
      // ten seconds after every start (bench:ai-stream's time to first token met them at its p99).
      const due = rows<{ name: string }>(await this.db.system.execute(sql.raw(DUE_QUEUES)));
      for (const row of due) if (this.workers.has(row.name)) this.wake(row.name);
    } catch (error) {
      logLoopFailure(this.log, error, 'could not look for due jobs', {}, 'warn');
    } finally {
      this.dispatching = false;
    }
  }

  private readonly queues = new Map<string, Promise<void>>();

  /** Creates a queue once per process. */
  private ensureQueue(name: string, definition: JobDefinition<any>): Promise<void> {
    let created = this.queues.get(name);
    if (!created) {
      created = this.createQueue(name, definition);
      this.queues.set(name, created);
      created.catch(() => this.queues.delete(name));
    }
    return created;
  }

  // pg-boss creates a queue with ALTER TABLE; two creations at once (pg-boss's own timekeeper queue
  // right after start, or another process starting) can deadlock, and a retry then succeeds.
  private async createQueue(name: string, definition: JobDefinition<any>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.boss.createQueue(name, {
          name,
          retryLimit: definition.retryLimit ?? 3,
          retryDelay: definition.retryDelay ?? 5,
          retryBackoff: definition.retryBackoff ?? true,
          expireInSeconds: definition.expireInSeconds ?? 15 * 60,
        });
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== '40P01' || attempt >= 5) throw error;
        await new Promise((r) => setTimeout(r, 25 * 2 ** attempt + Math.random() * 25));
      }
    }
  }

  private async workQueue(name: string, definition: JobDefinition<any>) {
    await this.ensureQueue(name, definition);
    const ids: string[] = [];
    for (let i = 0; i < Math.max(1, definition.concurrency ?? 1); i++) {
      let self: string | undefined;
      self = await this.boss.work(name, { batchSize: definition.batchSize ?? 1 }, async (jobs) => {
        try {
          if (definition.handleBatch) {
            const failures = await definition.handleBatch(jobs);
            for (const [id, error] of failures) {
              this.log.warn({ err: error, job: name, job_id: id }, 'job failed');
              const message = error instanceof Error ? error.message : String(error);
              // Failed alone: pg-boss then completes the batch's other jobs (the ones still active).
              await this.boss.fail(name, id, { message });
            }
            return;
          }
          for (const job of jobs) {
            try {
              await definition.handler(job.data, job);
            } catch (error) {
              this.log.warn({ err: error, job: name, job_id: job.id }, 'job failed');
              throw error;
            }
          }
        } finally {
          // A worker that found work fetches again at once (pg-boss would wait out its interval): a
          // queue drains at the speed of its handler, not one batch per poll.
          if (self) this.boss.notifyWorker(self);
        }
      });
      ids.push(self);
    }
    this.workers.set(name, ids);
  }

  async send<T extends object>(name: string, data: T, options: SendOptions = {}): Promise<string | null> {
    if (!this.definitions.has(name)) throw new Error(`job ${name} is not defined`);
    if (!this.started) await this.start({ work: false });
    const id = await this.boss.send(name, data, options);
    if (!options.startAfter) this.wake(name);
    return id;
  }

  /**
   * Queues many jobs of one queue in one statement (pg-boss `insert`, the queue's retry and expiry
   * apply) and wakes this process's workers once. `priority`: higher is fetched first (default 0);
   * `startAfterSeconds`: not fetched before then.
   */
  async sendMany<T extends object>(name: string, items: { data: T; priority?: number; startAfterSeconds?: number }[]): Promise<void> {
    if (!this.definitions.has(name)) throw new Error(`job ${name} is not defined`);
    if (items.length === 0) return;
    if (!this.started) await this.start({ work: false });
    for (let i = 0; i < items.length; i += 1000) {
      await this.boss.insert(
        items.slice(i, i + 1000).map((item) => ({
          name,
          data: item.data,
          ...(item.priority ? { priority: item.priority } : {}),
          ...(item.startAfterSeconds ? { startAfter: new Date(Date.now() + item.startAfterSeconds * 1000) } : {}),
        })),
      );
    }
    const ids = this.workers.get(name) ?? [];
    for (let i = 0; i < Math.min(ids.length, items.length); i++) this.wake(name);
  }

  /**
   * Makes one of this process's idle workers of `name` fetch now instead of at its next poll (send does
   * it for jobs sent here; a module that tells other processes of its jobs, through the bus, calls it).
   */
  wake(name: string): void {
    const ids = this.workers.get(name);
    if (!ids?.length) return;
    this.nextWorker = (this.nextWorker + 1) % ids.length;
    this.boss.notifyWorker(ids[this.nextWorker]!);
  }

  /**
   * Runs `name` on a cron schedule (UTC); one process sends it however many run. Asked before the
   * queue has started, it is remembered and applied by start().
   */
  async schedule<T extends object>(name: string, cron: string, data?: T): Promise<void> {
    if (!this.started) {
      this.pendingSchedules.push({ name, cron, data: data ?? {} });
      return;
    }
    await this.ensureQueue(name, this.definitions.get(name) ?? { handler: async () => {} });
    await this.boss.schedule(name, cron, data ?? {}, { tz: 'UTC' });
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.working = false;
    if (this.dispatcher) clearInterval(this.dispatcher);
    this.dispatcher = undefined;
    this.queues.clear();
    this.workers.clear();
    await this.boss.stop({ graceful: true, wait: true, timeout: 10_000 });
  }
}

/** pg-boss's schema, installed with the migrations so that a database is complete after `migrate`. */
export async function installJobSchema(db: Database): Promise<void> {
  const present = await db.raw(`select 1 from information_schema.tables where table_schema = $1 and table_name = 'version'`, [JOBS_SCHEMA]);
  if (present.rows.length) return;
  await db.raw(PgBoss.getConstructionPlans(JOBS_SCHEMA));
}
