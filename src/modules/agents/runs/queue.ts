import { createHash, randomUUID } from 'node:crypto';
import type { Kernel } from '../../../core/kernel.ts';
import type { AgentDefinition, RunRow } from '../tables.ts';
import type { RunEvent } from './log.ts';

/**
 * What the process that created a run knows of it: its row as written, the definition of its version,
 * and its `queued` status event, not yet announced on the tenant's channel: the process that starts it
 * announces it with `running`, in one bus message (`announced` once it has).
 */
export interface KnownRun {
  run: RunRow;
  definition: AgentDefinition;
  queued: RunEvent;
  announced?: boolean;
}

/** The pg-boss queue of runs: any worker process may execute one. */
export const RUN_JOB = 'agents.run';

/**
 * The job id of a run (pg-boss ids are UUIDs): fixed by the run, so that the run's job is queued once
 * however often it is asked for (by createRun, by the sweeper for a run left queued, by a fallback).
 */
export function runJobId(runId: string): string {
  const h = createHash('sha256').update(`agents.run:${runId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** This process's executor of runs (registered by the runner when the process works jobs). */
export interface LocalExecutor {
  /** Starts the run here now when there is room; false leaves it to the queue. */
  tryStart(tenantId: string, runId: string, known?: KnownRun): boolean;
}

const executors = new WeakMap<Kernel, LocalExecutor>();

export function setLocalExecutor(kernel: Kernel, executor: LocalExecutor): void {
  executors.set(kernel, executor);
}

/**
 * Hands a committed, queued run to a worker. A process that works jobs and has room starts it at once
 * (no queue round trip: no job insert, no poll, no fetch and no completion); otherwise, or when the
 * process is full or closing, the run's pg-boss job goes to whichever worker fetches it first. Either
 * way the run executes once: the claim (queued -> running) is conditional. True when it started here. A run whose process dies
 * before it is claimed stays queued, and the sweeper queues its job (sweepRuns).
 */
export async function dispatchRun(kernel: Kernel, tenantId: string, runId: string, known?: KnownRun): Promise<boolean> {
  if (executors.get(kernel)?.tryStart(tenantId, runId, known)) return true;
  await queueRun(kernel, tenantId, runId);
  return false;
}

/** Told when a run's job is queued: the workers of other processes fetch it now, not at their next poll. */
const QUEUED_CHANNEL = 'agents.run.queued';
const origins = new WeakMap<Kernel, string>();
const originOf = (kernel: Kernel) => {
  let origin = origins.get(kernel);
  if (!origin) origins.set(kernel, (origin = randomUUID()));
  return origin;
};

/** Queues a run's job for any worker (once per run: the id is the run's). */
export async function queueRun(kernel: Kernel, tenantId: string, runId: string): Promise<void> {
  // This process's own workers are woken by send.
  if ((await kernel.jobs.send(RUN_JOB, { tenantId, runId }, { id: runJobId(runId) })) !== null) await kernel.bus.publish(QUEUED_CHANNEL, originOf(kernel));
}

/** Wakes this process's run workers when another process queues a run (a process that works jobs). */
export function wakeOnQueued(kernel: Kernel): () => void {
  return kernel.bus.subscribe(QUEUED_CHANNEL, (origin) => {
    if (origin !== originOf(kernel)) kernel.jobs.wake(RUN_JOB);
  });
}
