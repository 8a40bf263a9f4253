import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';

let t: TestPlatform;
let token: string;
let other: string;
const A = '/v1/accounting';

async function call(method: string, path: string, body?: unknown, tk = token) {
  return t.request(method, `${A}${path}`, { token: tk, ...(body === undefined ? {} : { body }) });
}
async function made(method: string, path: string, body?: unknown) {
  const res = await call(method, path, body);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
  return res.body.data;
}

let sales: string;
let supplies: string;
let vat: string;
let vatIncl: string;

beforeAll(async () => {
  t = await testPlatform();
  ({ token } = await t.newTenant());
  ({ token: other } = await t.newTenant());
  await made('POST', '/currencies', { code: 'USD', name: 'US dollar' });
  await made('POST', '/currencies', { code: 'EUR', name: 'Euro' });
  await made('POST', '/exchange-rates', { from_currency: 'EUR', to_currency: 'USD', rate: '1.10', effective_date: '2026-01-01' });
  await made('POST', '/exchange-rates', { from_currency: 'EUR', to_currency: 'USD', rate: '1.20', effective_date: '2026-03-01' });
  sales = (await made('POST', '/accounts', { code: '4000', name: 'Sales', type: 'revenue' })).id;
  supplies = (await made('POST', '/accounts', { code: '6100', name: 'Supplies', type: 'expense' })).id;
});
afterAll(async () => t?.close());

async function invariants() {
  const tb = await made('GET', '/reports/trial-balance?as_of=2026-12-31');
  expect(tb.balanced).toBe(true);
  const bs = await made('GET', '/reports/balance-sheet?as_of=2026-12-31');
  expect(bs.balanced).toBe(true);
  const ar = await made('GET', '/reports/aged-receivables?as_of=2026-12-31');
  expect(ar.agrees_with_control).toBe(true);
  const ap = await made('GET', '/reports/aged-payables?as_of=2026-12-31');
  expect(ap.agrees_with_control).toBe(true);
  return { tb, bs, ar, ap };
}

describe('tax codes', () => {
  it('creates, reads, updates and deletes', async () => {
    vat = (await made('POST', '/tax-codes', { code: 'VAT20', name: 'VAT 20%', rate: 20, type: 'exclusive', category: 'standard' })).id;
    vatIncl = (await made('POST', '/tax-codes', { code: 'VAT20I', name: 'VAT 20% incl', rate: 20, type: 'inclusive' })).id;
    expect((await call('POST', '/tax-codes', { code: 'VAT20', name: 'dup', rate: 20 })).status).toBe(409);
    expect((await call('POST', '/tax-codes', { code: 'NEG', name: 'neg', rate: -1 })).status).toBe(400);
    const tmp = await made('POST', '/tax-codes', { code: 'TMP', name: 'tmp', rate: 5 });
    expect((await made('PATCH', `/tax-codes/${tmp.id}`, { rate: 7 })).rate).toBe('7');
    expect((await call('GET', `/tax-codes/${tmp.id}`, undefined, other)).status).toBe(404);
    expect(await made('DELETE', `/tax-codes/${tmp.id}`)).toEqual({ id: tmp.id, deleted: true });
    expect((await made('GET', '/tax-codes')).length).toBe(2);
  });
});

describe('invoices and payments', () => {
  it('computes exclusive and inclusive tax without losing a cent, approves, settles', async () => {
    const inv = await made('POST', '/invoices', {
      type: 'sales',
      contact_name: 'Acme',
      date: '2026-01-10',
      due_date: '2026-02-09',
      lines: [
        { description: 'Widgets', quantity: 3, unit_price: '33.333', account_id: sales, tax_code_id: vat },
        { description: 'Service', quantity: 1, unit_price: 10, account_id: sales, tax_code_id: vatIncl },
      ],
    });
    // 3 x 33.333 = 99.999 -> 100.00 net, 20.00 tax; inclusive 10.00 -> tax 1.67, net 8.33.
    expect(inv.lines[0]).toMatchObject({ net: '100.00', tax: '20.00', amount: '120.00' });
    expect(inv.lines[1]).toMatchObject({ net: '8.33', tax: '1.67', amount: '10.00' });
    expect(inv.total).toBe('130.00');
    expect(inv.status).toBe('draft');
    const patched = await made('PATCH', `/invoices/${inv.id}`, { notes: 'thanks' });
    expect(patched.notes).toBe('thanks');
    expect((await call('POST', `/invoices/${inv.id}/approve`, undefined, other)).status).toBe(404);
    const approved = await made('POST', `/invoices/${inv.id}/approve`);
    expect(approved.status).toBe('approved');
    expect(approved.base_total).toBe('130.00');
    expect((await call('POST', `/invoices/${inv.id}/approve`)).status).toBe(409);
    expect((await call('PATCH', `/invoices/${inv.id}`, { notes: 'x' })).status).toBe(409);
    expect((await call('DELETE', `/invoices/${inv.id}`)).status).toBe(409);
    await invariants();

    const p1 = await made('POST', '/payments', { type: 'receipt', contact_name: 'Acme', date: '2026-01-20', amount: 50, allocations: [{ invoice_id: inv.id, amount: 50 }] });
    expect(p1.allocations[0]).toMatchObject({ invoice_id: inv.id, amount: '50.00' });
    expect((await made('GET', `/invoices/${inv.id}`)).status).toBe('partially_paid');
    const ar = await made('GET', '/reports/aged-receivables?as_of=2026-03-15');
    expect(ar.total).toBe('80.00');
    expect(ar.buckets['31_60']).toBe('80.00');
    expect((await call('POST', '/payments', { type: 'receipt', date: '2026-01-21', amount: 100, allocations: [{ invoice_id: inv.id, amount: 100 }] })).status).toBe(422);
    expect((await call('POST', `/invoices/${inv.id}/void`)).status).toBe(409);
    const p2 = await made('POST', '/payments', { type: 'receipt', date: '2026-01-25', amount: 100, allocations: [{ invoice_id: inv.id, amount: 80 }] });
    expect(p2.unallocated).toBe('20.00');
    expect((await made('GET', `/invoices/${inv.id}`)).status).toBe('paid');
    await invariants();
    const voided = await made('POST', `/payments/${p2.id}/void`);
    expect(voided.status).toBe('void');
    expect((await call('POST', `/payments/${p2.id}/void`)).status).toBe(409);
    expect((await made('GET', `/invoices/${inv.id}`)).status).toBe('partially_paid');
    await invariants();
    const list = await made('GET', '/payments?type=receipt');
    expect(list.total).toBe(2);
    expect((await call('GET', `/payments/${p1.id}`, undefined, other)).status).toBe(404);
    const tax = await made('GET', '/reports/tax?from=2026-01-01&to=2026-12-31');
    expect(tax.output_tax).toBe('21.67');
  });

  it('posts a realised FX gain when a foreign invoice is paid at another rate', async () => {
    const inv = await made('POST', '/invoices', { type: 'sales', contact_name: 'Euro GmbH', date: '2026-02-01', currency: 'EUR', lines: [{ unit_price: 100, account_id: sales }] });
    const approved = await made('POST', `/invoices/${inv.id}/approve`);
    expect(approved.base_total).toBe('110.00');
    const pay = await made('POST', '/payments', { type: 'receipt', date: '2026-03-05', amount: 100, currency: 'EUR', allocations: [{ invoice_id: inv.id, amount: 100 }] });
    const entry = await made('GET', `/journal-entries/${pay.entry_id}`);
    const fxLine = entry.lines.find((l: any) => l.description === 'Realised exchange difference');
    expect(fxLine.base_credit).toBe('10.00');
    const { bs } = await invariants();
    expect(bs.balanced).toBe(true);
    const mismatch = await call('POST', '/payments', { type: 'receipt', date: '2026-03-05', amount: 1, currency: 'USD', allocations: [{ invoice_id: inv.id, amount: 1 }] });
    expect(mismatch.status).toBe(409);
  });

  it('handles purchase invoices, voids and errors', async () => {
    const bill = await made('POST', '/invoices', { type: 'purchase', contact_name: 'Paper Co', date: '2026-02-10', lines: [{ unit_price: 40, account_id: supplies, tax_code_id: vat }] });
    await made('POST', `/invoices/${bill.id}/approve`);
    const ap = await made('GET', '/reports/aged-payables?as_of=2026-02-10');
    expect(ap.total).toBe('48.00');
    expect(ap.agrees_with_control).toBe(true);
    const wrong = await call('POST', '/payments', { type: 'receipt', date: '2026-02-11', amount: 48, allocations: [{ invoice_id: bill.id, amount: 48 }] });
    expect(wrong.status).toBe(422);
    const missing = await call('POST', '/payments', { type: 'payment', date: '2026-02-11', amount: 48, allocations: [{ invoice_id: 'inv_nope', amount: 48 }] });
    expect(missing.status).toBe(404);
    const v = await made('POST', `/invoices/${bill.id}/void`);
    expect(v.status).toBe('void');
    expect((await call('POST', `/invoices/${bill.id}/void`)).status).toBe(409);
    await invariants();
    const draft = await made('POST', '/invoices', { type: 'purchase', contact_name: 'X', date: '2026-02-10', lines: [{ unit_price: 1, account_id: supplies }] });
    expect(await made('DELETE', `/invoices/${draft.id}`)).toEqual({ id: draft.id, deleted: true });
    expect((await call('POST', '/invoices', { type: 'sales', contact_name: 'X', date: '2026-02-10', due_date: '2026-01-01', lines: [{ unit_price: 1, account_id: sales }] })).status).toBe(400);
    expect((await call('POST', '/invoices', { type: 'sales', contact_name: 'X', date: '2026-02-10', lines: [{ unit_price: 1, account_id: 'acc_nope' }] })).status).toBe(404);
    expect((await call('POST', '/invoices', { type: 'sales', contact_name: 'X', date: '2026-02-10', lines: [{ unit_price: 1, account_id: sales, tax_code_id: 'tax_nope' }] })).status).toBe(404);
    const zero = await made('POST', '/invoices', { type: 'sales', contact_name: 'X', date: '2026-02-10', lines: [{ unit_price: 0, account_id: sales }] });
    expect((await call('POST', `/invoices/${zero.id}/approve`)).status).toBe(422);
    const list = await made('GET', '/invoices?type=sales&limit=2');
    expect(list.invoices).toHaveLength(2);
    expect(list.total).toBeGreaterThanOrEqual(3);
    expect((await call('GET', `/invoices/${bill.id}`, undefined, other)).status).toBe(404);
    // Tax code in use
    const del = await call('DELETE', `/tax-codes/${vat}`);
    expect(del.status).toBe(409);
    expect(del.body.error.code).toBe('DEPENDENCY_EXISTS');
  });
});
