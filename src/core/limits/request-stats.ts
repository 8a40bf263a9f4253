import { sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../db/client.ts';
import { logLoopFailure } from '../db/errors.ts';
import { PeriodicFlush } from './flush.ts';

/**
 * Per-tenant request statistics by hour, route family and status, with a latency histogram: what
 * tenant analytics reads instead of scanning raw rows (there are none: requests are not stored one by
 * one). Counted in memory and added to `request_stats` every USAGE_FLUSH_MS with one statement, like
 * the request quota, so recording costs a request a map lookup.
 */

/** Upper bounds (ms) of the latency buckets; the last bucket is everything slower. */
export const LATENCY_BOUNDS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000] as const;
const BUCKETS = LATENCY_BOUNDS_MS.length + 1;
/** Entries kept between flushes; past it new keys are dropped (counted in `dropped`) rather than grow without bound. */
const MAX_KEYS = 50_000;

interface Entry {
  tenantId: string;
  hour: string;
  family: string;
  status: number;
  count: number;
  durationMs: number;
  buckets: number[];
}

export class RequestStats extends PeriodicFlush {
  private pending = new Map<string, Entry>();
  /** New keys refused since the last flush because `pending` was full; logged at the flush. */
  private dropped = 0;
  /** The current hour as written to the table, made once an hour rather than once a request. */
  private hourStart = -1;
  private hourIso = '';

  constructor(
    private readonly db: Database,
    private readonly log: Logger,
    flushMs: number,
  ) {
    super(flushMs);
  }

  record(tenantId: string, family: string, status: number, ms: number, now = Date.now()): void {
    const start = now - (now % 3_600_000);
    if (start !== this.hourStart) {
      this.hourStart = start;
      this.hourIso = new Date(start).toISOString();
    }
    const hour = this.hourIso;
    const key = `${tenantId}|${hour}|${family}|${status}`;
    let e = this.pending.get(key);
    if (!e) {
      if (this.pending.size >= MAX_KEYS) {
        this.dropped++;
        return;
      }
      e = { tenantId, hour, family, status, count: 0, durationMs: 0, buckets: new Array<number>(BUCKETS).fill(0) };
      this.pending.set(key, e);
    }
    e.count++;
    e.durationMs += ms;
    let b = 0;
    while (b < LATENCY_BOUNDS_MS.length && ms > LATENCY_BOUNDS_MS[b]!) b++;
    e.buckets[b]!++;
  }

  protected async flushNow(): Promise<void> {
    if (this.dropped > 0) {
      this.log.warn({ dropped: this.dropped }, 'request stats: too many distinct keys between flushes; some requests were not counted');
      this.dropped = 0;
    }
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    try {
      // One statement per batch; buckets add element by element.
      for (let i = 0; i < batch.length; i += 1000) {
        const rows = batch.slice(i, i + 1000);
        await this.db.system.execute(sql`
          insert into request_stats (tenant_id, hour, family, status, count, duration_ms, buckets)
          values ${sql.join(
            rows.map((e) => sql`(${e.tenantId}, ${e.hour}::timestamptz, ${e.family}, ${e.status}, ${e.count}, ${e.durationMs}, ${`{${e.buckets.join(',')}}`}::bigint[])`),
            sql`, `,
          )}
          on conflict (tenant_id, hour, family, status) do update set
            count = request_stats.count + excluded.count,
            duration_ms = request_stats.duration_ms + excluded.duration_ms,
            buckets = (select array_agg(coalesce(a, 0) + coalesce(b, 0) order by n)
                       from unnest(request_stats.buckets, excluded.buckets) with ordinality as u(a, b, n))`);
        for (const e of rows) e.count = 0;
      }
    } catch (error) {
      // Keep what was not written for the next flush.
      for (const e of batch) if (e.count > 0) this.merge(e);
      logLoopFailure(this.log, error, 'request stats flush failed', {}, 'warn');
    }
  }

  private merge(e: Entry): void {
    const key = `${e.tenantId}|${e.hour}|${e.family}|${e.status}`;
    const cur = this.pending.get(key);
    if (!cur) {
      this.pending.set(key, e);
      return;
    }
    cur.count += e.count;
    cur.durationMs += e.durationMs;
    for (let b = 0; b < BUCKETS; b++) cur.buckets[b]! += e.buckets[b]!;
  }
}

/** The latency at quantile q (0..1) from summed bucket counts: the bucket's upper bound, interpolated within it. */
export function quantileFromBuckets(buckets: number[], q: number): number | null {
  const total = buckets.reduce((s, n) => s + n, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let b = 0; b < buckets.length; b++) {
    const n = buckets[b]!;
    if (seen + n >= rank && n > 0) {
      const lower = b === 0 ? 0 : LATENCY_BOUNDS_MS[b - 1]!;
      const upper = LATENCY_BOUNDS_MS[b] ?? lower * 2;
      return Math.round((lower + ((rank - seen) / n) * (upper - lower)) * 10) / 10;
    }
    seen += n;
  }
  return LATENCY_BOUNDS_MS.at(-1)!;
}
