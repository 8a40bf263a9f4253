import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../core/clock.ts';
import { ADMIN_KEY, testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { advanceLocalSubscriptions } from './service.ts';

/** Monthly quotas reset on the tenant's billing anchor day: the day its subscription's period starts. */
let t: TestPlatform;
const clock = new FakeClock();

beforeAll(async () => {
  t = await testPlatform({}, { clock });
});
afterAll(() => t?.close());

const admin = (method: string, path: string, body?: unknown) => t.request(method, path, { token: ADMIN_KEY, ...(body === undefined ? {} : { body }) });

describe('billing anchor day', () => {
  it('is the day the subscription\'s period started, and stays on it through a month shorter than it', async () => {
    const { tenantId, token } = await t.newTenant();
    expect((await admin('GET', `/v1/admin/tenants/${tenantId}`)).body.data.billing_anchor_day).toBe(1);
    // Subscribed (locally, without Stripe) on January 31st.
    clock.advance(Date.parse('2027-01-31T12:00:00Z') - clock.now());
    const started = await t.request('POST', `/api/v1/billing/tenants/${tenantId}/subscription`, { token, body: { plan_code: 'pro' } });
    expect(started.status, started.text).toBe(201);
    // The fake clock keeps running: the minute is what is exact.
    expect(started.body).toMatchObject({ current_period_start: expect.stringMatching(/^2027-01-31T12:00:/), current_period_end: expect.stringMatching(/^2027-02-28T12:00:/) });
    expect((await admin('GET', `/v1/admin/tenants/${tenantId}`)).body.data.billing_anchor_day).toBe(31);

    clock.advance(Date.parse('2027-03-01T00:00:00Z') - clock.now());
    expect(await advanceLocalSubscriptions(t.kernel)).toBeGreaterThanOrEqual(1);
    const renewed = await t.request('GET', `/api/v1/billing/tenants/${tenantId}/subscription`, { token });
    expect(renewed.body).toMatchObject({ status: 'active', current_period_start: expect.stringMatching(/^2027-02-28T12:00:/), current_period_end: expect.stringMatching(/^2027-03-31T12:00:/) });
    expect((await admin('GET', `/v1/admin/tenants/${tenantId}`)).body.data.billing_anchor_day).toBe(31);
  });

  it('moves the request quota\'s period: GET /v1/usage and the 429 name when it resets', async () => {
    const { tenantId, token } = await t.newTenant({ plan_limits: { requests_per_month: 2 } });
    const now = new Date();
    const anchor = Math.min(now.getUTCDate(), 28);
    const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), anchor));
    const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, anchor));
    const set = await admin('PATCH', `/v1/admin/tenants/${tenantId}`, { billing_anchor_day: anchor });
    expect(set.status, set.text).toBe(200);
    expect(set.body.data.billing_anchor_day).toBe(anchor);

    const usage = await t.request('GET', '/v1/usage', { token });
    expect(usage.status).toBe(200);
    expect(usage.body.data.requests).toMatchObject({
      period: anchor === 1 ? start.toISOString().slice(0, 7) : start.toISOString().slice(0, 10),
      period_start: start.toISOString(),
      resets_at: end.toISOString(),
      used: 1,
      limit: 2,
    });
    expect((await t.request('GET', '/v1/usage', { token })).status).toBe(200);
    const refused = await t.request('GET', '/v1/usage', { token });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('QUOTA_EXCEEDED');
    expect(refused.body.error.details.resets_at).toBe(end.toISOString());
    const retryAfter = Number(refused.headers.get('retry-after'));
    const untilEnd = (end.getTime() - Date.now()) / 1000;
    expect(retryAfter).toBeGreaterThan(untilEnd - 60);
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil(untilEnd) + 1);
  });

  it('is what the assistant contract\'s GET /usage reports as its period', async () => {
    const { tenantId, token } = await t.newTenant();
    const anchor = 31;
    expect((await admin('PATCH', `/v1/admin/tenants/${tenantId}`, { billing_anchor_day: anchor })).status).toBe(200);
    const res = await t.request('GET', '/api/v1/usage', { headers: { host: 'assistant.localhost', 'x-api-key': token } });
    expect(res.status, res.text).toBe(200);
    const period = res.body.data.period;
    expect(period.billingAnchorDay).toBe(31);
    const start = new Date(period.start);
    const end = new Date(period.end);
    expect(start.getTime()).toBeLessThanOrEqual(Date.now());
    expect(end.getTime()).toBeGreaterThan(Date.now());
    // The 31st, or the last day of a shorter month.
    for (const d of [start, end]) expect([31, new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate()]).toContain(d.getUTCDate());
    expect(end.getUTCMonth()).toBe((start.getUTCMonth() + 1) % 12);
  });

  it('refuses an anchor day outside 1..31', async () => {
    const { tenantId } = await t.newTenant();
    for (const day of [0, 32, 1.5]) expect((await admin('PATCH', `/v1/admin/tenants/${tenantId}`, { billing_anchor_day: day })).status).toBe(400);
  });
});
