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

let cash: string;
let sales: string;
let rent: string;
let capital: string;

beforeAll(async () => {
  t = await testPlatform();
  ({ token } = await t.newTenant());
  ({ token: other } = await t.newTenant());
});
afterAll(async () => t?.close());

describe('accounting ledger', () => {
  it('needs a currency before any entry (422), and the first currency is the base', async () => {
    const acc = await made('POST', '/accounts', { code: '1000', name: 'Bank', type: 'asset', sub_type: 'bank' });
    cash = acc.id;
    const res = await call('POST', '/journal-entries', { date: '2026-01-05', lines: [{ account_id: cash, debit: 1 }, { account_id: cash, credit: 1 }] });
    expect(res.status).toBe(422);
    const usd = await made('POST', '/currencies', { code: 'USD', name: 'US dollar', symbol: '$', decimal_places: 2 });
    expect(usd.is_base).toBe(true);
    const eur = await made('POST', '/currencies', { code: 'EUR', name: 'Euro', decimal_places: 2 });
    expect(eur.is_base).toBe(false);
    expect((await call('POST', '/currencies', { code: 'EUR', name: 'again' })).status).toBe(409);
    expect((await call('DELETE', `/currencies/${usd.id}`)).status).toBe(409);
    expect((await call('GET', `/currencies/${usd.id}`, undefined, other)).status).toBe(404);
    const list = await made('GET', '/currencies');
    expect(list.map((c: any) => c.code)).toEqual(['EUR', 'USD']);
  });

  it('manages the chart of accounts', async () => {
    sales = (await made('POST', '/accounts', { code: '4000', name: 'Sales', type: 'revenue' })).id;
    rent = (await made('POST', '/accounts', { code: '6000', name: 'Rent', type: 'expense' })).id;
    capital = (await made('POST', '/accounts', { code: '3000', name: 'Capital', type: 'equity' })).id;
    expect((await call('POST', '/accounts', { code: '4000', name: 'dup', type: 'revenue' })).status).toBe(409);
    expect((await call('POST', '/accounts', { code: '4001', name: 'x', type: 'revenue', parent_id: 'acc_nope' })).status).toBe(404);
    expect((await call('POST', '/accounts', { code: '4002', name: 'x', type: 'teapot' })).status).toBe(400);
    const patched = await made('PATCH', `/accounts/${rent}`, { name: 'Office rent' });
    expect(patched.name).toBe('Office rent');
    const revenue = await made('GET', '/accounts?type=revenue');
    expect(revenue.map((a: any) => a.id)).toEqual([sales]);
    expect((await call('GET', `/accounts/${sales}`, undefined, other)).status).toBe(404);
    expect((await call('PATCH', `/accounts/${sales}`, { name: 'x' }, other)).status).toBe(404);
    const tmp = await made('POST', '/accounts', { code: '9999', name: 'Temp', type: 'expense' });
    expect(await made('DELETE', `/accounts/${tmp.id}`)).toEqual({ id: tmp.id, deleted: true });
  });

  it('posts balanced entries, refuses unbalanced ones naming the difference', async () => {
    const bad = await call('POST', '/journal-entries', { date: '2026-01-05', lines: [{ account_id: cash, debit: 100 }, { account_id: capital, credit: 90 }], post: true });
    expect(bad.status).toBe(422);
    expect(bad.body.error.message).toContain('10.00');
    expect(bad.body.error.details.difference).toBe('10.00');
    const both = await call('POST', '/journal-entries', { date: '2026-01-05', lines: [{ account_id: cash, debit: 1, credit: 1 }, { account_id: capital, credit: 0 }] });
    expect(both.status).toBe(400);
    const missing = await call('POST', '/journal-entries', { date: '2026-01-05', lines: [{ account_id: 'acc_nope', debit: 1 }, { account_id: capital, credit: 1 }] });
    expect(missing.status).toBe(404);
    const cents = await call('POST', '/journal-entries', { date: '2026-01-05', lines: [{ account_id: cash, debit: '1.001' }, { account_id: capital, credit: '1.001' }] });
    expect(cents.status).toBe(400);
    const e = await made('POST', '/journal-entries', { date: '2026-01-05', description: 'Capital', lines: [{ account_id: cash, debit: 1000 }, { account_id: capital, credit: '1000' }], post: true });
    expect(e.status).toBe('posted');
    expect(e.total).toBe('1000.00');
    expect(e.lines[0].base_debit).toBe('1000.00');
    await made('POST', '/journal-entries', { date: '2026-01-10', lines: [{ account_id: cash, debit: 250 }, { account_id: sales, credit: 250 }], post: true });
    await made('POST', '/journal-entries', { date: '2026-01-20', lines: [{ account_id: rent, debit: 100 }, { account_id: cash, credit: 100 }], post: true });
    const account = await made('GET', `/accounts/${cash}`);
    expect(account.balance).toBe('1150.00');
    const del = await call('DELETE', `/accounts/${cash}`);
    expect(del.status).toBe(409);
    expect(del.body.error.code).toBe('DEPENDENCY_EXISTS');
    expect(del.body.error.dependencies[0]).toMatchObject({ type: 'postings', count: 3 });
  });

  it('keeps drafts editable and posted entries immutable; reverses', async () => {
    const d = await made('POST', '/journal-entries', { date: '2026-01-15', lines: [{ account_id: rent, debit: 10 }, { account_id: cash, credit: 10 }] });
    expect(d.status).toBe('draft');
    const u = await made('PATCH', `/journal-entries/${d.id}`, { lines: [{ account_id: rent, debit: 20 }, { account_id: cash, credit: 20 }] });
    expect(u.total).toBe('20.00');
    const p = await made('POST', `/journal-entries/${d.id}/post`);
    expect(p.status).toBe('posted');
    expect((await call('POST', `/journal-entries/${d.id}/post`)).status).toBe(409);
    expect((await call('PATCH', `/journal-entries/${d.id}`, { description: 'x' })).status).toBe(409);
    expect((await call('DELETE', `/journal-entries/${d.id}`)).status).toBe(409);
    const r = await made('POST', `/journal-entries/${d.id}/reverse`, { date: '2026-01-16' });
    expect(r.reversal_of).toBe(d.id);
    expect(r.lines[0].credit).toBe('20.00');
    expect((await call('POST', `/journal-entries/${d.id}/reverse`, {})).status).toBe(409);
    expect((await call('POST', `/journal-entries/${d.id}/reverse`, {}, other)).status).toBe(404);
    const d2 = await made('POST', '/journal-entries', { date: '2026-01-15', lines: [{ account_id: rent, debit: 10 }, { account_id: cash, credit: 10 }] });
    expect(await made('DELETE', `/journal-entries/${d2.id}`)).toEqual({ id: d2.id, deleted: true });
    const list = await made('GET', `/journal-entries?status=posted&account_id=${rent}`);
    expect(list.total).toBe(3);
    expect(list.entries).toHaveLength(3);
  });

  it('converts foreign entries at the latest rate on or before the date', async () => {
    const fx = await call('POST', '/journal-entries', { date: '2026-01-05', currency: 'EUR', lines: [{ account_id: cash, debit: 10 }, { account_id: sales, credit: 10 }], post: true });
    expect(fx.status).toBe(422);
    await made('POST', '/exchange-rates', { from_currency: 'EUR', to_currency: 'USD', rate: '1.1', effective_date: '2026-01-01' });
    await made('POST', '/exchange-rates', { from_currency: 'EUR', to_currency: 'USD', rate: 1.2, effective_date: '2026-02-01' });
    expect((await call('POST', '/exchange-rates', { from_currency: 'EUR', to_currency: 'USD', rate: 1.3, effective_date: '2026-02-01' })).status).toBe(409);
    expect((await call('POST', '/exchange-rates', { from_currency: 'EUR', to_currency: 'GBP', rate: 1.3, effective_date: '2026-02-01' })).status).toBe(404);
    // 3 x 0.333 at 1.1: 0.3663 each rounds to 0.37 (x3 = 1.11) against 1.099 -> 1.10; the remainder goes to the largest line.
    const e = await made('POST', '/journal-entries', {
      date: '2026-01-31',
      currency: 'EUR',
      post: true,
      lines: [
        { account_id: cash, debit: '0.33' },
        { account_id: cash, debit: '0.33' },
        { account_id: cash, debit: '0.34' },
        { account_id: sales, credit: '1.00' },
      ],
    });
    expect(e.exchange_rate).toBe('1.1');
    const debits = e.lines.reduce((s: number, l: any) => s + Math.round(Number(l.base_debit) * 100), 0);
    const credits = e.lines.reduce((s: number, l: any) => s + Math.round(Number(l.base_credit) * 100), 0);
    expect(debits).toBe(credits);
    expect(credits).toBe(110);
    const feb = await made('POST', '/journal-entries', { date: '2026-02-03', currency: 'EUR', post: true, lines: [{ account_id: cash, debit: 10 }, { account_id: sales, credit: 10 }] });
    expect(feb.lines[0].base_debit).toBe('12.00');
    const rates = await made('GET', '/exchange-rates?from_currency=EUR');
    expect(rates).toHaveLength(2);
    expect((await call('GET', `/exchange-rates/${rates[0].id}`, undefined, other)).status).toBe(404);
  });

  it('closes periods: everything dated inside is refused, drafts included; reopen is audited', async () => {
    const p = await made('POST', '/periods', { name: 'Jan 2026', start_date: '2026-01-01', end_date: '2026-01-31' });
    expect((await call('POST', '/periods', { name: 'overlap', start_date: '2026-01-15', end_date: '2026-02-15' })).status).toBe(409);
    expect((await call('POST', '/periods', { name: 'bad', start_date: '2026-03-15', end_date: '2026-03-01' })).status).toBe(400);
    const draft = await made('POST', '/journal-entries', { date: '2026-01-25', lines: [{ account_id: rent, debit: 5 }, { account_id: cash, credit: 5 }] });
    const posted = await made('POST', '/journal-entries', { date: '2026-01-25', post: true, lines: [{ account_id: rent, debit: 5 }, { account_id: cash, credit: 5 }] });
    const closed = await made('POST', `/periods/${p.id}/close`);
    expect(closed.status).toBe('closed');
    expect((await call('POST', `/periods/${p.id}/close`)).status).toBe(409);
    const refused = await call('POST', '/journal-entries', { date: '2026-01-10', lines: [{ account_id: rent, debit: 5 }, { account_id: cash, credit: 5 }] });
    expect(refused.status).toBe(409);
    expect(refused.body.error.details.reason).toBe('period_closed');
    expect((await call('PATCH', `/journal-entries/${draft.id}`, { description: 'x' })).status).toBe(409);
    expect((await call('POST', `/journal-entries/${draft.id}/post`)).status).toBe(409);
    expect((await call('DELETE', `/journal-entries/${draft.id}`)).status).toBe(409);
    expect((await call('POST', `/journal-entries/${posted.id}/reverse`, {})).status).toBe(409);
    // Reversing into an open period is allowed.
    expect((await call('POST', `/journal-entries/${posted.id}/reverse`, { date: '2026-02-02' })).status).toBe(200);
    expect((await call('PATCH', `/periods/${p.id}`, { name: 'x' })).status).toBe(409);
    expect((await call('DELETE', `/periods/${p.id}`)).status).toBe(409);
    const reopened = await made('POST', `/periods/${p.id}/reopen`);
    expect(reopened.status).toBe('open');
    expect((await call('POST', `/periods/${p.id}/reopen`)).status).toBe(409);
    const audit = await t.request('GET', '/v1/audit-logs?action=accounting.period.reopened', { token });
    expect(audit.status).toBe(200);
    expect(JSON.stringify(audit.body.data)).toContain(p.id);
    expect((await call('GET', `/periods/${p.id}`, undefined, other)).status).toBe(404);
    expect((await call('POST', `/periods/${p.id}/close`, undefined, other)).status).toBe(404);
  });

  it('posts in one statement whose checks, read in its own snapshot, refuse and roll back everything it wrote', async () => {
    const { token: tk, tenantId } = await t.newTenant();
    const as = (method: string, path: string, body?: unknown) => call(method, path, body, tk);
    const count = async (sql: string) => (await t.db.raw(sql, [tenantId])).rows[0].n as number;
    const written = async () => ({
      entries: await count('select count(*)::int as n from acct_journal_entries where tenant_id = $1'),
      postings: await count('select count(*)::int as n from acct_postings where tenant_id = $1'),
      rollups: await count('select coalesce(sum(debit), 0)::int as n from acct_rollups where tenant_id = $1'),
      events: await count(`select count(*)::int as n from events where tenant_id = $1 and type = 'accounting.entry.posted'`),
      audits: await count(`select count(*)::int as n from audit_logs where tenant_id = $1 and action = 'accounting.entry.posted'`),
    });
    expect((await as('POST', '/currencies', { code: 'USD', name: 'US dollar' })).status).toBe(201);
    const bank = (await as('POST', '/accounts', { code: '1000', name: 'Bank', type: 'asset' })).body.data.id;
    const fees = (await as('POST', '/accounts', { code: '6100', name: 'Fees', type: 'expense' })).body.data.id;
    const old = (await as('POST', '/accounts', { code: '6200', name: 'Old', type: 'expense' })).body.data.id;
    const entry = (debit: string, date = '2026-03-03', amount: number | string = 7) => ({ date, post: true, lines: [{ account_id: debit, debit: amount }, { account_id: bank, credit: amount }] });
    // The first post reads the books the long way; the next ones in their group's transaction (batch.ts).
    const first = await as('POST', '/journal-entries', entry(fees));
    expect(first.status).toBe(201);
    const second = await as('POST', '/journal-entries', entry(fees));
    expect(second.status).toBe(201);
    expect(second.body.data.lines[0].base_debit).toBe('7.00');
    const before = await written();
    expect(before).toEqual({ entries: 2, postings: 4, rollups: 14, events: 2, audits: 2 });
    const posted = await t.db.raw(`select resource_id from events where tenant_id = $1 and type = 'accounting.entry.posted' order by seq`, [tenantId]);
    expect(posted.rows.map((r: any) => r.resource_id)).toEqual([first.body.data.id, second.body.data.id]);

    expect((await as('POST', '/journal-entries', entry('acc_nope'))).status).toBe(404);
    expect((await as('PATCH', `/accounts/${old}`, { is_active: false })).status).toBe(200);
    const inactive = await as('POST', '/journal-entries', entry(old));
    expect(inactive.status).toBe(422);
    expect(inactive.body.error.message).toContain('inactive');
    const period = (await as('POST', '/periods', { name: 'Mar', start_date: '2026-03-01', end_date: '2026-03-31' })).body.data.id;
    expect((await as('POST', `/periods/${period}/close`)).status).toBe(200);
    const closed = await as('POST', '/journal-entries', entry(fees));
    expect(closed.status).toBe(409);
    expect(closed.body.error.details).toMatchObject({ reason: 'period_closed', period_id: period });
    expect(await written()).toEqual(before);

    // Another process changed what this one remembers (the base currency's decimals, while unused by
    // any posting it knows of): the statement reads the change, rolls back, and the request runs again.
    await t.db.raw(`update acct_currencies set decimal_places = 3 where tenant_id = $1 and is_base`, [tenantId]);
    const again = await as('POST', '/journal-entries', entry(fees, '2026-04-01', 1));
    expect(again.status).toBe(201);
    expect(again.body.data.total).toBe('1.000');
    expect(await written()).toMatchObject({ entries: 3, events: 3, audits: 3 });
  });

  it('posts concurrent entries in shared transactions, refusing each bad one alone with its own answer', async () => {
    const { token: tk, tenantId } = await t.newTenant();
    const as = (method: string, path: string, body?: unknown) => call(method, path, body, tk);
    const one = async (sql: string) => (await t.db.raw(sql, [tenantId])).rows[0].n as number;
    expect((await as('POST', '/currencies', { code: 'USD', name: 'US dollar' })).status).toBe(201);
    const bank = (await as('POST', '/accounts', { code: '1000', name: 'Bank', type: 'asset' })).body.data.id;
    const fees = (await as('POST', '/accounts', { code: '6100', name: 'Fees', type: 'expense' })).body.data.id;
    const old = (await as('POST', '/accounts', { code: '6200', name: 'Old', type: 'expense' })).body.data.id;
    expect((await as('PATCH', `/accounts/${old}`, { is_active: false })).status).toBe(200);
    const period = (await as('POST', '/periods', { name: 'Mar', start_date: '2026-03-01', end_date: '2026-03-31' })).body.data.id;
    expect((await as('POST', `/periods/${period}/close`)).status).toBe(200);
    const entry = (debit: string, date: string, amount: number, credit = amount) => ({ date, post: true, lines: [{ account_id: debit, debit: amount }, { account_id: bank, credit }] });
    // The first post reads the books the long way (and remembers the base currency).
    expect((await as('POST', '/journal-entries', entry(fees, '2026-01-01', 1))).status).toBe(201);

    const good = Array.from({ length: 24 }, (_, i) => entry(fees, `2026-0${(i % 2) + 1}-1${i % 9}`, i + 1));
    const bad = [
      { body: entry(fees, '2026-03-15', 5), status: 409 },
      { body: entry(old, '2026-01-15', 5), status: 422 },
      { body: entry('acc_nope', '2026-01-15', 5), status: 404 },
      { body: entry(fees, '2026-01-15', 5, 4), status: 422 },
    ];
    const bodies = [...good.slice(0, 12), ...bad.map((b) => b.body), ...good.slice(12)];
    const answers = await Promise.all(bodies.map((b) => as('POST', '/journal-entries', b)));
    expect(answers.slice(0, 12).map((r) => r.status)).toEqual(Array(12).fill(201));
    expect(answers.slice(16).map((r) => r.status)).toEqual(Array(12).fill(201));
    expect(answers.slice(12, 16).map((r) => r.status)).toEqual(bad.map((b) => b.status));
    expect(answers[12]!.body.error.details).toMatchObject({ reason: 'period_closed', period_id: period });
    expect(answers[13]!.body.error.message).toContain('inactive');
    expect(answers[15]!.body.error.details.difference).toBe('1.00');

    // Exactly the accepted entries were written, each with its postings, event and audit entry, and the
    // answer of each is its own entry.
    const ids = answers.filter((r) => r.status === 201).map((r) => r.body.data.id);
    expect(new Set(ids).size).toBe(24);
    expect(answers.filter((r) => r.status === 201).map((r) => r.body.data.total)).toEqual(good.map((g) => `${g.lines[0]!.debit}.00`));
    expect(await one(`select count(*)::int as n from acct_journal_entries where tenant_id = $1`)).toBe(25);
    expect(await one(`select count(*)::int as n from acct_postings where tenant_id = $1`)).toBe(50);
    expect(await one(`select count(*)::int as n from events where tenant_id = $1 and type = 'accounting.entry.posted'`)).toBe(25);
    expect(await one(`select count(*)::int as n from audit_logs where tenant_id = $1 and action = 'accounting.entry.posted'`)).toBe(25);
    const events = await t.db.raw(`select resource_id, data from events where tenant_id = $1 and type = 'accounting.entry.posted'`, [tenantId]);
    expect(new Set(events.rows.map((r: any) => r.resource_id))).toEqual(new Set([...ids, events.rows.find((r: any) => !ids.includes(r.resource_id))!.resource_id]));
    const feesTotal = 1 + (24 * 25) / 2;
    expect(await one(`select (sum(debit) - sum(credit))::int as n from acct_rollups where tenant_id = $1 and account_id = '${fees}'`)).toBe(feesTotal);
    expect(await one(`select (sum(base_debit) - sum(base_credit))::int as n from acct_postings where tenant_id = $1 and account_id = '${fees}'`)).toBe(feesTotal);
    const tb = (await as('GET', '/reports/trial-balance?as_of=2026-12-31')).body.data;
    expect(tb.difference).toBe('0.00');
  });

  it.runIf(process.env.DATABASE_URL)('answers 503 for posts whose connection is cut, and keeps every post it acknowledged whole', async () => {
    const { token: tk, tenantId } = await t.newTenant();
    const as = (method: string, path: string, body?: unknown) => call(method, path, body, tk);
    const one = async (sql: string) => Number((await t.db.raw(sql, [tenantId])).rows[0].n);
    expect((await as('POST', '/currencies', { code: 'USD', name: 'US dollar' })).status).toBe(201);
    const bank = (await as('POST', '/accounts', { code: '1000', name: 'Bank', type: 'asset' })).body.data.id;
    const fees = (await as('POST', '/accounts', { code: '6100', name: 'Fees', type: 'expense' })).body.data.id;
    const entry = (i: number) => ({ date: `2026-01-${String((i % 28) + 1).padStart(2, '0')}`, post: true, lines: [{ account_id: fees, debit: i + 1 }, { account_id: bank, credit: i + 1 }] });
    // The first post reads the books the long way (and remembers the base currency).
    expect((await as('POST', '/journal-entries', entry(0))).status).toBe(201);

    // The sessions writing the groups are cut while the groups are in flight (their BEGIN, statement and
    // COMMIT went out together): they die mid-transaction, or between a statement and its COMMIT.
    const cut = () =>
      t.db.raw(`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()
        and (query like 'with checked as%' or query like 'begin read write%' or query in ('commit', 'rollback'))`);
    const posts = Array.from({ length: 60 }, (_, i) => as('POST', '/journal-entries', entry(i + 1)));
    await new Promise((r) => setImmediate(r));
    await cut();
    await new Promise((r) => setTimeout(r, 5));
    await cut();
    const answers = await Promise.all(posts);
    expect(answers.every((r) => r.status === 201 || (r.status === 503 && r.headers.get('retry-after'))), JSON.stringify(answers.map((r) => r.status))).toBe(true);

    // Every acknowledged post is in the books; any post is there whole (entry, postings, event, audit) or
    // not at all (a 503 may still have committed: its answer, not its write, was lost).
    const ids = answers.filter((r) => r.status === 201).map((r) => r.body.data.id as string);
    const entries = await one(`select count(*) as n from acct_journal_entries where tenant_id = $1`);
    expect(entries).toBeGreaterThanOrEqual(ids.length + 1);
    expect(await one(`select count(*) as n from acct_journal_entries where tenant_id = $1 and id = any('{${ids.join(',')}}'::text[])`)).toBe(ids.length);
    expect(await one(`select count(*) as n from acct_postings where tenant_id = $1`)).toBe(2 * entries);
    expect(await one(`select count(*) as n from events where tenant_id = $1 and type = 'accounting.entry.posted'`)).toBe(entries);
    expect(await one(`select count(*) as n from audit_logs where tenant_id = $1 and action = 'accounting.entry.posted'`)).toBe(entries);
    const posted = await one(`select coalesce(sum(base_debit - base_credit), 0) as n from acct_postings where tenant_id = $1 and account_id = '${fees}'`);
    expect(await one(`select coalesce(sum(debit - credit), 0) as n from acct_rollups where tenant_id = $1 and account_id = '${fees}'`)).toBe(posted);
    expect(await one(`select coalesce(sum(base_debit) - sum(base_credit), 0) as n from acct_postings where tenant_id = $1`)).toBe(0);
    // Once the sessions are back, posting works again.
    expect((await as('POST', '/journal-entries', entry(61))).status).toBe(201);
  });

  it('reports agree: trial balance zero, balance sheet balances, P&L = change in earnings', async () => {
    const tb = await made('GET', '/reports/trial-balance?as_of=2026-12-31');
    expect(tb.balanced).toBe(true);
    expect(tb.difference).toBe('0.00');
    const bs = await made('GET', '/reports/balance-sheet?as_of=2026-12-31');
    expect(bs.balanced).toBe(true);
    const pl = await made('GET', '/reports/profit-and-loss?from=2026-01-01&to=2026-12-31');
    expect(pl.net_income).toBe(bs.current_year_earnings);
    const cf = await made('GET', '/reports/cash-flow?from=2026-01-01&to=2026-12-31');
    expect(cf.reconciles).toBe(true);
    const gl = await made('GET', `/reports/general-ledger?from=2026-01-01&to=2026-12-31&account_id=${cash}`);
    expect(gl.accounts[0].closing_balance).toBe((await made('GET', `/accounts/${cash}`)).balance);
    const inEur = await made('GET', '/reports/trial-balance?as_of=2026-12-31&currency=EUR');
    expect(inEur.currency).toBe('EUR');
    expect((await call('GET', '/reports/trial-balance?period_id=per_nope')).status).toBe(404);
    expect((await call('GET', '/reports/profit-and-loss?from=2026-02-01&to=2026-01-01')).status).toBe(400);
    const empty = await call('GET', '/reports/trial-balance', undefined, other);
    expect(empty.status).toBe(422);
  });

  it('needs the read scope to read and write to change', async () => {
    const reader = await t.newKey(token, { label: 'reader', scopes: ['read'] });
    expect((await t.request('GET', `${A}/accounts`, { token: reader.token })).status).toBe(200);
    expect((await t.request('POST', `${A}/accounts`, { token: reader.token, body: { code: 'x', name: 'x', type: 'asset' } })).status).toBe(403);
  });
});
