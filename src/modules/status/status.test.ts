import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DomUtils, parseDocument } from 'htmlparser2';
import type { Element } from 'domhandler';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { TcpProxy } from '../../../test/support/proxy.ts';
import { startS3Server, type S3TestServer } from '../../../test/support/s3.ts';
import { startSmtp, tokenFromMail, type SmtpInbox } from '../../../test/support/smtp.ts';
import { advanceMaintenance, FAILURES_TO_OPEN, runChecks } from './index.ts';

/*
 * The status page end to end: file storage is real S3 (s3rver) behind a TCP proxy that the test cuts,
 * mail goes through a real SMTP server, and every assertion is made through HTTP.
 */

let t: TestPlatform;
let smtp: SmtpInbox;
let s3: S3TestServer;
let proxy: TcpProxy;
let tenant: { token: string };

beforeAll(async () => {
  smtp = await startSmtp();
  s3 = await startS3Server();
  proxy = await TcpProxy.start(s3.endpoint);
  t = await testPlatform({ ...s3.env, S3_ENDPOINT: proxy.through(s3.endpoint).replace(/\/$/, ''), SMTP_URL: smtp.url, PUBLIC_URL: 'https://status.example.test', OUTBOUND_ALLOW_LOOPBACK: 'true',
    // A loaded test worker (PGlite runs its queries on the event loop) is not what these tests are about.
    STATUS_LOOP_DELAY_DEGRADED_MS: '60000' });
  tenant = await t.newTenant();
}, 60_000);
afterAll(async () => {
  await t?.close();
  await proxy?.cut();
  await s3?.close();
  await smtp?.close();
});

const subscribe = (target: string, severity_filter = 'all') =>
  t.request('POST', '/api/v1/status/subscriptions', { body: { channel: 'email', target, severity_filter } });
const status = async () => (await t.request('GET', '/api/v1/status')).body;
const service = async (id: string) => (await status()).services.find((s: { id: string }) => s.id === id);

/** Subscribes `address` and confirms it with the token mailed to it. */
async function verifiedSubscriber(address: string, filter = 'all') {
  const created = await subscribe(address, filter);
  expect(created.status).toBe(201);
  const mail = await smtp.next(address, (m) => m.subject.includes('Confirm'));
  const verified = await t.request('POST', '/api/v1/status/subscriptions/verify', { body: { token: tokenFromMail(mail) } });
  expect(verified.status).toBe(200);
  expect(verified.body.status).toBe('active');
  return created.body.id as string;
}

const text = (el: Element, tag: string) => {
  const found = DomUtils.findOne((e) => e.name === tag, el.children, false);
  return found ? DomUtils.textContent(found) : undefined;
};

describe('status page', () => {
  it('a failing storage check opens an incident that verified subscribers receive by e-mail, and recovery resolves it', async () => {
    const created = await subscribe('Ops@Example.test');
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ channel: 'email', status: 'pending_verification', target_masked: 'o***@example.test', severity_filter: 'all', webhook_secret: null });
    const verifyMail = await smtp.next('ops@example.test');
    const token = tokenFromMail(verifyMail);
    const verified = await t.request('POST', '/api/v1/status/subscriptions/verify', { body: { token } });
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ id: created.body.id, status: 'active' });
    // Single use.
    const again = await t.request('POST', '/api/v1/status/subscriptions/verify', { body: { token } });
    expect(again.status).toBe(404);
    expect(again.body).toEqual({ detail: expect.any(String) });

    // Asked but never confirmed: gets no notices.
    expect((await subscribe('lurker@example.test')).status).toBe(201);
    await smtp.next('lurker@example.test');
    // Asked again at once: answered, not mailed again (checked with the count below).
    const twice = await subscribe('lurker@example.test');
    expect(twice.status).toBe(201);
    expect(twice.body.status).toBe('pending_verification');

    const first = await runChecks(t.kernel);
    expect(Object.fromEntries(Object.entries(first).map(([id, r]) => [id, r.status]))).toEqual({
      api: 'operational',
      database: 'operational',
      redis: 'operational',
      storage: 'operational',
      mail: 'operational',
      ai: 'operational',
      webhooks: 'operational',
    });
    expect((await service('storage')).status).toBe('operational');
    expect((await status()).overview.state).toBe('operational');

    await proxy.cut();
    for (let i = 0; i < FAILURES_TO_OPEN; i++) await runChecks(t.kernel);
    const down = await status();
    expect(down.services.find((s: { id: string }) => s.id === 'storage').status).toBe('major_outage');
    expect(down.overview.state).toBe('major_outage');
    const incident = down.incidents.find((i: { services: string[] }) => i.services.includes('storage'));
    expect(incident).toMatchObject({ automatic: true, state: 'investigating', severity: 'major', service: 'File storage', resolved_at: null });
    // What the check saw (host and port) is for operators, not the public page.
    expect(JSON.stringify(down)).not.toContain(String(proxy.port));

    const notice = await smtp.next('ops@example.test', (m) => m.subject.includes('File storage'));
    expect(notice.subject).toContain('investigating');
    expect(notice.text).toContain(incident.incident_id);
    expect(notice.text).toMatch(/Unsubscribe: DELETE https:\/\/status\.example\.test\/api\/v1\/status\/subscriptions\/[0-9a-f-]{36}\?token=\S+/);

    // A check that keeps failing does not open a second incident.
    await runChecks(t.kernel);
    expect((await status()).incidents.filter((i: { services: string[]; resolved_at: string | null }) => i.services.includes('storage') && !i.resolved_at)).toHaveLength(1);

    await proxy.restore();
    await runChecks(t.kernel);
    const up = await status();
    expect(up.services.find((s: { id: string }) => s.id === 'storage').status).toBe('operational');
    const resolved = up.incidents.find((i: { incident_id: string }) => i.incident_id === incident.incident_id);
    expect(resolved.state).toBe('resolved');
    expect(resolved.resolved_at).not.toBeNull();
    expect(resolved.updates.map((u: { state: string }) => u.state)).toEqual(['resolved', 'investigating']);
    const resolvedMail = await smtp.next('ops@example.test', (m) => m.subject.includes('resolved'));
    expect(resolvedMail.text).toContain('operational again');

    // The unverified address got its verification mail only.
    expect(smtp.messages.filter((m) => m.to.includes('lurker@example.test'))).toHaveLength(1);

    // Uptime per component per day counts the failed checks.
    const storage = up.daily_uptime.find((d: { service_id: string }) => d.service_id === 'storage');
    expect(storage.days).toHaveLength(1);
    expect(storage.days[0].uptime_percent).toBeLessThan(100);
    expect(up.uptime_metrics[0]).toMatchObject({ label: 'Platform uptime', helper_text: 'Last 30 days' });

    // Unsubscribing with the token from the notice.
    const unsubscribe = /Unsubscribe: DELETE (\S+)/.exec(resolvedMail.text)![1]!;
    const path = new URL(unsubscribe);
    const gone = await t.request('DELETE', path.pathname + path.search);
    expect(gone.status).toBe(204);
    expect((await t.request('DELETE', path.pathname + path.search)).status).toBe(404);
  }, 90_000);

  it('serves the incidents as valid RSS 2.0 at /status/rss and /status.rss', async () => {
    for (const path of ['/api/v1/status/rss', '/api/v1/status.rss']) {
      const res = await t.request('GET', path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('application/rss+xml');
      const doc = parseDocument(res.text, { xmlMode: true });
      const rss = DomUtils.findOne((e) => e.name === 'rss', doc.children)!;
      expect(rss.attribs.version).toBe('2.0');
      const channels = rss.children.filter((c): c is Element => (c as Element).name === 'channel');
      expect(channels).toHaveLength(1);
      const channel = channels[0]!;
      // RSS 2.0's required channel elements.
      for (const tag of ['title', 'link', 'description']) expect(text(channel, tag)?.length).toBeGreaterThan(0);
      const items = channel.children.filter((c): c is Element => (c as Element).name === 'item');
      expect(items.length).toBeGreaterThan(0);
      for (const item of items) {
        expect(text(item, 'title')).toBeTruthy();
        expect(text(item, 'guid')).toMatch(/^inc_/);
        expect(Number.isNaN(Date.parse(text(item, 'pubDate')!))).toBe(false);
      }
      expect(items.some((i) => text(i, 'title')!.includes('File storage'))).toBe(true);
    }
  });

  it('answers a Statuspage-compatible summary.json', async () => {
    const res = await t.request('GET', '/api/v1/status/summary.json');
    expect(res.status).toBe(200);
    expect(res.body.page).toMatchObject({ id: expect.any(String), name: expect.any(String), url: 'https://status.example.test/api/v1/status', time_zone: 'Etc/UTC' });
    expect(res.body.components.map((c: { id: string }) => c.id)).toEqual(['api', 'database', 'redis', 'storage', 'mail', 'ai', 'webhooks']);
    for (const c of res.body.components) {
      expect(['operational', 'degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance']).toContain(c.status);
      expect(c).toMatchObject({ name: expect.any(String), position: expect.any(Number), created_at: expect.any(String), updated_at: expect.any(String), group: false });
    }
    expect(Array.isArray(res.body.incidents)).toBe(true);
    expect(Array.isArray(res.body.scheduled_maintenances)).toBe(true);
    expect(res.body.status).toEqual({ indicator: 'none', description: 'All Systems Operational' });
  });

  it('shows scheduled maintenance before it starts and tells maintenance subscribers', async () => {
    await verifiedSubscriber('maint@example.test', 'maintenance');
    const start = new Date(Date.now() + 2 * 86_400_000);
    const end = new Date(start.getTime() + 3_600_000);
    const body = { title: 'Database upgrade', severity: 'maintenance', services: ['database'], message: 'PostgreSQL minor upgrade', scheduled_for: start.toISOString(), scheduled_until: end.toISOString() };
    expect((await t.request('POST', '/api/v1/status/incidents', { token: tenant.token, body })).status).toBe(401);
    const created = await t.request('POST', '/api/v1/status/incidents', { token: ADMIN_KEY, body });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ state: 'scheduled', severity: 'maintenance', scheduled_for: start.toISOString() });

    // Its window has not come: nothing moves.
    expect(await advanceMaintenance(t.kernel)).toBe(0);
    const page = await status();
    expect(page.scheduled_maintenance.map((m: { incident_id: string }) => m.incident_id)).toContain(created.body.incident_id);
    // Not started: the component is not under maintenance yet.
    expect(page.services.find((s: { id: string }) => s.id === 'database').status).toBe('operational');
    const summary = (await t.request('GET', '/api/v1/status/summary.json')).body;
    expect(summary.scheduled_maintenances[0]).toMatchObject({ id: created.body.incident_id, status: 'scheduled', impact: 'maintenance', scheduled_for: start.toISOString() });
    const mail = await smtp.next('maint@example.test', (m) => m.subject.includes('Database upgrade'));
    expect(mail.text).toContain('Window:');

    // Window in the past, but without the end: 422 in the contract's shape.
    const bad = await t.request('POST', '/api/v1/status/incidents', { token: ADMIN_KEY, body: { ...body, scheduled_until: undefined } });
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0]).toMatchObject({ loc: expect.any(Array), msg: expect.any(String), type: expect.any(String) });
  }, 60_000);

  it('tells subscribers when scheduled maintenance starts and when it completes, once each', async () => {
    await verifiedSubscriber('window@example.test', 'maintenance');
    // A window of seconds, wide enough that a loaded machine still sees it open.
    const start = new Date(Date.now() + 1_500);
    const end = new Date(start.getTime() + 5_000);
    const created = await t.request('POST', '/api/v1/status/incidents', {
      token: ADMIN_KEY,
      body: { title: 'Cache failover drill', severity: 'maintenance', services: ['redis'], message: 'Planned failover of the cache.', scheduled_for: start.toISOString(), scheduled_until: end.toISOString() },
    });
    expect(created.status).toBe(201);
    const id = created.body.incident_id as string;
    await smtp.next('window@example.test', (m) => m.subject.includes('Cache failover drill') && m.subject.includes('scheduled'));

    await new Promise((r) => setTimeout(r, start.getTime() - Date.now() + 50));
    // The job at the window's start may have run it already; either way it starts once.
    await advanceMaintenance(t.kernel);
    expect(await advanceMaintenance(t.kernel)).toBe(0);
    const started = await smtp.next('window@example.test', (m) => m.subject.includes('Cache failover drill') && m.subject.includes('in_progress'));
    expect(started.text).toContain('has started');
    expect(started.text).toContain(`Window: ${start.toISOString()} to ${end.toISOString()}`);
    const during = await status();
    expect(during.scheduled_maintenance.find((m: { incident_id: string }) => m.incident_id === id)).toMatchObject({ state: 'in_progress', resolved_at: null });
    expect(during.services.find((s: { id: string }) => s.id === 'redis').status).toBe('under_maintenance');

    await new Promise((r) => setTimeout(r, end.getTime() - Date.now() + 50));
    await advanceMaintenance(t.kernel);
    expect(await advanceMaintenance(t.kernel)).toBe(0);
    const completed = await smtp.next('window@example.test', (m) => m.subject.includes('Cache failover drill') && m.subject.includes('completed'));
    expect(completed.text).toContain('is complete');
    const after = await status();
    expect(after.scheduled_maintenance.map((m: { incident_id: string }) => m.incident_id)).not.toContain(id);
    expect(after.services.find((s: { id: string }) => s.id === 'redis').status).toBe('operational');
    const summary = (await t.request('GET', '/api/v1/status/summary.json')).body;
    expect(summary.scheduled_maintenances.map((m: { id: string }) => m.id)).not.toContain(id);
    // Announced, started, completed: three mails, however often the job ran.
    await new Promise((r) => setTimeout(r, 500));
    expect(smtp.messages.filter((m) => m.to.includes('window@example.test') && m.subject.includes('Cache failover drill'))).toHaveLength(3);
  }, 60_000);

  it('resends an incident to verified subscribers (system admin only)', async () => {
    await verifiedSubscriber('resend@example.test', 'major');
    const incident = await t.request('POST', '/api/v1/status/incidents', {
      token: ADMIN_KEY,
      body: { title: 'Elevated API errors', severity: 'major', services: ['api'], message: 'We see elevated error rates.' },
    });
    expect(incident.status).toBe(201);
    await smtp.next('resend@example.test', (m) => m.subject.includes('Elevated API errors'));
    const id = incident.body.incident_id;

    expect((await t.request('POST', `/api/v1/status/incidents/${id}/resend`, { body: {} })).status).toBe(401);
    // A tenant's admin key is no operator of the platform's status page.
    const tenantTry = await t.request('POST', `/api/v1/status/incidents/${id}/resend`, { token: tenant.token, body: {} });
    expect(tenantTry.status).toBe(401);
    expect(tenantTry.body).toEqual({ detail: expect.any(String) });

    const res = await t.request('POST', `/api/v1/status/incidents/${id}/resend`, { token: ADMIN_KEY, body: { severity: 'major' } });
    expect(res.status).toBe(202);
    // Filters `major` or `all` that are active: resend@ (major), maint@ is `maintenance`, ops@ unsubscribed.
    expect(res.body.dispatched).toBe(1);
    await smtp.next('resend@example.test', (m) => m.subject.includes('Elevated API errors'));

    const missing = await t.request('POST', '/api/v1/status/incidents/inc_nope/resend', { token: ADMIN_KEY, body: {} });
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ detail: 'Incident not found' });

    const update = await t.request('POST', `/api/v1/status/incidents/${id}/updates`, { token: ADMIN_KEY, body: { state: 'resolved', message: 'Fixed.' } });
    expect(update.status).toBe(201);
    expect(update.body).toMatchObject({ state: 'resolved', resolved_at: expect.any(String) });
    expect(update.body.updates[0]).toMatchObject({ state: 'resolved', message: 'Fixed.' });
  }, 60_000);

  it('lists subscriptions for the system admin only, masked', async () => {
    expect((await t.request('GET', '/api/v1/status/subscriptions')).status).toBe(401);
    const tenantTry = await t.request('GET', '/api/v1/status/subscriptions', { token: tenant.token });
    expect(tenantTry.status).toBe(401);
    const page = await t.request('GET', '/api/v1/status/subscriptions?limit=2', { token: ADMIN_KEY });
    expect(page.status).toBe(200);
    expect(page.body.items).toHaveLength(2);
    expect(page.body.next_cursor).toBe('2');
    for (const item of page.body.items) expect(item.target_masked).toMatch(/^[a-z]\*\*\*@example\.test$/);
    const next = await t.request('GET', `/api/v1/status/subscriptions?limit=100&cursor=${page.body.next_cursor}`, { token: ADMIN_KEY });
    expect(next.body.next_cursor).toBeNull();
    const active = await t.request('GET', '/api/v1/status/subscriptions?status=active', { token: ADMIN_KEY });
    expect(active.body.items.every((s: { status: string }) => s.status === 'active')).toBe(true);
  });

  it('answers bad input in the contract\'s shapes', async () => {
    const cases: [string, string, unknown, (string | number)[]][] = [
      ['POST', '/api/v1/status/subscriptions', { channel: 'sms', target: 'a@b.test' }, ['body', 'channel']],
      ['POST', '/api/v1/status/subscriptions', { channel: 'email' }, ['body', 'target']],
      ['POST', '/api/v1/status/subscriptions', { channel: 'email', target: 'not-an-address' }, ['body', 'target']],
      ['POST', '/api/v1/status/subscriptions', { channel: 'email', target: 'a@b.test', extra: 1 }, ['body']],
      ['POST', '/api/v1/status/subscriptions/verify', {}, ['body', 'token']],
      ['POST', '/api/v1/status/subscriptions/challenge', { token: '' }, ['body', 'token']],
    ];
    for (const [method, path, body, loc] of cases) {
      const res = await t.request(method, path, { body });
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(422);
      expect(res.body.detail[0].loc.slice(0, loc.length)).toEqual(loc);
      expect(res.body.detail[0]).toMatchObject({ msg: expect.any(String), type: expect.any(String) });
    }
    const badId = await t.request('DELETE', '/api/v1/status/subscriptions/not-a-uuid?token=x');
    expect(badId.status).toBe(422);
    expect(badId.body.detail[0].loc).toEqual(['path', 'subscription_id']);

    const unknown = await t.request('DELETE', '/api/v1/status/subscriptions/6f1c1a8e-4e55-4a41-9d1e-0c8a3c1f2b7a?token=nope');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ detail: 'Subscription not found' });
    expect((await t.request('DELETE', '/api/v1/status/subscriptions/6f1c1a8e-4e55-4a41-9d1e-0c8a3c1f2b7a')).status).toBe(401);
    expect((await t.request('POST', '/api/v1/status/subscriptions/challenge', { body: { token: 'nope' } })).status).toBe(404);

    // Webhook subscriptions are the operator's.
    const hook = { channel: 'webhook', target: 'https://hooks.example.test/status' };
    expect((await t.request('POST', '/api/v1/status/subscriptions', { body: hook })).status).toBe(401);
    expect((await t.request('POST', '/api/v1/status/subscriptions', { token: tenant.token, body: hook })).status).toBe(401);
  });

  it('confirms a webhook subscription by its challenge and posts signed notices to it', async () => {
    const received: { body: any; signature: string }[] = [];
    const server = http.createServer((req, res) => {
      let data = '';
      req.on('data', (chunk) => (data += chunk));
      req.on('end', () => {
        received.push({ body: JSON.parse(data), signature: String(req.headers['status-signature']) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const created = await t.request('POST', '/api/v1/status/subscriptions', { token: ADMIN_KEY, body: { channel: 'webhook', target: url, severity_filter: 'all' } });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ channel: 'webhook', status: 'pending_verification', created_by: 'admin', webhook_secret: expect.stringMatching(/^whsec_/) });
      const secret = created.body.webhook_secret as string;
      const verifies = (r: { body: unknown; signature: string }) => {
        const [, ts, sig] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(r.signature) ?? [];
        return sig === createHmac('sha256', secret).update(`${ts}.${JSON.stringify(r.body)}`).digest('hex');
      };
      const until = async (pred: () => boolean) => {
        for (let i = 0; i < 400 && !pred(); i++) await new Promise((r) => setTimeout(r, 50));
        expect(pred()).toBe(true);
      };
      await until(() => received.some((r) => r.body.type === 'status.subscription.challenge'));
      const challenge = received.find((r) => r.body.type === 'status.subscription.challenge')!;
      expect(verifies(challenge)).toBe(true);
      const confirmed = await t.request('POST', '/api/v1/status/subscriptions/challenge', { body: { token: challenge.body.token } });
      expect(confirmed.status).toBe(200);
      expect(confirmed.body).toMatchObject({ id: created.body.id, status: 'active', webhook_secret: null });
      // An e-mail token is no webhook challenge, and the other way round.
      expect((await t.request('POST', '/api/v1/status/subscriptions/verify', { body: { token: challenge.body.token } })).status).toBe(404);

      const incident = await t.request('POST', '/api/v1/status/incidents', { token: ADMIN_KEY, body: { title: 'Mail delays', severity: 'minor', services: ['mail'], message: 'Mail is slow.' } });
      expect(incident.status).toBe(201);
      await until(() => received.some((r) => r.body.type === 'status.incident.updated'));
      const notice = received.find((r) => r.body.type === 'status.incident.updated')!;
      expect(verifies(notice)).toBe(true);
      expect(notice.body.incident).toMatchObject({ incident_id: incident.body.incident_id, title: 'Mail delays', state: 'investigating', components: ['mail'] });

      const revoked = await t.request('DELETE', `/api/v1/status/subscriptions/${created.body.id}`, { token: ADMIN_KEY });
      expect(revoked.status).toBe(204);
    } finally {
      server.close();
    }
  }, 60_000);

  it('keeps its tables (subscribers\' addresses) from the app role: they are global, not any tenant\'s', async () => {
    for (const table of ['status_subscriptions', 'status_incidents', 'status_components']) {
      const error = await t.db.untenanted((tx) => tx.execute(sql.raw(`select count(*) from ${table}`))).then(() => null, (e: Error & { cause?: Error }) => e);
      // drizzle wraps the driver's error; the database's reason is its cause.
      expect(String(error?.cause?.message ?? error?.message), table).toMatch(/permission denied/);
    }
  });

  it('is served on the surface host with the same paths', async () => {
    const res = await t.app.request('/api/v1/status', { headers: { host: 'agent-service.localhost' } }, { incoming: { socket: { remoteAddress: '127.0.0.1' } } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { services: unknown[] }).services).toHaveLength(7);
  });
});
