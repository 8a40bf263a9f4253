import { sql } from 'drizzle-orm';
import type { Kernel } from '../../../core/kernel.ts';
import { runInTenant } from '../../../core/context.ts';
import type { Db } from '../../../core/db/client.ts';

/** One event of a run's log, as stored and as streamed (`seq` is the SSE id). */
export interface RunEvent {
  seq: number;
  type: string;
  data: Record<string, unknown>;
  created_at: string;
}

/** The bus channel of one run's events (every process following it subscribes). */
export const runChannel = (tenantId: string, runId: string) => `agents.run.${tenantId}.${runId}`;
/** The bus channel of a tenant's run status changes (application- and agent-wide streams). */
export const tenantRunsChannel = (tenantId: string) => `agents.runs.${tenantId}`;
/** Cancel requests, to whichever process runs the run. */
export const CANCEL_CHANNEL = 'agents.cancel';

export interface StatusMessage {
  run_id: string;
  agent_id: string;
  application_id: string | null;
  event: RunEvent;
}

/** How long events wait to be written together. */
const BATCH_MS = 15;

export const systemMeta = (tenantId: string) => ({ tenantId, actor: { type: 'system', id: 'agents' }, requestId: null });

type RunRef = { id: string; agentId: string; applicationId: string | null };

/**
 * Publishes committed events: to the run's channel in one message (an array when there are several: a
 * run's events come in bursts, model deltas word by word, and each message is a Redis round trip),
 * status events to the tenant's channel too. `runChannel: false` leaves out the run's channel (a run
 * whose id nobody has yet: its streams, opened later, read the table first).
 */
export function publishEvents(kernel: Kernel, tenantId: string, run: RunRef, events: RunEvent[], options: { runChannel?: boolean } = {}): Promise<void> {
  return publishRuns(kernel, tenantId, [{ run, events }], options);
}

/**
 * publishEvents for several runs of a tenant (the ends written together): each run's events on its
 * channel, and their status events in one message on the tenant's channel (an array when there are
 * several, see statusMessagesOf). `tenantOnly`: status events, before `events`, that go to the tenant's
 * channel only (a run's `queued`, announced with its `running`).
 */
export async function publishRuns(
  kernel: Kernel,
  tenantId: string,
  items: { run: RunRef; events: RunEvent[]; tenantOnly?: RunEvent[] }[],
  options: { runChannel?: boolean } = {},
): Promise<void> {
  const sends: Promise<void>[] = [];
  const statuses: StatusMessage[] = [];
  for (const { run, events, tenantOnly = [] } of items) {
    if (events.length && options.runChannel !== false) sends.push(kernel.bus.publish(runChannel(tenantId, run.id), JSON.stringify(events.length === 1 ? events[0] : events)));
    for (const event of [...tenantOnly, ...events]) {
      if (event.type === 'status') statuses.push({ run_id: run.id, agent_id: run.agentId, application_id: run.applicationId, event });
    }
  }
  if (statuses.length) sends.push(kernel.bus.publish(tenantRunsChannel(tenantId), JSON.stringify(statuses.length === 1 ? statuses[0] : statuses)));
  await Promise.all(sends);
}

/** Announces a created run's `queued` on the tenant's channel, unless that is done already (publishRuns). */
export async function announceQueued(kernel: Kernel, known: { run: RunRef & { tenantId: string }; queued: RunEvent; announced?: boolean }): Promise<void> {
  if (known.announced) return;
  known.announced = true;
  await publishRuns(kernel, known.run.tenantId, [{ run: known.run, events: [known.queued] }], { runChannel: false });
}

/** The status messages of a message on a tenant's channel (one, or an array of them). */
export function statusMessagesOf(message: string): StatusMessage[] {
  const parsed = JSON.parse(message) as StatusMessage | StatusMessage[];
  return Array.isArray(parsed) ? parsed : [parsed];
}

/** The events of a message on a run's channel (one event, or an array of them). */
export function eventsOf(message: string): RunEvent[] {
  const parsed = JSON.parse(message) as RunEvent | RunEvent[];
  return Array.isArray(parsed) ? parsed : [parsed];
}

/**
 * Stores runs' events in one statement, in `db` (the caller's tenant transaction). The rows travel as
 * one JSON parameter: a multi-row insert binds six parameters per event, and building and binding
 * those cost more than the insert.
 */
export async function insertEvents(db: Db, tenantId: string, rows: { runId: string; events: RunEvent[] }[]): Promise<void> {
  const flat = rows.flatMap(({ runId, events }) => events.map((e) => ({ run_id: runId, seq: e.seq, type: e.type, data: e.data, created_at: e.created_at })));
  if (flat.length === 0) return;
  await db.execute(sql`insert into agent_run_events (tenant_id, run_id, seq, type, data, created_at)
    select ${tenantId}, e.run_id, e.seq, e.type, e.data, e.created_at
      from jsonb_to_recordset(${JSON.stringify(flat)}::jsonb) as e(run_id text, seq integer, type text, data jsonb, created_at timestamptz)`);
}

/**
 * Appends a running run's events: `push` numbers them at once (the order the worker produced them),
 * and they are written in batches, one write at a time, each batch published after it commits. Only the
 * worker holding the run's lease writes its log, so the numbering has one author.
 */
export class EventWriter {
  private pending: RunEvent[] = [];
  private chain: Promise<void> = Promise.resolve();
  private failed: unknown;

  constructor(
    private readonly kernel: Kernel,
    private readonly tenantId: string,
    private readonly run: { id: string; agentId: string; applicationId: string | null },
    public seq: number,
  ) {}

  private timer: NodeJS.Timeout | undefined;

  push(type: string, data: Record<string, unknown>): RunEvent {
    const event = { seq: ++this.seq, type, data, created_at: new Date().toISOString() };
    this.pending.push(event);
    // Events of the next few milliseconds go in one write (model deltas come word by word); a run
    // that ends within them writes them with its end instead.
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.chain = this.chain.then(() => this.flushNow());
    }, BATCH_MS);
    return event;
  }

  /** Waits until every event pushed so far is stored; rethrows a failed write. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.chain = this.chain.then(() => this.flushNow());
    }
    await this.chain;
    if (this.failed) throw this.failed;
  }

  /** Events not yet written, for the run's final transaction (written with the run's end). */
  take(): RunEvent[] {
    clearTimeout(this.timer);
    this.timer = undefined;
    const events = this.pending;
    this.pending = [];
    return events;
  }

  /** Puts events taken back in front of the pending ones. */
  restore(events: RunEvent[]): void {
    this.pending = [...events, ...this.pending];
  }

  private async flushNow(): Promise<void> {
    const batch = this.take();
    if (batch.length === 0 || this.failed) return;
    try {
      await runInTenant(this.kernel, systemMeta(this.tenantId), (ctx) => insertEvents(ctx.db, this.tenantId, [{ runId: this.run.id, events: batch }]));
      await publishEvents(this.kernel, this.tenantId, this.run, batch);
    } catch (error) {
      this.failed = error;
    }
  }
}
