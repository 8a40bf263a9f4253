import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from './support/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(() => t?.close());

describe('smoke', () => {
  it('creates a tenant and lists its keys', async () => {
    const { token } = await t.newTenant();
    const res = await t.request('GET', '/v1/keys', { token });
    expect(res.status).toBe(200);
    expect(res.body.data).toHaveLength(1);
  });
});
