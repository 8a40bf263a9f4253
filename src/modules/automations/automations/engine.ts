import { and, eq, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import { actingAs, runInTenant, writeEmits, type RequestMeta, type TenantContext } from '../../../core/context.ts';
import { rows, type Db } from '../../../core/db/client.ts';
import { matchesPattern } from '../../../core/events/format.ts';
import { consumerInterest } from '../../../core/events/interest.ts';
import type { ConsumerBatch, OutboxEvent } from '../../../core/events/outbox.ts';
import { publicEvent } from '../../../core/events/format.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { addDeadLetter, registerDeadLetterSource, resolveDeadLetter } from '../../dlq/index.ts';
import { conditionsHold } from '../actions/expressions.ts';
import type { TenantPrincipal } from '../../../core/auth/principal.ts';
import { ActionError, IN_TRANSACTION_ACTIONS, performAction, performInTransaction, RunFenced, type ActionScope } from '../actions/run.ts';
import { stepId } from '../actions/vocabulary.ts';
import { automationRuns, automations, type AutomationRow, type AutomationRunRow, type StepResult } from './tables.ts';

export const TRIGGER_CONSUMER = 'automations.trigger';
const RUN_JOB = 'automations.run';
/** Runs that led to this one, at most: an automation whose action emits its own trigger stops here. */
export const MAX_DEPTH = 5;
const DLQ_SOURCE = 'automation';
/** Creators an automation runs as (the admin key and the system act tenant-wide, as they may anyway). */
const NAMED_PRINCIPALS = new Set(['api_key', 'user']);
/** A run whose worker wrote nothing for this long is taken over by the job's next delivery. */
export const RUN_LEASE_MS = 10 * 60_000;
const SWEEP_JOB = 'automations.sweep';
/**
 * A pending run nothing has touched for this long beyond its longest retry wait has no job: its process
 * ended between writing it (the trigger's commit, a retry's requeue) and queueing its job. The sweeper
 * queues it again.
 */
export const ORPHAN_GRACE_MS = 10 * 60_000;
/** Runs the sweeper queues again per pass, at most. */
const SWEEP_BATCH = 500;

/**
 * Runs of one tenant per job, as the trigger consumer queues them: the job's runs are worked in one
 * transaction when they can be (`fastGroup`), so a job is the unit of both the queue and the work.
 */
const JOB_RUNS = 32;
/**
 * Run workers per process, each fetching RUN_BATCH jobs and working them at once: runs wait on the
 * database, not the CPU, so throughput comes from many in flight. One job per fetch, and many workers:
 * a quiet tenant's job, ahead in priority, is taken by the next worker to come free, not stuck behind
 * a flooding tenant's runs already fetched (fairness across tenants; a quiet tenant's 20 runs are one
 * job, worked in one transaction).
 */
const RUN_WORKERS = 8;
const RUN_BATCH = 1;
/** Jobs worked at once in the process that queued them (see startDirect), at most, beside the workers. */
const DIRECT_MAX = RUN_WORKERS;
/** When the queued copy of a job worked directly may be fetched (it skips the runs finished by then). */
const DIRECT_BACKSTOP_SECONDS = 60;

/** The fast path found a run changed under it (claimed, requeued): the general path decides. */
class NotClaimable extends Error {}

/**
 * How long a quiet tenant's runs may hold a flooding tenant's back (QuietGate), at most: the hold ends
 * when they are done, or after this, whatever happened to them.
 */
const QUIET_HOLD_MS = 1_000;
/** How long one job of a flooding tenant waits at the gate, at most: a stream of quiet tenants slows a flood, never stops it. */
const QUIET_WAIT_MS = 250;
/** How long a tenant found with a backlog is taken for one: its next batches hold the gate for none of its runs. */
const BACKLOG_MEMORY_MS = 5_000;

/**
 * Quiet tenants first, in this process. Runs wait on the database, but their work is done on this
 * process's one thread: while a flooding tenant's runs fill every worker, each step of a quiet tenant's
 * runs (the trigger's statements, the direct start) waits its turn behind them, and a step that takes
 * a millisecond alone took tens. So while a quiet tenant's runs are on their way (from the trigger
 * batch that found them to their direct start's end), the jobs of a tenant with a backlog wait before
 * they start their work (QUIET_WAIT_MS at most each): the flood's runs pause for that long, not the
 * quiet tenant's behind them.
 */
class QuietGate {
  private readonly holds = new Set<object>();
  private waiters: (() => void)[] = [];

  /** Holds the gate until the returned function is called, or QUIET_HOLD_MS. */
  hold(): () => void {
    const token = {};
    this.holds.add(token);
    const release = () => {
      clearTimeout(timer);
      if (!this.holds.delete(token) || this.holds.size > 0) return;
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    };
    const timer = setTimeout(release, QUIET_HOLD_MS);
    timer.unref();
    return release;
  }

  /** Resolves once nothing holds the gate, or after QUIET_WAIT_MS. */
  passed(): Promise<void> {
    if (this.holds.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, QUIET_WAIT_MS);
      this.waiters.push(done);
    });
  }
}

/** A job of runs: `runIds` of one tenant (the trigger consumer's), or one `runId` (a retry, a manual run). */
interface RunJob {
  tenantId: string;
  runId?: string;
  runIds?: string[];
  /** The tenant's runs pending before this job's first (the trigger's jobs): JOB_RUNS or more is a backlog that yields to quiet tenants. */
  behind?: number;
}

interface RunItem {
  jobId: string;
  tenantId: string;
  runId: string;
}

/** A batch's tenants' enabled automations (candidatesOf), and the tenants whose automations those are (all of them). */
interface Candidates {
  tenants: Set<string>;
  automations: AutomationRow[];
}

const runsOf = (job: RunJob): string[] => job.runIds ?? (job.runId ? [job.runId] : []);

/** What the fast path reads of a run (a run the trigger consumer has just inserted is known without a read). */
type FastRunRow = Pick<AutomationRunRow, 'id' | 'tenantId' | 'automationId' | 'trigger' | 'attempts' | 'durationMs' | 'input'>;

/** A run the fast path may work: pending, not started, every action in this database. */
interface FastRun {
  item: RunItem;
  run: FastRunRow;
  automation: AutomationRow;
  runAs: TenantPrincipal | undefined;
}

/** A fast run whose actions are done, in the group's transaction: what its claim writes. */
interface FastDone {
  ctx: TenantContext;
  entry: FastRun;
  attempts: number;
  steps: StepResult[];
  /** When its work began here (the clock that times its end: the transaction's own may read later). */
  startedAt: string;
  durationMs: number;
}

const engines = new WeakMap<Kernel, AutomationEngine>();

export function automationEngine(kernel: Kernel): AutomationEngine {
  const engine = engines.get(kernel);
  if (!engine) throw new Error('automations are not registered on this kernel');
  return engine;
}

/**
 * Event automations. The outbox consumer `automations.trigger` turns each event into one run per
 * enabled automation whose trigger and conditions match, in the consumer's transaction; the unique
 * index (tenant, automation, event) makes an event start at most one run per automation whatever is
 * redelivered. A pg-boss job works each run: every action's result is written with the action (or
 * right after it, for calls that leave the database), so a run taken over after a crash resumes at
 * the first action not done. A failing action is retried after AUTOMATION_RETRY_DELAYS_MS; after the
 * last, the run fails and lands in the dead-letter queue (source `automation`). A run whose job was
 * never sent (its process ended between the commit that wrote it and the send) is queued again by a
 * sweeper once it has waited ORPHAN_GRACE_MS past the longest retry wait.
 */
export class AutomationEngine {
  constructor(private readonly kernel: Kernel) {}

  /** The event types some enabled automation triggers on (a hint: true while unknown). */
  private interest: { wants(type: string): boolean } = { wants: () => true };
  /** Held while quiet tenants' runs are on their way here; the jobs of a backlog wait for it. */
  readonly quiet = new QuietGate();
  /** Tenants whose last trigger batch here found a backlog of a job's worth or more (their new runs hold nothing). */
  private readonly backlogged = new Map<string, number>();

  static register(kernel: Kernel): AutomationEngine {
    const engine = new AutomationEngine(kernel);
    engines.set(kernel, engine);
    kernel.jobs.define<RunJob>(RUN_JOB, {
      retryLimit: 2,
      retryDelay: 30,
      expireInSeconds: 15 * 60,
      concurrency: RUN_WORKERS,
      batchSize: RUN_BATCH,
      handler: async (job) => {
        for (const runId of runsOf(job)) await engine.execute(job.tenantId, runId);
      },
      handleBatch: async (jobs) => {
        const backlog = jobs.some((job) => (job.data.behind ?? 0) >= JOB_RUNS);
        if (backlog) await engine.quiet.passed();
        return engine.executeBatch(
          jobs.flatMap((job) => runsOf(job.data).map((runId) => ({ jobId: job.id, tenantId: job.data.tenantId, runId }))),
          { yieldToQuiet: backlog },
        );
      },
    });
    // Woken only by the types some enabled automation triggers on; the rest are read (and skipped) at the poll.
    const interest = (engine.interest = consumerInterest(kernel, TRIGGER_CONSUMER, async () => {
      const found = await kernel.db.system.selectDistinct({ p: automations.triggerEvent }).from(automations).where(eq(automations.enabled, true));
      return found.map((r) => r.p);
    }));
    // 250 events a batch, not 1,000: a quiet tenant's events behind a flood wait for the batch that
    // holds them, and its runs start after that batch's transaction (bench:automations fairness).
    // Its commits do not wait for the disk (asyncCommit): a lost batch is read again and its runs
    // inserted again (the unique index), and whatever works or queues them commits after it, flushing it.
    // The batch's tenants' enabled automations are read behind its events (prefetch), not after them.
    kernel.outbox.consume({
      name: TRIGGER_CONSUMER,
      batchSize: 250,
      asyncCommit: true,
      wakeOn: (type) => interest.wants(type),
      prefetch: (tx, tenants) => engine.candidatesOf(tx, tenants),
      handle: (batch) => engine.trigger(batch),
    });
    // Every minute, once across processes (pg-boss's cron): pending runs that lost their job.
    kernel.jobs.define(SWEEP_JOB, { retryLimit: 0, handler: async () => void (await engine.sweepOrphans()) });
    void kernel.jobs.schedule(SWEEP_JOB, '* * * * *');
    registerDeadLetterSource(kernel, DLQ_SOURCE, {
      retry: async (ctx, letter) => {
        const [run] = await ctx.db
          .update(automationRuns)
          .set({ status: 'pending', attempts: 0, error: null, trigger: 'retry', updatedAt: new Date() })
          .where(and(eq(automationRuns.tenantId, ctx.tenantId), eq(automationRuns.id, letter.referenceId)))
          .returning({ id: automationRuns.id });
        if (run) ctx.afterCommit(() => engine.queue(ctx.tenantId, run.id));
      },
      discard: async (ctx, letter) => {
        await ctx.db
          .update(automationRuns)
          .set({ status: 'discarded', updatedAt: new Date() })
          .where(and(eq(automationRuns.tenantId, ctx.tenantId), eq(automationRuns.id, letter.referenceId)));
      },
    });
    return engine;
  }

  /**
   * Queues again the pending runs untouched for ORPHAN_GRACE_MS past the longest retry wait (their job
   * was never sent), and marks them touched so the next passes leave them for as long. A run that did
   * have a job (a flood's backlog older than that) gets a second one, which finds it done or claims it
   * once. Returns how many it queued.
   */
  async sweepOrphans(now = new Date()): Promise<number> {
    const wait = Math.max(0, ...this.kernel.config.AUTOMATION_RETRY_DELAYS_MS) + ORPHAN_GRACE_MS;
    const before = new Date(now.getTime() - wait);
    const found = rows<{ tenant_id: string; id: string }>(
      await this.kernel.db.system.execute(sql`
        update ${automationRuns} set updated_at = ${now.toISOString()}::timestamptz
        where (tenant_id, id) in (
          select tenant_id, id from ${automationRuns}
          where status = 'pending' and updated_at < ${before.toISOString()}::timestamptz
          order by updated_at limit ${SWEEP_BATCH}
        ) and status = 'pending'
        returning tenant_id, id`),
    );
    const byTenant = new Map<string, string[]>();
    for (const run of found) {
      const ids = byTenant.get(run.tenant_id);
      if (ids) ids.push(run.id);
      else byTenant.set(run.tenant_id, [run.id]);
    }
    const jobs: { data: RunJob }[] = [];
    for (const [tenantId, ids] of byTenant) for (let i = 0; i < ids.length; i += JOB_RUNS) jobs.push({ data: { tenantId, runIds: ids.slice(i, i + JOB_RUNS) } });
    if (jobs.length) {
      await this.kernel.jobs.sendMany<RunJob>(RUN_JOB, jobs);
      this.kernel.log.warn({ runs: found.length }, 'automation runs without a job were queued again');
    }
    return found.length;
  }

  async queue(tenantId: string, runId: string, delayMs = 0): Promise<void> {
    await this.kernel.jobs.send<RunJob>(RUN_JOB, { tenantId, runId }, delayMs > 0 ? { startAfter: Math.ceil(delayMs / 1000) } : {});
  }

  /**
   * The enabled automations of the tenants `tenants` (a subquery) names, with the tenants it named:
   * trigger reads those of any other tenant of its batch itself.
   */
  async candidatesOf(tx: Db, tenants: SQL): Promise<Candidates> {
    const found = await tx
      .select({ tenantId: sql<string>`t.tenant_id`, automation: automations })
      .from(sql`(${tenants}) t`)
      .leftJoin(automations, and(sql`${automations.tenantId} = t.tenant_id`, eq(automations.enabled, true)));
    return { tenants: new Set(found.map((r) => r.tenantId)), automations: found.flatMap((r) => (r.automation ? [r.automation] : [])) };
  }

  /** The outbox consumer: events -> runs (exactly once per event and automation). */
  async trigger({ events, tx, afterCommit, prefetched }: ConsumerBatch): Promise<void> {
    // A tenant with no backlog here and a few events that may start runs: the backlogs yield from now
    // (QuietGate) until its runs are done, or the batch turns out to start none of it quiet.
    const wanted = new Map<string, number>();
    for (const event of events) if (this.interest.wants(event.type)) wanted.set(event.tenantId, (wanted.get(event.tenantId) ?? 0) + 1);
    const release = [...wanted].some(([tenantId, n]) => n <= JOB_RUNS && !this.isBacklogged(tenantId)) ? this.quiet.hold() : () => {};
    try {
      await this.matchRuns(tx, afterCommit, events, prefetched as Candidates | undefined, release);
    } catch (error) {
      release();
      throw error;
    }
  }

  /** trigger's matching: each event against its tenant's enabled automations, then createRuns. */
  private async matchRuns(tx: Db, afterCommit: ConsumerBatch['afterCommit'], events: OutboxEvent[], prefetched: Candidates | undefined, release: () => void): Promise<void> {
    // Whole rows: a run worked directly (startDirect) needs its automation's actions and creator.
    // Read with the batch (candidatesOf); a tenant it did not name (none should be) is read here.
    const unread = [...new Set(events.map((e) => e.tenantId))].filter((t) => !prefetched?.tenants.has(t));
    const candidates = [
      ...(prefetched?.automations ?? []),
      ...(unread.length ? await tx.select().from(automations).where(and(inArray(automations.tenantId, unread), eq(automations.enabled, true))) : []),
    ];
    if (candidates.length === 0) return release();
    const matched: { event: (typeof events)[number]; automationId: string; shown: Record<string, unknown> }[] = [];
    const perTenant = new Map<string, number>();
    for (const event of events) {
      for (const automation of candidates) {
        if (automation.tenantId !== event.tenantId) continue;
        if (automation.createdAt.getTime() >= event.createdAt.getTime()) continue;
        if (!matchesPattern(automation.triggerEvent, event.type)) continue;
        const shown = publicEvent(event) as unknown as Record<string, unknown>;
        let holds: boolean;
        try {
          holds = conditionsHold(automation.conditions, { event: shown, data: event.data });
        } catch {
          holds = false;
        }
        if (holds) {
          matched.push({ event, automationId: automation.id, shown });
          perTenant.set(event.tenantId, (perTenant.get(event.tenantId) ?? 0) + 1);
        }
      }
    }
    if (matched.length === 0) return release();
    // The principals that the runs of a tenant with a few runs here act as, loaded now on another
    // session, beside the rest of this transaction: such a tenant's runs are likely worked directly
    // once it commits (startDirect), and they need them first. A tenant with many runs is queued.
    const runAs = new Map<string, Promise<TenantPrincipal | null | undefined>>();
    for (const automation of candidates) {
      if ((perTenant.get(automation.tenantId) ?? JOB_RUNS + 1) > JOB_RUNS || runAs.size >= DIRECT_MAX) continue;
      runAs.set(automation.id, this.runAsOf(automation).catch(() => null));
    }
    if (![...perTenant].some(([tenantId, n]) => n <= JOB_RUNS && !this.isBacklogged(tenantId))) release();
    await this.createRuns({ tx, afterCommit, matched, candidates, runAs, release });
  }

  /**
   * trigger's second half: the runs of the matched events, then (once committed) their jobs and direct
   * starts. `release` ends the batch's hold on the quiet gate: called once no quiet tenant's run is
   * on its way (at once when there is none, else when their direct starts end).
   */
  private async createRuns({
    tx,
    afterCommit,
    matched,
    candidates,
    runAs,
    release,
  }: {
    tx: Db;
    afterCommit: ConsumerBatch['afterCommit'];
    matched: { event: OutboxEvent; automationId: string; shown: Record<string, unknown> }[];
    candidates: AutomationRow[];
    runAs: Map<string, Promise<TenantPrincipal | null | undefined>>;
    release: () => void;
  }): Promise<void> {
    // Depth: an event an automation run caused (its actor) starts runs one level deeper. Only the
    // events that start a run are looked up (most events runs emit start none).
    const caused = matched.map((m) => m.event).filter((e) => e.actorType === 'automation' && e.actorId);
    const parentIds = [...new Set(caused.map((e) => e.actorId!))];
    const parents = new Map<string, number>();
    if (parentIds.length) {
      // With the tenants (a run and the events it caused share one): the primary key serves the lookup.
      const found = await tx
        .select({ id: automationRuns.id, depth: automationRuns.depth })
        .from(automationRuns)
        .where(and(inArray(automationRuns.tenantId, [...new Set(caused.map((e) => e.tenantId))]), inArray(automationRuns.id, parentIds)));
      for (const p of found) parents.set(p.id, p.depth);
    }
    const values: (typeof automationRuns.$inferInsert)[] = matched.map(({ event, automationId, shown }) => {
      const parentDepth = event.actorType === 'automation' && event.actorId ? parents.get(event.actorId) : undefined;
      const depth = parentDepth === undefined ? 0 : parentDepth + 1;
      const tooDeep = depth > MAX_DEPTH;
      return {
        id: newId('run'),
        tenantId: event.tenantId,
        automationId,
        eventId: event.id,
        trigger: 'event' as const,
        status: tooDeep ? ('skipped' as const) : ('pending' as const),
        depth,
        input: { event: shown },
        error: tooDeep ? `Not run: ${depth} automation runs led to this event, over the limit of ${MAX_DEPTH} (an automation that triggers itself?)` : null,
        ...(tooDeep ? { finishedAt: new Date() } : {}),
      };
    });
    // The first inserts and the backlog count are one statement (one round trip): the count, a CTE's
    // sibling, sees the runs pending before this batch. Further inserts go out with it (pipelined
    // where the session allows); every statement is waited for before the transaction goes on.
    const returned = { id: automationRuns.id, tenantId: automationRuns.tenantId, status: automationRuns.status };
    const statements: Promise<{ id: string; tenantId: string; status: string }[]>[] = [];
    const firstInsert = tx.insert(automationRuns).values(values.slice(0, 500)).onConflictDoNothing().returning(returned);
    const tenantsOfRuns = [...new Set(values.map((v) => v.tenantId))];
    const counted: { tenantId: string; n: number }[] = [];
    statements.push(
      tx
        .execute(
          sql`with inserted as (${firstInsert.getSQL()})
          select id, tenant_id, status, null::bigint as n from inserted
          union all
          select null, tenant_id, null, count(*) from ${automationRuns}
          where ${inArray(automationRuns.tenantId, tenantsOfRuns)} and ${automationRuns.status} = 'pending' group by tenant_id`,
        )
        .then((result) =>
          rows<{ id: string | null; tenant_id: string; status: string | null; n: string | number | null }>(result).flatMap((row) => {
            if (row.id === null) {
              counted.push({ tenantId: row.tenant_id, n: Number(row.n) });
              return [];
            }
            return [{ id: row.id, tenantId: row.tenant_id, status: row.status! }];
          }),
        ),
    );
    for (let i = 500; i < values.length; i += 500) {
      statements.push(tx.insert(automationRuns).values(values.slice(i, i + 500)).onConflictDoNothing().returning(returned));
    }
    const results = await Promise.allSettled(statements);
    const refused = results.find((r) => r.status === 'rejected');
    if (refused) throw (refused as PromiseRejectedResult).reason;
    const inserted = results.flatMap((r) => (r as PromiseFulfilledResult<{ id: string; tenantId: string; status: string }[]>).value);
    const pending = inserted.filter((r) => r.status === 'pending');
    if (pending.length === 0) return release();
    // Fair across tenants: a job's priority is minus the place of its first run in its tenant's
    // backlog, so workers take every tenant's first runs, then every tenant's next, ... A tenant
    // flooding the queue waits behind its own runs, not the others behind it.
    const backlog = new Map(counted.map((row) => [row.tenantId, row.n]));
    const valueOf = new Map(values.map((v) => [v.id!, v]));
    const automationOf = new Map(candidates.map((a) => [a.id, a]));
    const byTenant = new Map<string, string[]>();
    for (const run of pending) {
      const ids = byTenant.get(run.tenantId);
      if (ids) ids.push(run.id);
      else byTenant.set(run.tenantId, [run.id]);
    }
    // Quiet: the tenant's whole backlog with these runs is one job's worth. The others are remembered
    // as backlogged, so that their next small batches hold nothing back.
    const quiet = new Set<string>();
    for (const [tenantId, ids] of byTenant) {
      if ((backlog.get(tenantId) ?? 0) + ids.length <= JOB_RUNS) {
        quiet.add(tenantId);
        this.backlogged.delete(tenantId);
      } else this.markBacklogged(tenantId);
    }
    if (quiet.size === 0) release();
    afterCommit(async () => {
      const jobs: { data: RunJob; priority: number; startAfterSeconds?: number }[] = [];
      const direct: RunJob[] = [];
      for (const [tenantId, ids] of byTenant) {
        const before = backlog.get(tenantId) ?? 0;
        for (let i = 0; i < ids.length; i += JOB_RUNS) {
          const job = { data: { tenantId, runIds: ids.slice(i, i + JOB_RUNS), behind: before + i }, priority: -Math.min(before + i, 1_000_000_000) };
          // A tenant with nothing waiting, or a quiet one (its events that two batches split): its
          // first job starts here (startDirect), and the queued one is its backstop, fetched later,
          // should this process not finish it. Queued, its runs waited for a worker to come free of a
          // flood's runs.
          if (i === 0 && (before === 0 || quiet.has(tenantId)) && this.directInFlight + direct.length < DIRECT_MAX) {
            direct.push(job.data);
            jobs.push({ ...job, startAfterSeconds: DIRECT_BACKSTOP_SECONDS });
          } else jobs.push(job);
        }
      }
      // The direct runs start beside the send: they are committed rows, and the backstop finds them
      // finished or not whenever it comes. What the trigger inserted and read is what they need.
      this.directInFlight += direct.length;
      const quietStarts: Promise<void>[] = [];
      for (const job of direct) {
        const known = runsOf(job).map((id) => {
          const value = valueOf.get(id)!;
          const automation = automationOf.get(value.automationId)!;
          const run: FastRunRow = { id, tenantId: job.tenantId, automationId: automation.id, trigger: 'event', attempts: 0, durationMs: null, input: value.input! };
          return { run, automation, runAs: runAs.get(automation.id) };
        });
        const started = this.startDirect(job, known);
        if (quiet.has(job.tenantId)) quietStarts.push(started);
      }
      // The gate opens once the quiet tenants' direct starts are done (their runs, or queued again).
      void Promise.allSettled(quietStarts).then(release);
      await this.kernel.jobs.sendMany<RunJob>(RUN_JOB, jobs);
    });
  }

  /** Whether the tenant's last trigger batch here, lately, found it a backlog of a job's worth or more. */
  private isBacklogged(tenantId: string): boolean {
    const at = this.backlogged.get(tenantId);
    return at !== undefined && Date.now() - at < BACKLOG_MEMORY_MS;
  }

  private markBacklogged(tenantId: string): void {
    if (this.backlogged.size >= 10_000) {
      for (const [id, at] of this.backlogged) if (Date.now() - at >= BACKLOG_MEMORY_MS) this.backlogged.delete(id);
      if (this.backlogged.size >= 10_000) this.backlogged.clear();
    }
    this.backlogged.set(tenantId, Date.now());
  }

  /** Jobs started by startDirect and not finished yet, in this process. */
  private directInFlight = 0;

  /**
   * A tenant with no runs waiting has its first job's runs worked here at once, in the process that
   * queued them, rather than when a worker comes free and fetches the job: behind a flooding tenant the
   * workers are all busy with its runs, and the quiet tenant's turn came one job's work later. Only
   * the all-or-nothing path is taken (one transaction, every action in this database); the job was
   * queued all the same, to start DIRECT_BACKSTOP_SECONDS later: it finds finished runs and skips
   * them. Whatever is not finished here (a run with an outside action, an action that failed, a crash)
   * is queued again at once, or left to the backstop when this process died.
   */
  private startDirect(job: RunJob, known?: { run: FastRunRow; automation: AutomationRow; runAs?: Promise<TenantPrincipal | null | undefined> }[]): Promise<void> {
    const items = runsOf(job).map((runId) => ({ jobId: 'direct', tenantId: job.tenantId, runId }));
    return (known ? this.directKnown(items, known) : this.executeBatch(items, { fastOnly: true }))
      .then((left) => (left.size > 0 ? this.kernel.jobs.sendMany<RunJob>(RUN_JOB, [{ data: job }]) : undefined))
      .catch((error: unknown) => this.kernel.log.warn({ err: error, tenantId: job.tenantId }, 'automation runs started here were left to their queued job'))
      .finally(() => (this.directInFlight -= 1));
  }

  /**
   * startDirect's runs as the trigger inserted them, with their automations as it read them: no read
   * before the work (the claim still finds each pending, at its first attempt and with no step, or
   * rolls all of it back). A run the fast path cannot take, or whose principal was not loaded with
   * the batch, goes through executeBatch as any other.
   */
  private async directKnown(items: RunItem[], known: { run: FastRunRow; automation: AutomationRow; runAs?: Promise<TenantPrincipal | null | undefined> }[]): Promise<Map<string, unknown>> {
    const group: FastRun[] = [];
    for (const [i, { run, automation, runAs }] of known.entries()) {
      const named = NAMED_PRINCIPALS.has(automation.createdByType) && automation.createdById;
      if (!automation.actions.every((a) => IN_TRANSACTION_ACTIONS.has(a.type)) || (named && !runAs)) break;
      const principal = named ? await runAs : undefined;
      if (principal === null) break;
      group.push({ item: items[i]!, run, automation, runAs: principal ?? undefined });
    }
    if (group.length < known.length) return this.executeBatch(items, { fastOnly: true });
    const failures = new Map<string, unknown>();
    if (!(await this.fastGroup(group[0]!.run.tenantId, group))) failures.set('direct', new Error('not finished on the direct path'));
    return failures;
  }

  /** The principal an automation's runs act as: undefined for the tenant-wide creators, null when gone. */
  private runAsOf(automation: AutomationRow): Promise<TenantPrincipal | null | undefined> {
    return NAMED_PRINCIPALS.has(automation.createdByType) && automation.createdById
      ? this.kernel.principals.load(automation.tenantId, automation.createdByType, automation.createdById)
      : Promise.resolve(undefined);
  }

  private meta(tenantId: string, runId: string): RequestMeta {
    // Recorded as the run (audit and events name it); `principal` is set once the automation is read.
    return { tenantId, actor: { type: 'automation', id: runId }, requestId: null };
  }

  /**
   * Works a fetched batch of runs at once. The runs and their automations are read in one query and
   * each creator's principal loaded once for the batch (a revoked key stops runs fetched after the
   * revocation: the batch is milliseconds old). The pending runs whose actions all change only this
   * database are worked together, one transaction per tenant and job (`fastGroup`); any other run, or
   * one that could not be finished that way, goes through `execute`, one transaction per step.
   */
  async executeBatch(items: RunItem[], options: { fastOnly?: boolean; yieldToQuiet?: boolean } = {}): Promise<Map<string, unknown>> {
    const failures = new Map<string, unknown>();
    let found: { run: AutomationRunRow; automation: AutomationRow | null }[] = [];
    try {
      found = await this.kernel.db.system
        .select({ run: automationRuns, automation: automations })
        .from(automationRuns)
        .leftJoin(automations, and(eq(automations.tenantId, automationRuns.tenantId), eq(automations.id, automationRuns.automationId)))
        .where(and(inArray(automationRuns.tenantId, [...new Set(items.map((i) => i.tenantId))]), inArray(automationRuns.id, items.map((i) => i.runId))));
    } catch (error) {
      this.kernel.log.warn({ err: error }, 'could not read a batch of automation runs; working them one by one');
    }
    const byRun = new Map(found.map((row) => [`${row.run.tenantId}:${row.run.id}`, row]));
    const principals = new Map<string, Promise<TenantPrincipal | null>>();
    const principalOf = (automation: AutomationRow) => {
      const key = `${automation.tenantId}:${automation.createdByType}:${automation.createdById}`;
      let loaded = principals.get(key);
      if (!loaded) principals.set(key, (loaded = this.kernel.principals.load(automation.tenantId, automation.createdByType, automation.createdById!)));
      return loaded;
    };
    const slow = async (item: RunItem) => {
      try {
        await this.execute(item.tenantId, item.runId);
      } catch (error) {
        failures.set(item.jobId, error);
      }
    };
    const groups = new Map<string, FastRun[]>();
    const fastGroups = new Set<FastRun[]>();
    const others: RunItem[] = [];
    await Promise.all(
      items.map(async (item) => {
        const row = byRun.get(`${item.tenantId}:${item.runId}`);
        // Finished already (by the direct path, before its backstop job came due): nothing to do. A
        // failed run is retried only by a job queued for it (retry, DLQ), which finds it pending again.
        if (row && row.run.status !== 'pending' && row.run.status !== 'running') return;
        const automation = row?.automation;
        if (row && automation && row.run.status === 'pending' && row.run.steps.length === 0 && automation.actions.every((a) => IN_TRANSACTION_ACTIONS.has(a.type))) {
          const runAs = NAMED_PRINCIPALS.has(automation.createdByType) && automation.createdById ? await principalOf(automation).catch(() => null) : undefined;
          if (runAs !== null) {
            // A tenant's runs in groups of at most JOB_RUNS: a transaction stays short (an open one
            // holds back the outbox readers), and the groups run at once on separate connections.
            let group = groups.get(item.tenantId);
            if (!group || group.length >= JOB_RUNS) groups.set(item.tenantId, (group = []));
            group.push({ item, run: row.run, automation, runAs });
            fastGroups.add(group);
            return;
          }
        }
        others.push(item);
      }),
    );
    if (options.fastOnly) {
      // What is not finished here is reported as one failure: the caller queues it.
      const done = await Promise.all([...fastGroups].map((group) => this.fastGroup(group[0]!.run.tenantId, group)));
      if (others.length > 0 || done.includes(false)) failures.set('direct', new Error('not finished on the direct path'));
      return failures;
    }
    // A backlog's runs, read, wait here too for the quiet tenants that came meanwhile (QuietGate).
    if (options.yieldToQuiet) await this.quiet.passed();
    await Promise.all([
      ...[...fastGroups].map(async (group) => {
        if (await this.fastGroup(group[0]!.run.tenantId, group)) return;
        // Something in the group failed (an action's error, a run changed): each on its own.
        if (group.length > 1) for (const entry of group) if (!(await this.fastGroup(entry.run.tenantId, [entry]))) await slow(entry.item);
        if (group.length === 1) await slow(group[0]!.item);
      }),
      ...others.map(slow),
    ]);
    return failures;
  }

  /**
   * Pending runs of one tenant whose actions all stay in this database, in one transaction: each run's
   * actions (as its own actor and principal), then one statement that claims and finishes them all,
   * their events in one insert, and the automations' run counters once for the group. Nothing of it
   * commits unless all of it does; false (all rolled back) leaves each run to be worked on its own.
   */
  private async fastGroup(tenantId: string, group: FastRun[]): Promise<boolean> {
    try {
      await runInTenant(
        this.kernel,
        { tenantId, actor: { type: 'automation', id: null }, requestId: null },
        async (ctx) => {
          // The runs' statements share the transaction's session (pipelined). Every run is waited for,
          // failed or not, before the transaction goes on: none may send a statement after it.
          const results = await Promise.allSettled(group.map((entry) => this.fastWork(actingAs(ctx, this.fastMeta(entry)), entry)));
          const failed = results.find((r) => r.status === 'rejected');
          if (failed) throw (failed as PromiseRejectedResult).reason;
          const done = results.map((r) => (r as PromiseFulfilledResult<FastDone>).value);
          // The claim, the events and the counters go out together (pipelined: one round trip, not
          // one each); should the claim miss a run, the transaction rolls all of it back.
          const writes: Promise<unknown>[] = [this.claimDone(ctx.db, tenantId, done)];
          for (const { ctx: runCtx, entry, durationMs } of done) {
            const { run } = entry;
            // Only a run retried from the dead-letter queue can have a letter to resolve.
            if (run.trigger === 'retry') writes.push(resolveDeadLetter(runCtx.db, DLQ_SOURCE, run.id));
            await runCtx.emit({ type: 'automation.run_succeeded', resourceType: 'automation_run', resourceId: run.id, data: { automation_id: run.automationId, trigger: run.trigger, duration_ms: durationMs }, audit: false });
          }
          writes.push(writeEmits(ctx));
          const counts = new Map<string, number>();
          for (const entry of group) counts.set(entry.automation.id, (counts.get(entry.automation.id) ?? 0) + 1);
          // Last, in id order (two groups of a tenant lock the same rows in the same order): every
          // run of an automation updates its row, whose lock is then held only until the commit.
          for (const [automationId, n] of [...counts].sort(([x], [y]) => (x < y ? -1 : 1))) writes.push(this.countRuns(ctx.db, tenantId, automationId, n));
          // Every statement is waited for before the transaction ends, failed or not.
          const written = await Promise.allSettled(writes);
          const refused = written.find((r) => r.status === 'rejected');
          if (refused) throw (refused as PromiseRejectedResult).reason;
        },
        { deferEmits: true },
      );
      return true;
    } catch (error) {
      this.logFast(error);
      return false;
    }
  }

  /**
   * Claims and finishes the group's runs in one statement, each as it was read (pending, at the attempt
   * and with no step): a worker that took one meanwhile makes it match nothing, and NotClaimable rolls
   * back everything the transaction did; a second worker running the same runs waits on the rows and
   * then matches nothing. So a run's actions apply once. It is the last write before the finish.
   */
  private async claimDone(db: Db, tenantId: string, done: FastDone[]): Promise<void> {
    const finished = new Date().toISOString();
    const claims = done.map(({ entry, attempts, steps, startedAt, durationMs }) => ({ id: entry.run.id, attempts, steps, started_at: startedAt, duration_ms: (entry.run.durationMs ?? 0) + durationMs }));
    const claimed = rows<{ id: string }>(
      await db.execute(sql`
        update automation_runs r
        set status = 'succeeded', attempts = v.attempts, started_at = coalesce(r.started_at, v.started_at), steps = v.steps, error = null,
          duration_ms = v.duration_ms, finished_at = ${finished}::timestamptz, updated_at = ${finished}::timestamptz
        from jsonb_to_recordset(${JSON.stringify(claims)}::jsonb) as v(id text, attempts int, steps jsonb, started_at timestamptz, duration_ms int)
        where r.tenant_id = ${tenantId} and r.id = v.id and r.status = 'pending' and r.attempts = v.attempts - 1 and jsonb_array_length(r.steps) = 0
        returning r.id`),
    );
    if (claimed.length !== claims.length) throw new NotClaimable();
  }

  private fastMeta({ run, runAs }: FastRun): RequestMeta {
    return { ...this.meta(run.tenantId, run.id), ...(runAs ? { principal: runAs } : {}) };
  }

  private logFast(error: unknown): void {
    if (!(error instanceof NotClaimable) && !(error instanceof ActionError)) this.kernel.log.debug({ err: error }, 'automation runs fast path failed; working them step by step');
  }

  private countRuns(db: Db, tenantId: string, automationId: string, n: number): Promise<unknown> {
    return db
      .update(automations)
      .set({ runCount: sql`${automations.runCount} + ${n}`, lastRunAt: new Date() })
      .where(and(eq(automations.tenantId, tenantId), eq(automations.id, automationId)));
  }

  /**
   * A pending run's actions in the group's transaction, acting as the run (`ctx`); what the claim then
   * writes. An action's error is thrown as is: `execute` then works the run step by step, with its
   * retries, `on_error` and dead letters.
   */
  private async fastWork(ctx: TenantContext, entry: FastRun): Promise<FastDone> {
    const { run, automation } = entry;
    const startedAt = new Date().toISOString();
    const started = performance.now();
    const attempts = run.attempts + 1;
    const event = (run.input.event ?? {}) as Record<string, unknown>;
    const scope: ActionScope = { event, data: event.data ?? null, steps: {}, now: new Date().toISOString() };
    const steps: StepResult[] = [];
    for (const [index, action] of automation.actions.entries()) {
      const stepStarted = performance.now();
      const id = stepId(action, index);
      const output = await performInTransaction(ctx, action, scope, `actions[${index}].input`);
      scope.steps[id] = output ?? null;
      steps.push({ index, id, type: action.type, status: 'succeeded', output: output ?? null, error: null, duration_ms: Math.round(performance.now() - stepStarted), attempts });
    }
    return { ctx, entry, attempts, steps, startedAt, durationMs: Math.round(performance.now() - started) };
  }

  /** Works one run: resumes after the last recorded step; retries, fails into the DLQ, or completes. */
  async execute(tenantId: string, runId: string): Promise<void> {
    let meta = this.meta(tenantId, runId);
    const claimed = await runInTenant(this.kernel, meta, async (ctx) => {
      const [run] = await ctx.db
        .update(automationRuns)
        .set({ status: 'running', attempts: sql`${automationRuns.attempts} + 1`, startedAt: sql`coalesce(${automationRuns.startedAt}, now())`, updatedAt: new Date() })
        .where(
          and(
            eq(automationRuns.tenantId, tenantId),
            eq(automationRuns.id, runId),
            // A running run is taken over only once its worker has written nothing for RUN_LEASE_MS
            // (every step writes): its worker died, and pg-boss handed the job to another.
            or(eq(automationRuns.status, 'pending'), and(eq(automationRuns.status, 'running'), lt(automationRuns.updatedAt, new Date(Date.now() - RUN_LEASE_MS)))),
          ),
        )
        .returning();
      if (!run) return null;
      const [automation] = await ctx.db.select().from(automations).where(and(eq(automations.tenantId, tenantId), eq(automations.id, run.automationId)));
      return { run, automation };
    });
    if (!claimed) return;
    const { run, automation } = claimed;
    if (!automation) {
      await this.finish(meta, run, 'failed', 'The automation was deleted', 0, and(eq(automationRuns.tenantId, tenantId), eq(automationRuns.id, runId), eq(automationRuns.attempts, run.attempts)));
      return;
    }
    // The run acts as the key or user that made the automation, with what they may do now: a revoked
    // key or a deleted user stops its automations rather than leaving them the tenant's full power.
    const runAs = NAMED_PRINCIPALS.has(automation.createdByType) && automation.createdById
      ? await this.kernel.principals.load(tenantId, automation.createdByType, automation.createdById)
      : undefined;
    if (runAs === null) {
      const message = `The automation runs as ${automation.createdByType} ${automation.createdById}, which is revoked or no longer exists`;
      await this.finish(meta, run, 'failed', message, 0, and(eq(automationRuns.tenantId, tenantId), eq(automationRuns.id, runId), eq(automationRuns.attempts, run.attempts)));
      return;
    }
    if (runAs) meta = { ...meta, principal: runAs };
    const event = (run.input.event ?? {}) as Record<string, unknown>;
    const scope: ActionScope = { event, data: event.data ?? null, steps: {}, now: new Date().toISOString() };
    const done = new Map<number, StepResult>();
    // Done: a step that succeeded, or failed under `on_error: continue`. A step that failed the run
    // (before a retry from the DLQ) runs again.
    for (const step of run.steps) {
      const action = automation.actions[step.index];
      if (step.status === 'succeeded' || (step.status === 'failed' && action?.on_error === 'continue')) {
        done.set(step.index, step);
        scope.steps[step.id] = step.output ?? null;
      }
    }
    // Every write of this worker holds while the run is still its own: running, at this attempt.
    const fence = and(eq(automationRuns.tenantId, tenantId), eq(automationRuns.id, runId), eq(automationRuns.status, 'running'), eq(automationRuns.attempts, run.attempts));
    const started = performance.now();
    try {
      await this.work(meta, run, automation, scope, done, fence, started);
    } catch (error) {
      if (error instanceof RunFenced) return;
      throw error;
    }
  }

  private async work(
    meta: RequestMeta,
    run: AutomationRunRow,
    automation: typeof automations.$inferSelect,
    scope: ActionScope,
    done: Map<number, StepResult>,
    fence: ReturnType<typeof and>,
    started: number,
  ): Promise<void> {
    const { tenantId, id: runId } = run;
    for (const [index, action] of automation.actions.entries()) {
      if (done.has(index)) continue;
      const id = stepId(action, index);
      const stepStarted = performance.now();
      const record = (status: StepResult['status'], output: unknown, error: string | null) => async (ctx: Parameters<Parameters<typeof runInTenant>[2]>[0]) => {
        const step: StepResult = { index, id, type: action.type, status, output: output ?? null, error, duration_ms: Math.round(performance.now() - stepStarted), attempts: run.attempts };
        const written = await ctx.db
          .update(automationRuns)
          .set({ steps: sql`${automationRuns.steps} || ${JSON.stringify([step])}::jsonb`, updatedAt: new Date() })
          .where(fence)
          .returning({ id: automationRuns.id });
        // Taken over: the step's own change (same transaction) is rolled back with it.
        if (written.length === 0) throw new RunFenced();
      };
      try {
        const output = await performAction(this.kernel, meta, action, scope, `actions[${index}].input`, (ctx, out) => record('succeeded', out, null)(ctx));
        scope.steps[id] = output ?? null;
      } catch (error) {
        if (error instanceof RunFenced) throw error;
        const failure = error instanceof ActionError ? error : new ActionError(String(error), true);
        if (action.on_error === 'continue') {
          await runInTenant(this.kernel, meta, record('failed', null, failure.message));
          scope.steps[id] = null;
          continue;
        }
        const delays = this.kernel.config.AUTOMATION_RETRY_DELAYS_MS;
        const message = `actions[${index}] (${action.type}) failed: ${failure.message}`;
        if (failure.retryable && run.attempts <= delays.length) {
          const requeued = await runInTenant(this.kernel, meta, (ctx) =>
            ctx.db.update(automationRuns).set({ status: 'pending', error: message, updatedAt: new Date() }).where(fence).returning({ id: automationRuns.id }),
          );
          if (requeued.length) await this.queue(tenantId, runId, delays[run.attempts - 1]!);
          return;
        }
        await runInTenant(this.kernel, meta, record('failed', null, failure.message));
        await this.finish(meta, run, 'failed', message, Math.round(performance.now() - started), fence);
        return;
      }
    }
    await this.finish(meta, run, 'succeeded', null, Math.round(performance.now() - started), fence);
  }

  private async finish(meta: RequestMeta, run: AutomationRunRow, status: 'succeeded' | 'failed', error: string | null, durationMs: number, fence: ReturnType<typeof and>): Promise<void> {
    await runInTenant(this.kernel, meta, async (ctx) => {
      const finished = await ctx.db
        .update(automationRuns)
        .set({ status, error, durationMs: (run.durationMs ?? 0) + durationMs, finishedAt: new Date(), updatedAt: new Date() })
        .where(fence)
        .returning({ id: automationRuns.id });
      if (finished.length === 0) return;
      if (status === 'succeeded') {
        await resolveDeadLetter(ctx.db, DLQ_SOURCE, run.id);
        await ctx.emit({ type: 'automation.run_succeeded', resourceType: 'automation_run', resourceId: run.id, data: { automation_id: run.automationId, trigger: run.trigger, duration_ms: durationMs }, audit: false });
      } else {
        await addDeadLetter(ctx.db, {
          tenantId: run.tenantId,
          source: DLQ_SOURCE,
          referenceId: run.id,
          summary: { automation_id: run.automationId, run_id: run.id, event_id: run.eventId, trigger: run.trigger },
          error,
          attempts: run.attempts,
        });
        await ctx.emit({ type: 'automation.run_failed', resourceType: 'automation_run', resourceId: run.id, data: { automation_id: run.automationId, trigger: run.trigger, error: error ?? '' }, audit: false });
      }
      // Last: every run of the automation updates this one row, and holds its lock until the commit.
      await ctx.db
        .update(automations)
        .set({ runCount: sql`${automations.runCount} + 1`, lastRunAt: new Date() })
        .where(and(eq(automations.tenantId, run.tenantId), eq(automations.id, run.automationId)));
    });
  }
}
