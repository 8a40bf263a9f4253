import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FakeClock } from '../../core/clock.ts';
import { startReceiver, waitFor, type Receiver } from '../../../test/support/events.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';

let t: TestPlatform;
let r: Receiver;
const clock = new FakeClock();
beforeAll(async () => {
  t = await testPlatform({ WEBHOOK_ALLOW_LOOPBACK: 'true', EVENTS_POLL_MS: '100', WEBHOOK_TICK_MS: '100' }, { clock });
  r = await startReceiver();
});
afterAll(async () => {
  await t?.close();
  await r?.close();
});

it('delivers', async () => {
  const tenant = await t.newTenant();
  const wh = await t.request('POST', '/v1/webhooks', { token: tenant.token, body: { url: r.url, events: ['*'] } });
  expect(wh.status, wh.text).toBe(201);
  const ev = await t.request('POST', '/v1/events', { token: tenant.token, body: { event_type: 'order.placed', data: { n: 1 } } });
  expect(ev.status, ev.text).toBe(200);
  await waitFor(() => r.requests.length >= 1, 'delivery');
  const req = r.requests[0]!;
  const verified = new Webhook(wh.body.data.secret).verify(req.body, req.headers as Record<string, string>) as any;
  expect(verified.type).toBe('order.placed');
  const d = await t.request('GET', '/v1/webhook-deliveries', { token: tenant.token });
  console.log(JSON.stringify(d.body, null, 1));
});
