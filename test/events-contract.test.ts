import { afterAll, beforeAll, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from './support/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(() => t?.close());

/** The platform seed's Webhooks, Webhook Deliveries, DLQ, Events, Realtime, Notifications, Email and Errors sections. */
const SEED_ROUTES = [
  'GET /v1/webhooks',
  'POST /v1/webhooks',
  'PATCH /v1/webhooks/{webhook_id}',
  'DELETE /v1/webhooks/{webhook_id}',
  'POST /v1/webhooks/{webhook_id}/replay',
  'POST /v1/webhooks/{webhook_id}/rotate-secret',
  'POST /v1/webhooks/{webhook_id}/test',
  'GET /v1/webhook-deliveries',
  'POST /v1/webhook-deliveries/{delivery_id}/retry',
  'DELETE /v1/dlq/{msg_id}',
  'GET /v1/dlq',
  'POST /v1/dlq/{msg_id}/retry',
  'GET /v1/realtime/stats',
  'GET /v1/realtime',
  'GET /events/stream',
  'GET /events/types',
  'POST /v1/events',
  'GET /v1/events/list',
  'POST /v1/errors/report',
  'POST /v1/email/send',
  'DELETE /v1/auth/notifications/preferences/{channel}',
  'GET /v1/auth/notifications/preferences',
  'PUT /v1/auth/notifications/preferences',
  'GET /v1/auth/notifications',
  'POST /v1/auth/notifications/read-all',
  'PATCH /v1/auth/notifications/{notification_id}/read',
  'GET /v1/auth/notifications/count',
];

it('documents every endpoint of the events and delivery sections at the seed\'s path', async () => {
  const spec = (await t.request('GET', '/docs/openapi.json')).body;
  const missing = SEED_ROUTES.filter((route) => {
    const [method, path] = route.split(' ') as [string, string];
    return !spec.paths[path]?.[method.toLowerCase()];
  });
  expect(missing).toEqual([]);
  expect(spec.paths['/v1/realtime'].get.responses['426']).toBeDefined();
  // The query token is a documented way in, not just a parameter.
  expect(spec.components.securitySchemes.queryToken).toMatchObject({ type: 'apiKey', in: 'query', name: 'token' });
  for (const path of ['/v1/realtime', '/events/stream']) {
    expect(spec.paths[path].get.security, path).toEqual([{ bearerAuth: [] }, { queryToken: [] }]);
    expect(spec.paths[path].get.parameters.find((p: { name: string }) => p.name === 'token'), path).toMatchObject({ in: 'query' });
  }
  expect(spec.paths['/v1/realtime'].get.parameters.filter((p: { required: boolean }) => p.required).map((p: { name: string }) => p.name).sort()).toEqual(['tenant_id', 'token']);
  expect(spec.paths['/v1/keys'].get.security).toEqual([{ bearerAuth: [] }]);
  expect(spec.paths['/events/stream'].get.responses['200'].content['text/event-stream']).toBeDefined();
});
