import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeDns, type FakeDns } from '../../../../test/support/dns.ts';
import { defineType, eventsOf } from '../../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';

/** Custom domains: the TXT check over a real DNS exchange, and the verified host serving only its tenant's public pages. */

let t: TestPlatform;
let dns: FakeDns;
let a: { tenantId: string; token: string };
let b: { tenantId: string; token: string };
const DOMAIN = 'forms.acme.example';
const req = (method: string, path: string, token: string, body?: unknown) => t.request(method, path, { token, body });
const onHost = (method: string, path: string, host: string) => t.request(method, path, { headers: { host } });

beforeAll(async () => {
  dns = await fakeDns();
  t = await testPlatform({ DNS_SERVERS: dns.url });
  a = await t.newTenant({ plan_tier: 'enterprise' });
  b = await t.newTenant({ plan_tier: 'enterprise' });
});
afterAll(async () => {
  await t?.close();
  await dns?.close();
});

describe('custom domains', () => {
  it('verifies a domain by its TXT record; a claim reserves nothing; the first proof wins', async () => {
    expect((await req('POST', '/v1/branding/domain/verify', a.token)).status).toBe(422); // no domain set
    const claimed = await req('PATCH', '/v1/branding', a.token, { custom_domain: DOMAIN });
    const token = claimed.body.data.domain_verification.value as string;
    // Another tenant may claim the same name while nobody has proved it.
    const bClaim = await req('PATCH', '/v1/branding', b.token, { custom_domain: DOMAIN });
    expect(bClaim.status).toBe(200);

    const missing = await req('POST', '/v1/branding/domain/verify', a.token);
    expect(missing.status).toBe(422);
    expect(missing.body.error.details.record).toEqual({ type: 'TXT', name: `_plinth-verify.${DOMAIN}`, value: token });

    dns.records.set(`_plinth-verify.${DOMAIN}`, ['v=unrelated']);
    const wrong = await req('POST', '/v1/branding/domain/verify', a.token);
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.details.found).toEqual(['v=unrelated']);

    dns.fail = true;
    expect((await req('POST', '/v1/branding/domain/verify', a.token)).status).toBe(503);
    dns.fail = false;

    dns.records.set(`_plinth-verify.${DOMAIN}`, ['v=unrelated', token, bClaim.body.data.domain_verification.value]);
    const ok = await req('POST', '/v1/branding/domain/verify', a.token);
    expect(ok.status).toBe(200);
    expect(ok.body.data).toMatchObject({ custom_domain: DOMAIN, verified: true, record: { type: 'TXT', name: `_plinth-verify.${DOMAIN}` } });
    expect((await req('GET', '/v1/branding', a.token)).body.data.domain_verification.verified).toBe(true);
    expect((await eventsOf(t, a.tenantId, 'branding.domain_verified'))[0]?.data).toEqual({ custom_domain: DOMAIN });
    // Again: the same answer, no second event.
    expect((await req('POST', '/v1/branding/domain/verify', a.token)).status).toBe(200);
    expect(await eventsOf(t, a.tenantId, 'branding.domain_verified')).toHaveLength(1);

    // B's token is in the record too, but A proved it first.
    expect((await req('POST', '/v1/branding/domain/verify', b.token)).status).toBe(409);
    await req('PATCH', '/v1/branding', b.token, { custom_domain: null });
    const again = await req('PATCH', '/v1/branding', b.token, { custom_domain: DOMAIN });
    expect(again.status).toBe(409);
    expect(again.body.error.details.issues[0].field).toBe('custom_domain');
  });

  it('serves only the verified tenant\'s forms, short links and dashboards on its domain', async () => {
    await defineType(t, a.token, 'leads', { email: { data_type: 'email' } });
    await defineType(t, b.token, 'leads', { email: { data_type: 'email' } });
    const formA = (await req('POST', '/v1/forms', a.token, { name: 'A', object_type_id: 'leads', fields: [{ property: 'email' }], status: 'active' })).body.data;
    const formB = (await req('POST', '/v1/forms', b.token, { name: 'B', object_type_id: 'leads', fields: [{ property: 'email' }], status: 'active' })).body.data;

    const onDomain = await onHost('GET', `/v1/forms/${formA.id}`, `${DOMAIN}:443`);
    expect(onDomain.status).toBe(200);
    expect(onDomain.body.data.name).toBe('A');
    expect((await onHost('GET', `/v1/forms/${formB.id}`, DOMAIN)).status).toBe(404);
    expect((await onHost('GET', `/v1/forms/${formA.id}?tenant_id=${b.tenantId}`, DOMAIN)).status).toBe(404);
    expect((await t.request('POST', `/v1/forms/${formB.id}/submit`, { headers: { host: DOMAIN }, body: { data: { email: 'x@example.com' } } })).status).toBe(404);
    expect((await t.request('POST', `/v1/forms/${formA.id}/submit`, { headers: { host: DOMAIN }, body: { data: { email: 'x@example.com' } } })).status).toBe(200);
    expect((await onHost('POST', `/v1/forms/${formB.id}/start`, DOMAIN)).status).toBe(404);
    // Elsewhere: tenant_id is still needed (400 without), and an unverified host is no tenant.
    expect((await onHost('GET', `/v1/forms/${formA.id}`, 'localhost')).status).toBe(400);
    expect((await onHost('GET', `/v1/forms/${formA.id}`, 'unverified.example')).status).toBe(400);
    expect((await onHost('GET', `/v1/forms/${formB.id}?tenant_id=${b.tenantId}`, 'localhost')).status).toBe(200);

    await req('POST', '/v1/short-urls', a.token, { target_url: 'https://a.example/', slug: 'a-link' });
    await req('POST', '/v1/short-urls', b.token, { target_url: 'https://b.example/', slug: 'b-link' });
    const followed = await onHost('GET', '/s/a-link', DOMAIN);
    expect(followed.status).toBe(302);
    expect(followed.headers.get('location')).toBe('https://a.example/');
    expect((await onHost('GET', '/s/b-link', DOMAIN)).status).toBe(404);
    expect((await onHost('GET', '/s/b-link', 'localhost')).status).toBe(302);

    const dash = (await req('POST', '/v1/dashboards', b.token, { name: 'Shared', is_public: true })).body.data;
    expect((await onHost('GET', `/v1/dashboards/public/${dash.share_token}`, DOMAIN)).status).toBe(404);
    expect((await onHost('GET', `/v1/dashboards/public/${dash.share_token}`, 'localhost')).status).toBe(200);

    // Changing the domain takes it off at once (this process) and the form needs tenant_id again.
    await req('PATCH', '/v1/branding', a.token, { custom_domain: 'other.acme.example' });
    expect((await onHost('GET', `/v1/forms/${formA.id}`, DOMAIN)).status).toBe(400);
  });
});
