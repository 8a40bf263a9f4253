import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RateLimits } from './rate-limit.ts';

// Two processes of one deployment share a limit through Redis; each takes points ahead of use (leases).
const url = process.env.REDIS_URL;
const clients: Redis[] = [];
afterAll(async () => {
  for (const client of clients) client.disconnect();
});

function processLimits(prefix: string): RateLimits {
  const redis = new Redis(url!, { maxRetriesPerRequest: 1 });
  clients.push(redis);
  return new RateLimits(redis, prefix);
}

describe.skipIf(!url)('rate limits shared through Redis', () => {
  it('count down one by one for a caller of one process, and refuse past the limit', async () => {
    const limits = processLimits(`rl-test-${randomUUID()}:`);
    const remaining: number[] = [];
    for (let i = 0; i < 300; i++) {
      const rate = await limits.consume('caller', 300);
      expect(rate.allowed).toBe(true);
      remaining.push(rate.remaining);
    }
    expect(remaining).toEqual(Array.from({ length: 300 }, (_, i) => 299 - i));
    const over = await limits.consume('caller', 300);
    expect(over).toMatchObject({ allowed: false, remaining: 0 });
    expect(over.resetSeconds).toBeGreaterThan(0);
  });

  it('never admit more than the limit across processes, and lose little to what the other holds', async () => {
    const prefix = `rl-test-${randomUUID()}:`;
    const a = processLimits(prefix);
    const b = processLimits(prefix);
    let admitted = 0;
    for (let i = 0; i < 1_400; i++) {
      const rate = await (i % 3 === 0 ? b : a).consume('shared', 1_000);
      if (rate.allowed) admitted += 1;
    }
    expect(admitted).toBeLessThanOrEqual(1_000);
    expect(admitted).toBeGreaterThanOrEqual(990);
    // Another caller's allowance is its own.
    expect((await b.consume('other', 1_000)).allowed).toBe(true);
  });

  it('admit exactly the limit from concurrent requests of two processes', async () => {
    const prefix = `rl-test-${randomUUID()}:`;
    const a = processLimits(prefix);
    const b = processLimits(prefix);
    const results = await Promise.all(Array.from({ length: 120 }, (_, i) => (i % 2 ? a : b).consume('burst', 100)));
    const admitted = results.filter((r) => r.allowed).length;
    expect(admitted).toBeLessThanOrEqual(100);
    expect(admitted).toBeGreaterThanOrEqual(95);
  });

  it('admit exactly the limit from a burst of one caller on one process: concurrent requests share a lease', async () => {
    const limits = processLimits(`rl-test-${randomUUID()}:`);
    // The first request learns what the window holds; the burst then asks for leases of 50 at once.
    expect((await limits.consume('burst', 600)).allowed).toBe(true);
    const results = await Promise.all(Array.from({ length: 699 }, () => limits.consume('burst', 600)));
    expect(results.filter((r) => r.allowed).length).toBe(599);
    // A refused window stays refused here until it ends, without asking Redis again.
    const after = await limits.consume('burst', 600);
    expect(after).toMatchObject({ allowed: false, remaining: 0 });
  });
});
