import { afterAll, describe, expect, it } from 'vitest';
import { runOutage } from './support/outage.ts';
import { copyPostgresTemplate } from './support/platform.ts';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

/**
 * PostgreSQL (and Redis, when the pass has it) cut under load through TCP proxies that destroy the live
 * connections, then restored. The real server process must live through it, answer only 2xx or a 503
 * with Retry-After in the envelope, say so on /ready, work again by itself, and keep every write it
 * acknowledged. Timings are logged, not asserted: the bound on recovery is only there to end the test.
 */
describe.runIf(process.env.DATABASE_URL)('database outage under load', { timeout: 240_000 }, () => {
  it(`survives PostgreSQL${process.env.REDIS_URL ? ' and Redis' : ''} going away and coming back`, async () => {
    const db = await copyPostgresTemplate();
    cleanups.push(db.drop);
    const report = await runOutage({
      databaseUrl: db.url,
      redisUrl: process.env.REDIS_URL,
      warmupMs: 2_000,
      redisOutageMs: 3_000,
      outageMs: 5_000,
      settleMs: 2_000,
      recoveryTimeoutMs: 60_000,
      concurrency: 8,
      log: (line) => console.log(`[outage] ${line}`),
    });
    console.log(
      `[outage] ${report.requests} requests ${JSON.stringify(report.byStatus)}; 503s ${report.unavailable}; ` +
        `recovered in ${report.recoverySeconds} s; acknowledged writes ${report.acknowledgedWrites}, lost ${report.lostWrites.length}; ` +
        `webhooks undelivered ${report.undeliveredWebhooks}; by phase ${JSON.stringify(report.byPhase)}`,
    );

    expect(report.crashed, report.serverOutput).toBe(false);
    // Only 2xx and 503: no 500, no reset connection, no other status; and none at all with Redis alone down.
    expect(report.failures, report.serverOutput).toEqual([]);
    expect(report.unavailable, 'the outage was seen as 503s').toBeGreaterThan(0);
    expect(report.unavailableMalformed).toEqual([]);
    expect(report.readyDuringOutage.length).toBeGreaterThan(0);
    expect(report.readyDuringOutage.every((s) => s === 503), JSON.stringify(report.readyDuringOutage)).toBe(true);
    expect(report.recoverySeconds, 'works again without a restart').not.toBeNull();
    if (process.env.REDIS_URL) {
      // What needs Redis's shared record (an Idempotency-Key) says so while it is down, and works after.
      expect(report.idempotentWhileRedisDown).toEqual({ status: 503, wellFormed: true, statusAfter: 201 });
    }
    expect(report.acknowledgedWrites).toBeGreaterThan(0);
    expect(report.lostWrites).toEqual([]);
    expect(report.undeliveredWebhooks, 'background work resumed: every write reached its webhook').toBe(0);
  });
});
