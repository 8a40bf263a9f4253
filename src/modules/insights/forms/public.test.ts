import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObject, defineType, eventsOf } from '../../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';

/** Forms (public GET and submit), branding, short URLs and analytics, through HTTP. */

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

const req = (method: string, path: string, body?: unknown, token = tenant.token) => t.request(method, path, { token, body });

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant({ plan_tier: 'enterprise' });
  other = await t.newTenant({ plan_tier: 'enterprise' });
  await defineType(t, tenant.token, 'leads', {
    email: { data_type: 'email', is_required: true, is_unique: true },
    name: { data_type: 'string' },
    budget: { data_type: 'number' },
    internal: { data_type: 'string' },
  });
  await defineType(t, other.token, 'things', { x: { data_type: 'string' } });
});
afterAll(() => t?.close());

describe('forms', () => {
  it('manages forms; only an active form is public; submit creates the record and the submission', async () => {
    const created = await req('POST', '/v1/forms', {
      name: 'Contact',
      object_type_id: 'leads',
      fields: [{ property: 'email', label: 'Email', required: true }, { property: 'name' }, { property: 'budget' }],
      settings: { success_message: 'Thanks' },
    });
    expect(created.status).toBe(201);
    const f = created.body.data;
    expect(f).toMatchObject({ name: 'Contact', status: 'draft', settings: { success_message: 'Thanks' } });
    expect(f.object_type_id).toMatch(/^ot_/);

    for (const [body, field] of [
      [{ name: 'x', object_type_id: 'leads', fields: [{ property: 'nope' }] }, 'fields.0.property'],
      [{ name: 'x', object_type_id: 'leads', fields: [{ property: 'name' }, { property: 'name' }] }, 'fields.1.property'],
      [{ name: 'x', object_type_id: 'leads', fields: [{ property: 'name', colour: 'red' }] }, 'fields.0.colour'],
    ] as const) {
      const res = await req('POST', '/v1/forms', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.details.issues[0].field).toBe(field);
    }
    expect((await req('POST', '/v1/forms', { name: 'x', object_type_id: 'nope', fields: [{ property: 'x' }] })).status).toBe(404);

    // A draft is not public.
    const q = `?tenant_id=${tenant.tenantId}`;
    expect((await t.request('GET', `/v1/forms/${f.id}${q}`)).status).toBe(404);
    expect((await t.request('POST', `/v1/forms/${f.id}/submit`, { body: { data: { email: 'a@example.com' } } })).status).toBe(404);

    const active = await req('PATCH', `/v1/forms/${f.id}`, { status: 'active', description: 'Say hi' });
    expect(active.status).toBe(200);
    await req('PATCH', '/v1/branding', { brand_name: 'Acme', primary_color: '#112233' });
    const pub = await t.request('GET', `/v1/forms/${f.id}${q}`);
    expect(pub.status).toBe(200);
    expect(pub.body.data).toMatchObject({ form_id: f.id, name: 'Contact', description: 'Say hi', require_captcha: false, branding: { brand_name: 'Acme', primary_color: '#112233' } });
    expect(pub.body.data.fields.map((x: { property: string }) => x.property)).toEqual(['email', 'name', 'budget']);
    // The wrong tenant id, or another tenant's id, is 404.
    expect((await t.request('GET', `/v1/forms/${f.id}?tenant_id=${other.tenantId}`)).status).toBe(404);
    expect((await t.request('GET', `/v1/forms/${f.id}`)).status).toBe(400);

    // A start is counted by the page when a visitor first fills a field; an unknown form is 404.
    expect((await t.request('POST', `/v1/forms/${f.id}/start`, { ip: '198.51.100.1' })).body.data).toEqual({ started: true });
    expect((await t.request('POST', `/v1/forms/${f.id}/start`, { ip: '198.51.100.1' })).status).toBe(200);
    expect((await t.request('POST', `/v1/forms/form_00000000000000000000000000/start`)).status).toBe(404);
    const sub = await t.request('POST', `/v1/forms/${f.id}/submit`, { body: { data: { email: 'Ann@Example.com', name: 'Ann', budget: 5000 } }, ip: '198.51.100.1' });
    expect(sub.status).toBe(200);
    expect(sub.body.data).toMatchObject({ submitted: true });
    const record = await req('GET', `/v1/objects/leads/${sub.body.data.object_id}`);
    expect(record.body.data.properties).toMatchObject({ email: 'ann@example.com', name: 'Ann', budget: 5000 });
    const ev = await eventsOf(t, tenant.tenantId, 'form.submitted');
    expect(ev[0]?.data).toMatchObject({ form_id: f.id, object_id: sub.body.data.object_id });
    expect((await eventsOf(t, tenant.tenantId, 'object.created')).some((e) => e.resourceId === sub.body.data.object_id)).toBe(true);

    // Validation: a key that is no field, a missing required field, a value the property refuses, a duplicate unique value.
    const ip = { ip: '198.51.100.2' };
    for (const [data, status, field] of [
      [{ email: 'b@example.com', internal: 'x' }, 400, 'data.internal'],
      [{ name: 'No email' }, 400, 'data.email'],
      [{ email: 'not-an-email' }, 400, null],
      [{ email: 'ann@example.com' }, 409, null],
    ] as const) {
      const res = await t.request('POST', `/v1/forms/${f.id}/submit`, { body: { data }, ...ip });
      expect(res.status, JSON.stringify(data)).toBe(status);
      if (field) expect(res.body.error.details.issues[0].field).toBe(field);
    }
    expect((await t.request('POST', `/v1/forms/${f.id}/submit`, { body: { data: {}, extra: 1 }, ...ip })).status).toBe(400);

    const list = await req('GET', `/v1/forms/${f.id}/submissions`);
    expect(list.body.data.total).toBe(1);
    expect(list.body.data.submissions[0].data).toEqual({ email: 'Ann@Example.com', name: 'Ann', budget: 5000 });
    const csv = await req('GET', `/v1/forms/${f.id}/submissions/export?format=csv`);
    expect(csv.status).toBe(200);
    expect(csv.body.data.content.split('\n')[0]).toBe('submission_id,object_id,submitted_at,email,name,budget');
    expect(csv.body.data.count).toBe(1);
    const json = await req('GET', `/v1/forms/${f.id}/submissions/export?format=json`);
    expect(JSON.parse(json.body.data.content)[0]).toMatchObject({ email: 'Ann@Example.com', budget: 5000 });

    const stats = await req('GET', `/v1/forms/${f.id}/analytics`);
    expect(stats.status).toBe(200);
    expect(stats.body.data.totals).toMatchObject({ views: 1, starts: 2, submissions: 1, conversion_rate: 1 });
    expect(stats.body.data.daily).toHaveLength(1);

    const dup = await req('POST', `/v1/forms/${f.id}/duplicate`);
    expect(dup.status).toBe(201);
    expect(dup.body.data).toMatchObject({ name: 'Contact (copy)', status: 'draft', fields: f.fields });
    expect((await req('GET', '/v1/forms')).body.data).toHaveLength(2);

    // Another tenant's key: 404 on every route of the form.
    for (const [m, p] of [
      ['PATCH', `/v1/forms/${f.id}`],
      ['DELETE', `/v1/forms/${f.id}`],
      ['POST', `/v1/forms/${f.id}/duplicate`],
      ['GET', `/v1/forms/${f.id}/submissions`],
      ['GET', `/v1/forms/${f.id}/submissions/export`],
      ['GET', `/v1/forms/${f.id}/analytics`],
    ] as const) {
      expect((await req(m, p, m === 'PATCH' ? { name: 'x' } : undefined, other.token)).status, `${m} ${p}`).toBe(404);
    }
    expect((await req('GET', '/v1/forms', undefined, other.token)).body.data).toEqual([]);

    expect((await req('DELETE', `/v1/forms/${dup.body.data.id}`)).body.data).toEqual({ id: dup.body.data.id, deleted: true });
    expect((await req('DELETE', `/v1/forms/${dup.body.data.id}`)).status).toBe(404);
    // Archiving takes it off the public routes.
    await req('PATCH', `/v1/forms/${f.id}`, { status: 'archived' });
    expect((await t.request('GET', `/v1/forms/${f.id}${q}`)).status).toBe(404);
    expect((await t.request('POST', `/v1/forms/${f.id}/start`)).status).toBe(404);
  });

  it('rate-limits submissions per address', async () => {
    const f = (await req('POST', '/v1/forms', { name: 'Spam', object_type_id: 'leads', fields: [{ property: 'email' }, { property: 'name' }], status: 'active' })).body.data;
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      statuses.push((await t.request('POST', `/v1/forms/${f.id}/submit`, { body: { data: { name: `n${i}` } }, ip: '203.0.113.9' })).status);
    }
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
  });
});

describe('branding', () => {
  it('starts empty, changes fields, issues a domain token, sanitises CSS', async () => {
    const first = await req('GET', '/v1/branding', undefined, other.token);
    expect(first.status).toBe(200);
    expect(first.body.data).toMatchObject({ brand_name: null, custom_domain: null, domain_verification: null, updated_at: null });
    const upd = await req('PATCH', '/v1/branding', { custom_domain: 'Forms.Example.com', logo_url: 'https://cdn.example.com/logo.png', custom_css: '.btn { color: red; background: url("https://cdn.example.com/a.png") }' });
    expect(upd.status).toBe(200);
    expect(upd.body.data.custom_domain).toBe('forms.example.com');
    expect(upd.body.data.domain_verification).toMatchObject({ record_type: 'TXT', name: '_plinth-verify.forms.example.com', verified: false });
    expect(upd.body.data.brand_name).toBe('Acme');
    const token = upd.body.data.domain_verification.value;
    // The same domain again keeps its token.
    expect((await req('PATCH', '/v1/branding', { custom_domain: 'forms.example.com' })).body.data.domain_verification.value).toBe(token);
    for (const [body, field] of [
      [{ custom_css: '</style><script>alert(1)</script>' }, 'custom_css'],
      [{ custom_css: 'a { color: red' }, 'custom_css'],
      [{ primary_color: 'red' }, 'primary_color'],
      [{ logo_url: 'javascript:alert(1)' }, 'logo_url'],
      [{ custom_domain: 'not a domain' }, 'custom_domain'],
      [{ theme: 'dark' }, 'theme'],
    ] as const) {
      const res = await req('PATCH', '/v1/branding', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.details.issues[0].field).toBe(field);
    }
    // Unsafe parts are removed and listed; the rest is kept.
    const css = await req('PATCH', '/v1/branding', {
      custom_css: '@import url(https://evil.example/x.css);\n.a { color: red; background: url(javascript:alert(1)) }\n.b { width: expression(alert(1)); margin: 0 }\n.c { background: url(http://plain.example/x.png) }',
    });
    expect(css.status).toBe(200);
    expect(css.body.data.custom_css).toBe('.a { color: red }\n.b { margin: 0 }');
    expect(css.body.data.custom_css_removed.map((r: { reason: string }) => r.reason)).toEqual([
      '@import is not allowed',
      'script and data URLs are not allowed',
      'expression() is not allowed',
      'url() must be an https URL',
    ]);
    expect((await req('GET', '/v1/branding')).body.data.custom_css).toBe('.a { color: red }\n.b { margin: 0 }');
    // A claim reserves nothing until verified (branding/domains.test.ts): another tenant may claim it too, with its own token.
    const clash = await req('PATCH', '/v1/branding', { custom_domain: 'forms.example.com' }, other.token);
    expect(clash.status).toBe(200);
    expect(clash.body.data.domain_verification.value).not.toBe(token);
    expect((await eventsOf(t, tenant.tenantId, 'branding.updated')).length).toBeGreaterThan(0);
  });
});

describe('short URLs', () => {
  it('creates, redirects with click counts and limits, updates and deletes; slugs are one namespace', async () => {
    const created = await req('POST', '/v1/short-urls', { target_url: 'https://example.com/landing?a=1', slug: 'spring-sale', max_clicks: 2, title: 'Spring' });
    expect(created.status).toBe(201);
    expect(created.body.data).toMatchObject({ slug: 'spring-sale', clicks: 0, active: true, short_path: '/s/spring-sale' });
    const random = await req('POST', '/v1/short-urls', { target_url: 'http://example.org/' });
    expect(random.status).toBe(201);
    expect(random.body.data.slug).toMatch(/^[A-Za-z0-9]{8}$/);

    expect((await req('POST', '/v1/short-urls', { target_url: 'https://x.example/', slug: 'spring-sale' })).status).toBe(409);
    // Taken by another tenant is taken too.
    expect((await req('POST', '/v1/short-urls', { target_url: 'https://x.example/', slug: 'spring-sale' }, other.token)).status).toBe(409);
    for (const body of [{ target_url: 'javascript:alert(1)' }, { target_url: 'ftp://example.com/x' }, { target_url: 'https://e.com', slug: 'a b' }, { target_url: 'https://e.com', slug: '../x' }, {}]) {
      expect((await req('POST', '/v1/short-urls', body)).status, JSON.stringify(body)).toBe(400);
    }

    const go = await t.request('GET', '/s/spring-sale');
    expect(go.status).toBe(302);
    expect(go.headers.get('location')).toBe('https://example.com/landing?a=1');
    expect((await t.request('GET', '/s/spring-sale')).status).toBe(302);
    // The click limit is reached.
    expect((await t.request('GET', '/s/spring-sale')).status).toBe(404);
    const got = await req('GET', '/v1/short-urls/spring-sale');
    expect(got.body.data).toMatchObject({ clicks: 2, active: false });
    expect((await t.request('GET', '/s/no-such-slug')).status).toBe(404);

    const upd = await req('PATCH', '/v1/short-urls/spring-sale', { max_clicks: null, expires_at: '2000-01-01T00:00:00Z' });
    expect(upd.status).toBe(200);
    expect((await t.request('GET', '/s/spring-sale')).status).toBe(404);
    await req('PATCH', '/v1/short-urls/spring-sale', { expires_at: null, target_url: 'https://example.com/new' });
    expect((await t.request('GET', '/s/spring-sale')).headers.get('location')).toBe('https://example.com/new');
    expect((await req('PATCH', '/v1/short-urls/spring-sale', { target_url: 'data:text/html,x' })).status).toBe(400);

    const list = await req('GET', '/v1/short-urls');
    expect(list.body.data.total).toBe(2);
    for (const [m, p] of [
      ['GET', '/v1/short-urls/spring-sale'],
      ['PATCH', '/v1/short-urls/spring-sale'],
      ['DELETE', '/v1/short-urls/spring-sale'],
    ] as const) {
      expect((await req(m, p, m === 'PATCH' ? { title: 'x' } : undefined, other.token)).status, `${m} ${p}`).toBe(404);
    }
    expect((await req('GET', '/v1/short-urls', undefined, other.token)).body.data).toEqual({ results: [], total: 0 });
    expect((await req('DELETE', '/v1/short-urls/spring-sale')).body.data).toEqual({ slug: 'spring-sale', deleted: true });
    expect((await t.request('GET', '/s/spring-sale')).status).toBe(404);
    expect((await req('DELETE', '/v1/short-urls/spring-sale')).status).toBe(404);
  });
});

describe('analytics', () => {
  it('summarises the tenant\'s own usage and series, never another tenant\'s', async () => {
    await createObject(t, other.token, 'things', { x: 'y' });
    for (let i = 0; i < 3; i++) expect((await req('GET', '/v1/objects/leads/obj_00000000000000000000000000')).status).toBe(404);
    // Rollups: request stats are flushed every USAGE_FLUSH_MS and events counted by a durable consumer; run both now.
    await t.kernel.requestStats.flush();
    for (let i = 0; i < 50; i++) {
      const r = await t.kernel.outbox.runConsumer('insights.event-stats');
      if (!r.more && !r.locked && !r.pending) break;
      await new Promise((ok) => setTimeout(ok, 50));
    }
    const res = await req('GET', '/v1/analytics?period=7d');
    expect(res.status).toBe(200);
    const d = res.body.data;
    expect(d.period).toBe('7d');
    expect(d.records.by_type.find((r: { object_type: string }) => r.object_type === 'leads').count).toBeGreaterThanOrEqual(1);
    expect(d.records.by_type.some((r: { object_type: string }) => r.object_type === 'things')).toBe(false);
    expect(d.events.by_type.some((e: { type: string }) => e.type === 'form.submitted')).toBe(true);
    expect(d.changes.total).toBeGreaterThan(0);
    expect(d.changes.by_action.some((c: { action: string }) => c.action === 'form.created')).toBe(true);
    // Requests by route family and status, with latency from the hourly histograms.
    const objects = d.requests.by_family.find((f: { family: string }) => f.family === '/v1/objects');
    expect(objects.client_errors).toBeGreaterThanOrEqual(3);
    expect(d.requests.by_status.find((x: { status: number }) => x.status === 404).count).toBeGreaterThanOrEqual(3);
    expect(d.requests.total).toBe(d.requests.by_family.reduce((s: number, f: { count: number }) => s + f.count, 0));
    expect(d.requests.server_errors).toBe(0);
    expect(d.requests.latency.p50_ms).toBeGreaterThan(0);
    expect(d.requests.latency.p99_ms).toBeGreaterThanOrEqual(d.requests.latency.p50_ms);
    expect(d.storage.used_bytes).toBe(0);
    const engine = await req('GET', '/v1/analytics/engine?period=24h');
    expect(engine.status).toBe(200);
    expect(engine.body.data.interval).toBe('hour');
    expect(engine.body.data.series.events.reduce((s: number, x: { count: number }) => s + x.count, 0)).toBe(d.events.total);
    expect(engine.body.data.series.requests.reduce((s: number, x: { count: number }) => s + x.count, 0)).toBeGreaterThanOrEqual(d.requests.total);
    expect((await req('GET', '/v1/analytics?period=1y')).status).toBe(400);
    const theirs = await req('GET', '/v1/analytics', undefined, other.token);
    expect(theirs.body.data.records.by_type.map((r: { object_type: string }) => r.object_type)).toEqual(['things']);
    expect(theirs.body.data.events.by_type.some((e: { type: string }) => e.type === 'form.submitted')).toBe(false);
    // Its own requests only: it never got a 404 on /v1/objects.
    expect(theirs.body.data.requests.by_family.find((f: { family: string }) => f.family === '/v1/objects')?.client_errors ?? 0).toBe(0);
  });
});
