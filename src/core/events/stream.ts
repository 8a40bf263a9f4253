import type { events } from './tables.ts';

/** Positions in the outbox stream and the snapshot arithmetic its readers share (the outbox and the live feed). */

export type OutboxEvent = typeof events.$inferSelect;

/** A place in the stream: events are ordered by the id of their transaction, then by seq. */
export interface Position {
  txId: string;
  seq: number;
}

export const STREAM_START: Position = { txId: '0', seq: 0 };

export const positionOf = (event: Pick<OutboxEvent, 'txId' | 'seq'>): Position => ({ txId: event.txId, seq: event.seq });

export function comparePositions(a: Position, b: Position): number {
  const ta = BigInt(a.txId);
  const tb = BigInt(b.txId);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.seq - b.seq;
}

/** A transaction snapshot (pg_current_snapshot): which transactions had ended when it was taken. */
export interface Snapshot {
  xmin: bigint;
  xmax: bigint;
  inProgress: ReadonlySet<bigint>;
}

export function parseSnapshot(text: string): Snapshot {
  const [xmin, xmax, xip = ''] = text.split(':');
  return { xmin: BigInt(xmin!), xmax: BigInt(xmax!), inProgress: new Set(xip.split(',').filter(Boolean).map((x) => BigInt(x))) };
}

/** Whether a transaction had committed (or aborted) when the snapshot was taken, as pg_visible_in_snapshot. */
export function endedBefore(snapshot: Snapshot, txId: string): boolean {
  const id = BigInt(txId);
  if (id < snapshot.xmin) return true;
  return id < snapshot.xmax && !snapshot.inProgress.has(id);
}

export interface ReadResult {
  /** Final events after the position, in stream order. */
  events: OutboxEvent[];
  /**
   * True when committed events exist after these that are not final yet (an older transaction is still
   * running); read again shortly.
   */
  pending: boolean;
  /**
   * With `pending`: the types of the committed events read that are not final yet, or null when the
   * read stopped at its limit (more such events may follow, of any type).
   */
  pendingTypes?: string[] | null;
}

/** What the live feed reads of the outbox. */
export interface FeedSource {
  snapshot(): Promise<Snapshot>;
  end(): Promise<Position>;
  read(after: Position, limit: number): Promise<ReadResult>;
  signal(): { wait(ms: number): Promise<void>; close(): void };
  wake(): void;
}
