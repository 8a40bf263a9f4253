import type { Kernel } from '../../../core/kernel.ts';
import { runInTenant } from '../../../core/context.ts';
import { eventsOf, runChannel, statusMessagesOf, systemMeta, tenantRunsChannel, type RunEvent, type StatusMessage } from './log.ts';
import { runEvents, TERMINAL } from './runs.ts';
import type { RunStatus } from '../tables.ts';

const isEnd = (e: RunEvent) => e.type === 'status' && TERMINAL.has(e.data.status as RunStatus);
/** With no live event for this long, the stream reads the table again (a lost bus message, a dead worker). */
const RECHECK_MS = 2_000;

/**
 * Follows one run's log: history after `after` first, then live events, each sent exactly once in
 * sequence order, until the run ends or `closed()`. It subscribes to the live channel before reading
 * the history, so nothing published in between is missed; live events at or below what was sent are
 * dropped, and a gap (a bus message lost: delivery is at-most-once) is filled from the table.
 */
export async function followRun(
  kernel: Kernel,
  tenantId: string,
  runId: string,
  after: number,
  send: (event: RunEvent) => Promise<void>,
  closed: () => boolean,
): Promise<void> {
  const buffer: RunEvent[] = [];
  let wake: (() => void) | undefined;
  const off = kernel.bus.subscribe(runChannel(tenantId, runId), (message) => {
    try {
      buffer.push(...eventsOf(message));
    } catch {
      return;
    }
    wake?.();
  });
  let last = Math.max(0, after);
  let ended = false;
  const fromTable = async () => {
    for (;;) {
      const events = await runInTenant(kernel, systemMeta(tenantId), (ctx) => runEvents(ctx, runId, last), { readOnly: true });
      for (const e of events) {
        if (closed()) return;
        await send(e);
        last = e.seq;
        if (isEnd(e)) ended = true;
      }
      if (events.length < 1000 || ended) return;
    }
  };
  try {
    await fromTable();
    while (!ended && !closed()) {
      if (buffer.length === 0) {
        const timedOut = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(true), RECHECK_MS);
          wake = () => {
            clearTimeout(timer);
            resolve(false);
          };
        });
        wake = undefined;
        if (timedOut) {
          await fromTable();
          continue;
        }
      }
      buffer.sort((a, b) => a.seq - b.seq);
      while (buffer.length && !ended && !closed()) {
        const e = buffer.shift()!;
        if (e.seq <= last) continue;
        if (e.seq > last + 1) {
          await fromTable();
          continue;
        }
        await send(e);
        last = e.seq;
        if (isEnd(e)) ended = true;
      }
    }
  } finally {
    off();
  }
}

/**
 * Follows the status changes of a tenant's runs (all of them, or one application's or agent's) as
 * they happen; live only. `send` gets the run id with each status event.
 */
export async function followRuns(
  kernel: Kernel,
  tenantId: string,
  filter: { applicationId?: string; agentId?: string },
  send: (message: StatusMessage) => Promise<void>,
  closed: () => boolean,
  maxMs = 30 * 60_000,
): Promise<void> {
  const queue: StatusMessage[] = [];
  let wake: (() => void) | undefined;
  const off = kernel.bus.subscribe(tenantRunsChannel(tenantId), (raw) => {
    let messages: StatusMessage[];
    try {
      messages = statusMessagesOf(raw);
    } catch {
      return;
    }
    for (const m of messages) {
      if (filter.applicationId && m.application_id !== filter.applicationId) continue;
      if (filter.agentId && m.agent_id !== filter.agentId) continue;
      queue.push(m);
    }
    if (queue.length) wake?.();
  });
  const until = Date.now() + maxMs;
  try {
    while (!closed() && Date.now() < until) {
      if (queue.length === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1000);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
        continue;
      }
      await send(queue.shift()!);
    }
  } finally {
    off();
  }
}
