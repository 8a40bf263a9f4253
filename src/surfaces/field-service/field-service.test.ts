import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mailOutbox } from '../../core/providers/tables.ts';
import { createEndpoint, startReceiver, waitFor, type Receiver } from '../../../test/support/events.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { fromUuid, toUuid } from './ids.ts';

let t: TestPlatform;
let receiver: Receiver;
let org: string;
let key: string;
let admin: string;
let other: { token: string; org: string };

const BASE = '/api/public/v1';
type Opts = { key?: string | null; org?: string | null; body?: unknown; host?: string };

/** A request in the contract's terms: `x-api-key` and `x-organization-id` (null leaves one out). */
function call(method: string, path: string, opts: Opts = {}) {
  const headers: Record<string, string> = {};
  const k = opts.key === undefined ? key : opts.key;
  const o = opts.org === undefined ? org : opts.org;
  if (k) headers['x-api-key'] = k;
  if (o) headers['x-organization-id'] = o;
  if (opts.host) headers.host = opts.host;
  return t.request(method, path, { headers, body: opts.body });
}

const customer = (email: string) => ({
  account_type: 'business',
  display_name: 'North Harbor Facilities',
  company_name: 'North Harbor Facilities',
  first_name: 'Nora',
  last_name: 'Harbor',
  email,
  phone: '+1-404-555-0128',
});

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true', EVENTS_POLL_MS: '100', WEBHOOK_TICK_MS: '200' });
  const tenant = await t.newTenant();
  admin = tenant.token;
  org = toUuid(tenant.tenantId);
  key = (await t.newKey(admin, { scopes: ['read', 'write', 'files'] })).token;
  const second = await t.newTenant();
  other = { token: second.token, org: toUuid(second.tenantId) };
  receiver = await startReceiver();
});
afterAll(async () => {
  await t?.close();
  await receiver?.close();
});

describe('field-service surface: conventions', () => {
  it('refuses a missing or malformed organization, a missing or invalid key, and another organization', async () => {
    const missing = await call('GET', `${BASE}/customers`, { org: null });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toBe('Missing organization context. Provide x-organization-id.');
    expect(missing.body.issues[0].path).toBe('x-organization-id');
    const malformed = await call('GET', `${BASE}/customers`, { org: 'not-a-uuid' });
    expect(malformed.status).toBe(400);
    const noKey = await call('GET', `${BASE}/customers`, { key: null });
    expect(noKey.status).toBe(401);
    expect(noKey.body.error).toMatch(/API key/);
    const badKey = await call('GET', `${BASE}/customers`, { key: 'ast_live_nope' });
    expect(badKey.status).toBe(401);
    expect(badKey.body).toEqual({ error: 'Invalid API key' });
    const foreignOrg = await call('GET', `${BASE}/customers`, { org: other.org });
    expect(foreignOrg.status).toBe(403);
    expect(foreignOrg.headers.get('request-id')).toMatch(/^req_/);
  });

  it('names the missing scope of a key', async () => {
    const readOnly = (await t.newKey(admin, { scopes: ['read'] })).token;
    const res = await call('POST', `${BASE}/customers`, { key: readOnly, body: customer('scope@example.com') });
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ error: 'API key missing required scopes', missingScopes: ['write:customers'] });
    const files = await call('GET', `${BASE}/files`, { key: readOnly });
    expect(files.body.missingScopes).toEqual(['read:files']);
  });

  it('answers the per-minute limit with limit and window', async () => {
    const limited = (await t.newKey(admin, { scopes: ['read'], rate_limit: 2 })).token;
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 3; i++) {
      last = await call('GET', `${BASE}/services`, { key: limited });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 429]);
    expect(last!.body).toMatchObject({ error: 'API key minute rate limit exceeded', limit: 2, window: 'minute' });
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('validates bodies with issues naming each field, and refuses unknown fields', async () => {
    const res = await call('POST', `${BASE}/customers`, { body: { account_type: 'business', display_name: 'X', email: 'not-an-email' } });
    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual([expect.objectContaining({ path: 'email' })]);
    const unknown = await call('POST', `${BASE}/customers`, { body: { account_type: 'business', display_name: 'X', nickname: 'y' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.issues[0].path).toBe('nickname');
  });

  it('answers an unknown route under its base path in its own shape', async () => {
    const res = await call('GET', `${BASE}/widgets`);
    expect(res.status).toBe(404);
    expect(typeof res.body.error).toBe('string');
    expect(res.body.success).toBeUndefined();
  });
});

describe('customers', () => {
  it('creates a customer that is a record of /v1/objects, emits both events, and refuses a duplicate email', async () => {
    const hook = await createEndpoint(t, admin, receiver.url, { events: ['customer.created', 'object.created'] });
    const created = await call('POST', `${BASE}/customers`, { body: customer('ops@northharbor.example') });
    expect(created.status, created.text).toBe(201);
    const c = created.body.data;
    expect(c).toMatchObject({ organization_id: org, account_type: 'business', display_name: 'North Harbor Facilities', email: 'ops@northharbor.example', phone: '+1-404-555-0128' });
    expect(c.id).toMatch(/^[0-9a-f-]{36}$/);

    const objects = await t.request('GET', '/v1/objects/customers/list', { token: admin });
    expect(objects.status).toBe(200);
    const record = objects.body.data.results.find((r: any) => toUuid(r.id) === c.id);
    expect(record.properties).toMatchObject({ display_name: 'North Harbor Facilities', first_name: 'Nora', company_name: 'North Harbor Facilities' });

    const got = await call('GET', `${BASE}/customers/${c.id}`);
    expect(got.status).toBe(200);
    expect(got.body.data).toEqual(c);

    const dup = await call('POST', `${BASE}/customers`, { body: customer('OPS@northharbor.example') });
    expect(dup.status).toBe(409);
    expect(dup.body).toEqual({ error: 'Customer email already exists in this organization', field: 'email' });

    await waitFor(() => receiver.requests.filter((r) => r.json?.data?.id === c.id || r.json?.resource_id === record.id).length >= 2 || undefined, 'both webhooks');
    const types = receiver.requests.map((r) => r.json.type);
    expect(types).toContain('customer.created');
    expect(types).toContain('object.created');
    const surfaceEvent = receiver.requests.find((r) => r.json.type === 'customer.created')!;
    const { created_at: _, ...fields } = c;
    expect(surfaceEvent.json).toMatchObject({ event: 'customer.created', data: fields, timestamp: expect.any(String) });
    expect(hook.secret).toBeTruthy();
  });

  it('lists with filters and cursor pages', async () => {
    for (let i = 0; i < 3; i++) await call('POST', `${BASE}/customers`, { body: { ...customer(`page${i}@example.com`), account_type: 'individual', display_name: `Person ${i}` } });
    const first = await call('GET', `${BASE}/customers?account_type=individual&limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.pagination).toMatchObject({ count: 2, limit: 2 });
    expect(first.body.pagination.next_cursor).toBeTruthy();
    const second = await call('GET', `${BASE}/customers?account_type=individual&limit=2&cursor=${encodeURIComponent(first.body.pagination.next_cursor)}`);
    expect(second.body.data).toHaveLength(1);
    expect(second.body.pagination.next_cursor).toBeNull();
    const ids = [...first.body.data, ...second.body.data].map((c: any) => c.id);
    expect(new Set(ids).size).toBe(3);
    const byEmail = await call('GET', `${BASE}/customers?email=page1@example.com`);
    expect(byEmail.body.data.map((c: any) => c.display_name)).toEqual(['Person 1']);
  });

  it('shows another organization\'s customer to nobody else (404)', async () => {
    const mine = (await call('POST', `${BASE}/customers`, { body: customer('mine@example.com') })).body.data;
    const theirs = await call('GET', `${BASE}/customers/${mine.id}`, { key: other.token, org: other.org });
    expect(theirs.status).toBe(404);
    expect(theirs.body).toEqual({ error: 'Customer not found' });
    const notUuid = await call('GET', `${BASE}/customers/123`);
    expect(notUuid.status).toBe(404);
  });
});

describe('appointments', () => {
  it('books, reschedules, completes, and refuses changes after completion; events follow', async () => {
    const cust = (await call('POST', `${BASE}/customers`, { body: customer('appt@example.com') })).body.data;
    const tech = '95cb6a1e-3792-451a-b905-011946edc191';
    const made = await call('POST', `${BASE}/appointments`, {
      body: { customer_id: cust.id, scheduled_start: '2026-03-24T13:00:00.000Z', scheduled_end: '2026-03-24T15:00:00.000Z', assigned_team_member_ids: [tech] },
    });
    expect(made.status, made.text).toBe(201);
    const a = made.body.data;
    expect(a).toMatchObject({ customer_id: cust.id, status: 'scheduled', assigned_team_member_ids: [tech] });

    const backwards = await call('PATCH', `${BASE}/appointments/${a.id}`, { body: { scheduled_end: '2026-03-24T12:00:00.000Z' } });
    expect(backwards.status).toBe(400);
    const moved = await call('PATCH', `${BASE}/appointments/${a.id}`, { body: { scheduled_start: '2026-03-25T13:00:00.000Z', scheduled_end: '2026-03-25T15:00:00.000Z', status: 'confirmed' } });
    expect(moved.status, moved.text).toBe(200);
    expect(moved.body.data).toMatchObject({ status: 'confirmed', scheduled_start: '2026-03-25T13:00:00.000Z' });

    const byTech = await call('GET', `${BASE}/appointments?technician_id=${tech}&from=2026-03-25T00:00:00Z&to=2026-03-26T00:00:00Z`);
    expect(byTech.status, byTech.text).toBe(200);
    expect(byTech.body.data.map((x: any) => x.id)).toEqual([a.id]);
    const outside = await call('GET', `${BASE}/appointments?from=2026-04-01T00:00:00Z`);
    expect(outside.body.data.map((x: any) => x.id)).not.toContain(a.id);

    const hook = await createEndpoint(t, admin, receiver.url, { events: ['appointment.*', 'customer.deleted'] });
    const done = await call('PATCH', `${BASE}/appointments/${a.id}`, { body: { status: 'completed' } });
    expect(done.body.data.status).toBe('completed');
    const after = await call('PATCH', `${BASE}/appointments/${a.id}`, { body: { status: 'cancelled' } });
    expect(after.status).toBe(409);
    // Deleting the customer through /v1/objects is the contract's customer.deleted too.
    const removed = await t.request('DELETE', `/v1/objects/customers/${fromUuid('obj', cust.id)}`, { token: admin });
    expect(removed.status, removed.text).toBe(200);
    const ofHook = () => receiver.requests.filter((r) => r.json?.data?.id === a.id || r.json?.data?.id === cust.id).map((r) => r.json.type);
    await waitFor(() => (ofHook().includes('appointment.completed') && ofHook().includes('customer.deleted')) || undefined, 'appointment and customer events');
    expect(ofHook()).toContain('appointment.updated');
    const completed = receiver.requests.find((r) => r.json?.type === 'appointment.completed' && r.json.data.id === a.id)!;
    expect(completed.json.data).toMatchObject({ id: a.id, customer_id: cust.id, status: 'completed', organization_id: org });
    expect(receiver.requests.find((r) => r.json?.type === 'customer.deleted')!.json.data).toEqual({ id: cust.id, organization_id: org });
    expect(hook.id).toBeTruthy();

    const catalog = await t.request('GET', '/events/types', { token: admin });
    expect(catalog.status).toBe(200);
    const types = JSON.stringify(catalog.body);
    for (const type of ['appointment.created', 'appointment.updated', 'appointment.completed', 'appointment.cancelled', 'customer.created']) expect(types).toContain(type);
  });

  it('refuses an appointment for a customer of another organization', async () => {
    const theirs = (await call('POST', `${BASE}/customers`, { key: other.token, org: other.org, body: customer('theirs@example.com') })).body.data;
    const res = await call('POST', `${BASE}/appointments`, { body: { customer_id: theirs.id, scheduled_start: '2026-03-24T13:00:00Z', scheduled_end: '2026-03-24T14:00:00Z' } });
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('Customer not found');
  });
});

describe('estimates, invoices and payments', () => {
  it('computes totals exactly and sends an estimate by mail', async () => {
    const cust = (await call('POST', `${BASE}/customers`, { body: customer('quote@example.com') })).body.data;
    const made = await call('POST', `${BASE}/estimates`, {
      body: { customer_id: cust.id, currency: 'usd', line_items: [{ name: 'Filter', quantity: 3, unit_price: 0.1 }, { name: 'Labour', quantity: 1.5, unit_price: 33.33 }] },
    });
    expect(made.status, made.text).toBe(201);
    // 3 x 0.10 = 0.30 and 1.5 x 33.33 = 49.995 -> 50.00 (half away from zero): 50.30, not a float sum.
    expect(made.body.data).toMatchObject({ status: 'draft', currency: 'USD', subtotal_amount: 50.3, total_amount: 50.3 });
    const sent = await call('POST', `${BASE}/estimates/${made.body.data.id}/send`);
    expect(sent.status, sent.text).toBe(200);
    expect(sent.body.data).toEqual({ estimate_id: made.body.data.id, status: 'queued' });
    const after = await call('GET', `${BASE}/estimates/${made.body.data.id}`);
    expect(after.body.data.status).toBe('sent');
    const mails = await t.db.system.select().from(mailOutbox).where(eq(mailOutbox.to, 'quote@example.com'));
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toBe('Your estimate (50.3 USD)');
    expect(mails[0]!.text).toContain('Labour: 1.5 x 33.33 = 50 USD');
    const list = await call('GET', `${BASE}/estimates?status=sent&customer_id=${cust.id}`);
    expect(list.body.data.map((e: any) => e.id)).toEqual([made.body.data.id]);
  });

  it('issues an invoice into the books whose balance follows the receipts allocated to it', async () => {
    const cust = (await call('POST', `${BASE}/customers`, { body: customer('bill@example.com') })).body.data;
    const inv = await call('POST', `${BASE}/invoices`, {
      body: { customer_id: cust.id, due_date: '2026-04-15', line_items: [{ name: 'Kitchen exhaust cleaning', quantity: 1, unit_price: 1950 }, { name: 'Filters', quantity: 3, unit_price: 0.1 }] },
    });
    expect(inv.status, inv.text).toBe(201);
    expect(inv.body.data).toMatchObject({ status: 'sent', payment_status: 'pending', balance_due: 1950.3, total_amount: 1950.3, due_date: '2026-04-15', currency: 'USD' });
    const bookId = fromUuid('inv', inv.body.data.id)!;

    // The same invoice in the books, approved, its customer as its contact.
    const book = await t.request('GET', `/v1/accounting/invoices/${bookId}`, { token: admin });
    expect(book.status).toBe(200);
    expect(book.body.data).toMatchObject({ type: 'sales', status: 'approved', total: '1950.30', contact_id: fromUuid('obj', cust.id), contact_name: 'North Harbor Facilities' });
    const trial = await t.request('GET', '/v1/accounting/reports/trial-balance', { token: admin });
    expect(trial.status).toBe(200);
    expect(JSON.stringify(trial.body)).toContain('1950.30');

    const pay = await t.request('POST', '/v1/accounting/payments', {
      token: admin,
      body: { type: 'receipt', date: '2026-04-20', amount: 950.1, method: 'card', allocations: [{ invoice_id: bookId, amount: 950.1 }] },
    });
    expect(pay.status, pay.text).toBe(201);
    const partial = await call('GET', `${BASE}/invoices/${inv.body.data.id}`);
    expect(partial.body.data).toMatchObject({ status: 'sent', payment_status: 'partial', balance_due: 1000.2 });
    const payments = await call('GET', `${BASE}/payments?invoice_id=${inv.body.data.id}`);
    expect(payments.status).toBe(200);
    expect(payments.body.data).toEqual([
      { id: expect.any(String), amount: 950.1, status: 'completed', payment_method: 'card', payment_date: '2026-04-20', customer_id: cust.id, invoice_id: inv.body.data.id, created_at: expect.any(String) },
    ]);
    const one = await call('GET', `${BASE}/payments/${payments.body.data[0].id}`);
    expect(one.body.data).toEqual(payments.body.data[0]);
    await t.request('POST', '/v1/accounting/payments', { token: admin, body: { type: 'receipt', date: '2026-04-21', amount: 1000.2, allocations: [{ invoice_id: bookId, amount: 1000.2 }] } });
    const paid = await call('GET', `${BASE}/invoices?customer_id=${cust.id}`);
    expect(paid.body.data).toEqual([expect.objectContaining({ id: inv.body.data.id, status: 'paid', payment_status: 'completed', balance_due: 0 })]);
    const pages = await call('GET', `${BASE}/payments?customer_id=${cust.id}&limit=1`);
    expect(pages.body.pagination.next_cursor).toBeTruthy();
    const second = await call('GET', `${BASE}/payments?customer_id=${cust.id}&limit=1&cursor=${pages.body.pagination.next_cursor}`);
    expect(second.body.data).toHaveLength(1);
    expect(second.body.data[0].id).not.toBe(pages.body.data[0].id);
    const badCursor = await call('GET', `${BASE}/payments?cursor=zzz`);
    expect(badCursor.status).toBe(400);
    const foreign = await call('GET', `${BASE}/invoices/${inv.body.data.id}`, { key: other.token, org: other.org });
    expect(foreign.status).toBe(404);
  });

  it('shows only the books\' invoices whose contact is a customer record', async () => {
    const sales = (await t.request('GET', '/v1/accounting/accounts', { token: admin })).body.data.find((a: any) => a.system_role === 'sales');
    for (const contact_id of ['-1', 'obj_not-a-record']) {
      const made = await t.request('POST', '/v1/accounting/invoices', {
        token: admin,
        body: { type: 'sales', contact_name: 'Walk-in', contact_id, date: '2026-04-01', lines: [{ unit_price: 1, account_id: sales.id }] },
      });
      expect(made.status, made.text).toBe(201);
      const id = toUuid(made.body.data.id);
      expect((await call('GET', `${BASE}/invoices/${id}`)).status).toBe(404);
      const list = await call('GET', `${BASE}/invoices?limit=100`);
      expect(list.body.data.map((i: any) => i.id)).not.toContain(id);
      for (const i of list.body.data) expect(i.customer_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });

  it('refuses an invoice in a currency the books do not have', async () => {
    const cust = (await call('POST', `${BASE}/customers`, { body: customer('eur@example.com') })).body.data;
    const res = await call('POST', `${BASE}/invoices`, { body: { customer_id: cust.id, currency: 'EUR', due_date: '2026-04-15', line_items: [{ name: 'X', quantity: 1, unit_price: 1 }] } });
    expect(res.status).toBe(400);
    expect(res.body.issues[0].path).toBe('currency');
  });
});

describe('services and files', () => {
  it('reads the catalogue kept in /v1/objects/services and files of the files module', async () => {
    await call('GET', `${BASE}/services`);
    const made = await t.request('POST', '/v1/objects/services', { token: admin, body: { properties: { name: 'Kitchen exhaust cleaning', price: 1950, duration_minutes: 180, service_type: 'commercial_kitchen' } } });
    expect(made.status, made.text).toBe(201);
    const list = await call('GET', `${BASE}/services?is_active=true`);
    expect(list.body.data).toEqual([expect.objectContaining({ name: 'Kitchen exhaust cleaning', price: 1950, duration_minutes: 180, is_active: true, service_type: 'commercial_kitchen' })]);
    const one = await call('GET', `${BASE}/services/${list.body.data[0].id}`);
    expect(one.status).toBe(200);

    const form = new FormData();
    form.append('file', new Blob(['hello'], { type: 'text/plain' }), 'notes.txt');
    const upload = await t.request('POST', '/v1/files/upload', { token: admin, body: form });
    expect(upload.status, upload.text).toBe(201);
    const files = await call('GET', `${BASE}/files?search=notes`);
    expect(files.status).toBe(200);
    expect(files.body.data).toEqual([expect.objectContaining({ original_name: 'notes.txt', content_type: 'text/plain', size_bytes: 5, status: 'ready', bucket: 'uploads' })]);
    const file = await call('GET', `${BASE}/files/${files.body.data[0].id}`);
    expect(file.body.data).toEqual(files.body.data[0]);
    const foreign = await call('GET', `${BASE}/files/${files.body.data[0].id}`, { key: other.token, org: other.org });
    expect(foreign.status).toBe(404);
  });
});

describe('surface hosts', () => {
  it('serves the same contract on its own host at the seed paths, and its document there', async () => {
    const own = await call('GET', `${BASE}/services`, { host: 'field-service.localhost:3000' });
    expect(own.status).toBe(200);
    const spec = await t.request('GET', `${BASE}/openapi.json`, { headers: { host: 'field-service.localhost' } });
    expect(spec.status).toBe(200);
    expect(Object.keys(spec.body.paths)).toContain('/api/public/v1/customers/{customerId}');
    // The surface's host serves only its contract.
    const platform = await t.request('GET', '/v1/keys', { token: admin, headers: { host: 'field-service.localhost' } });
    expect(platform.status).toBe(404);
    expect(platform.body.error).toMatch(/No route/);
  });
});
