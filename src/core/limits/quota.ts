import { and, eq, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../db/client.ts';
import { logLoopFailure } from '../db/errors.ts';
import { PeriodicFlush } from './flush.ts';
import { billingPeriod, type BillingPeriod } from './period.ts';
import { usageCounters } from './tables.ts';

export interface QuotaStatus {
  allowed: boolean;
  used: number;
  limit: number;
  remaining: number;
  /** Share of the period's quota used, 0..100 with one decimal. */
  percent: number;
  period: string;
  /** When the period, and with it the quota, ends. */
  resetsAt: Date;
}

interface Counter {
  /** The total in the database when last read or flushed, all processes included. */
  known: number;
  /** Requests this process counted and has not flushed yet. */
  pending: number;
  /** Requests being added by a flush in progress: still counted, or a request during a flush would see too few. */
  sending: number;
  /** Asked for since the last flush: an idle counter is dropped (the database keeps its total). */
  touched: boolean;
  loading?: Promise<void>;
}

/**
 * Monthly request quota. Writing a row per request would double the database work of every read, so
 * each process counts in memory and adds its counts to `usage_counters` every USAGE_FLUSH_MS; the
 * database total is the truth, and a process sees other processes' requests at its next flush.
 */
export class RequestQuota extends PeriodicFlush {
  private readonly counters = new Map<string, Counter>();

  constructor(
    private readonly db: Database,
    private readonly log: Logger,
    flushMs: number,
  ) {
    super(flushMs);
  }

  private counter(tenantId: string, period: string): Counter {
    const key = `${tenantId}:${period}`;
    let counter = this.counters.get(key);
    if (!counter) {
      counter = { known: 0, pending: 0, sending: 0, touched: true };
      const c = counter;
      counter.loading = this.read(tenantId, period).then(
        (value) => {
          c.known = value;
          c.loading = undefined;
        },
        (error: unknown) => {
          // Not kept: a read that failed (the database was down) is tried again by the next request.
          if (this.counters.get(key) === c) this.counters.delete(key);
          throw error;
        },
      );
      this.counters.set(key, counter);
    }
    counter.touched = true;
    return counter;
  }

  private async read(tenantId: string, period: string): Promise<number> {
    const rows = await this.db.system
      .select({ value: usageCounters.value })
      .from(usageCounters)
      .where(and(eq(usageCounters.tenantId, tenantId), eq(usageCounters.period, period), eq(usageCounters.metric, 'requests')));
    return rows[0]?.value ?? 0;
  }

  /** Counts one request if the quota of the tenant's billing period (anchored on `anchorDay`) allows it. */
  async hit(tenantId: string, limit: number, anchorDay?: number): Promise<QuotaStatus> {
    const period = billingPeriod(new Date(), anchorDay);
    const counter = this.counter(tenantId, period.key);
    if (counter.loading) await counter.loading;
    const used = counter.known + counter.sending + counter.pending;
    if (used >= limit) return status(false, used, limit, period);
    counter.pending += 1;
    return status(true, used + 1, limit, period);
  }

  /** The period's count as this process knows it (GET /v1/usage). */
  async used(tenantId: string, anchorDay?: number): Promise<number> {
    const counter = this.counter(tenantId, billingPeriod(new Date(), anchorDay).key);
    if (counter.loading) await counter.loading;
    return counter.known + counter.sending + counter.pending;
  }

  protected async flushNow(): Promise<void> {
    for (const [key, counter] of this.counters) {
      const [tenantId, period] = key.split(':') as [string, string];
      const n = counter.pending;
      if (n === 0) {
        // Past periods and idle tenants: the next request reads the total again.
        if (!counter.touched && !counter.loading) this.counters.delete(key);
        counter.touched = false;
        continue;
      }
      counter.pending -= n;
      counter.sending = n;
      try {
        const rows = await this.db.system
          .insert(usageCounters)
          .values({ tenantId, period, metric: 'requests', value: n })
          .onConflictDoUpdate({
            target: [usageCounters.tenantId, usageCounters.period, usageCounters.metric],
            set: { value: sql`${usageCounters.value} + ${n}`, updatedAt: new Date() },
          })
          .returning({ value: usageCounters.value });
        counter.known = rows[0]?.value ?? counter.known + n;
      } catch (error) {
        counter.pending += n; // keep the counts for the next flush
        logLoopFailure(this.log, error, 'usage flush failed', {}, 'warn');
      } finally {
        counter.sending = 0;
      }
    }
  }
}

function status(allowed: boolean, used: number, limit: number, period: BillingPeriod): QuotaStatus {
  const remaining = Math.max(0, limit - used);
  const percent = limit > 0 ? Math.min(100, Math.round((used / limit) * 1000) / 10) : 100;
  return { allowed, used, limit, remaining, percent, period: period.key, resetsAt: period.end };
}
