import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(() => t?.close());

const until = async (check: () => boolean, timeoutMs = 20_000) => {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('jobs', () => {
  it('works a sent job in-process, and retries a failing one until it succeeds', async () => {
    const seen: unknown[] = [];
    let attempts = 0;
    t.kernel.jobs.define<{ n: number }>('test.echo', { handler: async (data) => void seen.push(data) });
    t.kernel.jobs.define<{ n: number }>('test.flaky', {
      retryLimit: 3,
      retryDelay: 1,
      retryBackoff: false,
      handler: async () => {
        attempts += 1;
        if (attempts < 2) throw new Error('transient');
      },
    });
    await t.kernel.jobs.start({ work: true });
    await t.kernel.jobs.send('test.echo', { n: 1 });
    await t.kernel.jobs.send('test.flaky', { n: 2 });
    await until(() => seen.length === 1 && attempts === 2);
    expect(seen).toEqual([{ n: 1 }]);
  });

  it('refuses to send to a queue nobody defined', async () => {
    await expect(t.kernel.jobs.send('test.undefined', {})).rejects.toThrow(/not defined/);
  });
});
