import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../core/clock.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { runDueRecurring } from '../recurring/service.ts';

let t: TestPlatform;
let token: string;
let other: string;
const A = '/v1/accounting';
const clock = new FakeClock();

async function call(method: string, path: string, body?: unknown, tk = token) {
  return t.request(method, `${A}${path}`, { token: tk, ...(body === undefined ? {} : { body }) });
}
async function made(method: string, path: string, body?: unknown) {
  const res = await call(method, path, body);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
  return res.body.data;
}

let bank: any;
let sales: string;
let rent: string;

beforeAll(async () => {
  clock.advance(Date.parse('2026-03-01T12:00:00Z') - clock.now());
  t = await testPlatform({}, { clock });
  ({ token } = await t.newTenant());
  ({ token: other } = await t.newTenant());
  await made('POST', '/currencies', { code: 'USD', name: 'US dollar' });
  sales = (await made('POST', '/accounts', { code: '4000', name: 'Sales', type: 'revenue' })).id;
  rent = (await made('POST', '/accounts', { code: '6000', name: 'Rent', type: 'expense' })).id;
});
afterAll(async () => t?.close());

describe('bank accounts', () => {
  it('creates with its own ledger account, imports JSON, CSV and OFX without duplicates', async () => {
    bank = await made('POST', '/bank-accounts', { name: 'Checking', account_number: '123', bank_name: 'First' });
    expect(bank.gl_account_id).toMatch(/^acc_/);
    expect((await call('POST', '/bank-accounts', { name: 'x', gl_account_id: 'acc_nope' })).status).toBe(404);
    const json = await made('POST', `/bank-accounts/${bank.id}/import`, {
      transactions: [
        { date: '2026-02-01', description: 'Customer INV-1', amount: 250, type: 'credit' },
        { date: '2026-02-03', description: 'Rent', amount: 100, type: 'debit' },
      ],
    });
    expect(json.imported).toBe(2);
    const again = await made('POST', `/bank-accounts/${bank.id}/import`, { transactions: [{ date: '2026-02-01', description: 'Customer INV-1', amount: 250, type: 'credit' }] });
    expect(again).toMatchObject({ imported: 0, duplicates: 1 });
    const csv = 'date,description,amount\n2026-02-05,Coffee,-4.50\n2026-02-05,Coffee,-4.50\n';
    expect((await made('POST', `/bank-accounts/${bank.id}/import`, { format: 'csv', content: csv })).imported).toBe(2);
    expect((await made('POST', `/bank-accounts/${bank.id}/import`, { format: 'csv', content: csv })).imported).toBe(0);
    const ofx = `OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><BANKTRANLIST>
<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20260207<TRNAMT>-12.00<FITID>F1<NAME>Stationery</STMTTRN>
</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>`;
    expect((await made('POST', `/bank-accounts/${bank.id}/import`, { format: 'ofx', content: ofx })).imported).toBe(1);
    expect((await made('POST', `/bank-accounts/${bank.id}/import`, { format: 'ofx', content: ofx })).imported).toBe(0);
    expect((await call('POST', `/bank-accounts/${bank.id}/import`, {})).status).toBe(400);
    expect((await call('POST', `/bank-accounts/${bank.id}/import`, { transactions: [{ date: 'nope', amount: 1 }] })).status).toBe(400);
    const list = await made('GET', `/bank-accounts/${bank.id}/transactions?status=unmatched`);
    expect(list.total).toBe(5);
    expect((await call('GET', `/bank-accounts/${bank.id}/transactions`, undefined, other)).status).toBe(404);
    expect((await call('POST', `/bank-accounts/${bank.id}/import`, { transactions: [] }, other)).status).toBe(404);
  });

  it('suggests, matches and reconciles; a period can require reconciliation before closing', async () => {
    const list = await made('GET', `/bank-accounts/${bank.id}/transactions`);
    const receipt = list.transactions.find((x: any) => x.description === 'Customer INV-1');
    const entry = await made('POST', '/journal-entries', { date: '2026-02-02', reference: 'INV-1', post: true, lines: [{ account_id: bank.gl_account_id, debit: 250 }, { account_id: sales, credit: 250 }] });
    const tx = await made('GET', `/bank-transactions/${receipt.id}`);
    expect(tx.suggestions[0].entry_id).toBe(entry.id);
    const wrong = await made('POST', '/journal-entries', { date: '2026-02-02', post: true, lines: [{ account_id: bank.gl_account_id, debit: 10 }, { account_id: sales, credit: 10 }] });
    expect((await call('POST', `/bank-transactions/${receipt.id}/match`, { entry_id: wrong.id })).status).toBe(422);
    expect((await call('POST', `/bank-transactions/${receipt.id}/match`, { entry_id: 'je_nope' })).status).toBe(404);
    const unmatched = await call('POST', `/bank-accounts/${bank.id}/reconcile`, { transaction_ids: [receipt.id] });
    expect(unmatched.status).toBe(409);
    const matched = await made('POST', `/bank-transactions/${receipt.id}/match`, { entry_id: entry.id });
    expect(matched.status).toBe('matched');
    expect((await call('POST', `/bank-accounts/${bank.id}/reconcile`, { transaction_ids: [receipt.id], statement_balance: 1 })).status).toBe(422);
    const rec = await made('POST', `/bank-accounts/${bank.id}/reconcile`, { transaction_ids: [receipt.id], statement_balance: 250 });
    expect(rec).toMatchObject({ reconciled: 1, reconciled_balance: '250.00' });
    expect((await call('POST', `/bank-accounts/${bank.id}/reconcile`, { transaction_ids: [receipt.id] })).status).toBe(409);
    expect((await call('POST', `/bank-transactions/${receipt.id}/match`, { entry_id: entry.id })).status).toBe(409);
    expect((await call('GET', `/bank-transactions/${receipt.id}`, undefined, other)).status).toBe(404);

    const feb = await made('POST', '/periods', { name: 'Feb', start_date: '2026-02-01', end_date: '2026-02-28' });
    const refused = await call('POST', `/periods/${feb.id}/close?require_reconciled=true`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.details.reason).toBe('unreconciled');
    // The tenant setting makes it the rule: a close request cannot waive it.
    expect(await made('GET', '/settings')).toEqual({ require_reconciled: false, updated_at: null });
    const strict = await made('PATCH', '/settings', { require_reconciled: true });
    expect(strict.require_reconciled).toBe(true);
    for (const query of ['', '?require_reconciled=false']) {
      const byPolicy = await call('POST', `/periods/${feb.id}/close${query}`);
      expect(byPolicy.status).toBe(409);
      expect(byPolicy.body.error.details.reason).toBe('unreconciled');
    }
    expect((await call('GET', '/settings', undefined, other)).body.data.require_reconciled).toBe(false);
    expect((await call('PATCH', '/settings', { require_reconciled: 'yes' })).status).toBe(400);
    expect((await call('PATCH', '/settings', { strict: true })).status).toBe(400);
    const audit = await t.request('GET', '/v1/audit-logs?action=accounting.settings.updated', { token });
    expect(audit.body.data.logs).toHaveLength(1);
    expect((await made('PATCH', '/settings', { require_reconciled: false })).require_reconciled).toBe(false);
    expect((await made('POST', `/periods/${feb.id}/close`)).status).toBe('closed');
    await made('POST', `/periods/${feb.id}/reopen`);

    const got = await made('GET', `/bank-accounts/${bank.id}`);
    expect(got.balance).toBe('260.00');
    expect(got.unreconciled).toBe(4);
    expect((await made('PATCH', `/bank-accounts/${bank.id}`, { bank_name: 'Second' })).bank_name).toBe('Second');
    const del = await call('DELETE', `/bank-accounts/${bank.id}`);
    expect(del.status).toBe(409);
    expect(del.body.error.code).toBe('DEPENDENCY_EXISTS');
    const spare = await made('POST', '/bank-accounts', { name: 'Spare' });
    expect(await made('DELETE', `/bank-accounts/${spare.id}`)).toEqual({ id: spare.id, deleted: true });
    expect((await made('GET', '/bank-accounts')).length).toBe(1);
  });
});

describe('recurring templates', () => {
  it('executes now, advances on the rule, ends, and the scheduler runs each occurrence once', async () => {
    const bad = await call('POST', '/recurring', { name: 'x', template: { lines: [] }, frequency: 'monthly' });
    expect(bad.status).toBe(400);
    expect((await call('POST', '/recurring', { name: 'x', template: { lines: [{ account_id: rent, debit: 1 }, { account_id: bank.gl_account_id, credit: 1 }] }, frequency: 'FREQ=SECONDLY' })).status).toBe(400);
    const rec = await made('POST', '/recurring', {
      name: 'Rent',
      template: { description: 'Monthly rent', lines: [{ account_id: rent, debit: 1000 }, { account_id: bank.gl_account_id, credit: 1000 }] },
      frequency: 'monthly',
      next_run: '2026-01-31',
      end_date: '2026-04-30',
    });
    const run = await made('POST', `/recurring/${rec.id}/execute`);
    expect(run.occurrence).toBe('2026-01-31');
    expect(run.next_run).toBe('2026-03-31');
    const entry = await made('GET', `/journal-entries/${run.result_id}`);
    expect(entry).toMatchObject({ date: '2026-01-31', status: 'posted', total: '1000.00' });
    // Two schedulers at once: the occurrence of 2026-03-31 runs once.
    clock.advance(Date.parse('2026-04-01T00:00:30Z') - clock.now());
    const [a, b] = await Promise.all([runDueRecurring(t.kernel), runDueRecurring(t.kernel)]);
    expect(a + b).toBe(1);
    const after = await made('GET', `/recurring/${rec.id}`);
    expect(after).toMatchObject({ run_count: 2, status: 'ended', next_run: null });
    expect((await call('POST', `/recurring/${rec.id}/execute`)).status).toBe(409);
    const inv = await made('POST', '/recurring', {
      name: 'Retainer',
      type: 'invoice',
      template: { type: 'sales', contact_name: 'Acme', due_days: 14, lines: [{ unit_price: 500, account_id: sales }], approve: true },
      frequency: 'FREQ=WEEKLY;INTERVAL=2',
      next_run: '2026-03-02',
    });
    const ran = await made('POST', `/recurring/${inv.id}/execute`);
    const invoice = await made('GET', `/invoices/${ran.result_id}`);
    expect(invoice).toMatchObject({ status: 'approved', due_date: '2026-03-16' });
    expect(ran.next_run).toBe('2026-03-16');
    expect((await made('PATCH', `/recurring/${inv.id}`, { name: 'Retainer 2' })).name).toBe('Retainer 2');
    expect((await call('GET', `/recurring/${inv.id}`, undefined, other)).status).toBe(404);
    expect((await call('POST', `/recurring/${inv.id}/execute`, undefined, other)).status).toBe(404);
    expect(await made('DELETE', `/recurring/${inv.id}`)).toEqual({ id: inv.id, deleted: true });
    expect((await made('GET', '/recurring')).length).toBe(1);
  });
});
