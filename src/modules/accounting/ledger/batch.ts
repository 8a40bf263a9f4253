import { randomInt } from 'node:crypto';
import type { RequestMeta } from '../../../core/context.ts';
import { rows } from '../../../core/db/client.ts';
import { isDatabaseUnavailable } from '../../../core/db/errors.ts';
import { TenantGroups } from '../../../core/db/groups.ts';
import { namedStatement } from '../../../core/db/prepared.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { CONTROL_ROLES, StaleBooks, type CurrencyInfo } from '../common.ts';
import { D, type Decimal } from '../money.ts';
import type { EntryRow } from '../tables.ts';
import { SHARDS, type PostedLine } from './posting.ts';

/** A posted base-currency entry whose amounts are checked and converted, waiting for its group. */
export interface PendingEntry {
  meta: RequestMeta;
  row: EntryRow;
  lines: PostedLine[];
  /** The base currency the amounts were checked against (a remembered guess, see postWithKnownBase). */
  base: CurrencyInfo;
}

export type AccountCheck = { id: string; isActive: boolean; role: string | null };
export type PeriodCheck = { id: string; name: string; status: string };

/** What the group's transaction read of the books, once for all its entries. */
export interface GroupBooks {
  base: CurrencyInfo | null;
  accounts: Map<string, AccountCheck>;
  /** The period covering each date of the group (share-locked until commit), null where none does. */
  periods: Map<string, PeriodCheck | null>;
}

/**
 * Judges one entry against the books its group read: throws its error (a closed period, an unknown,
 * inactive or control account: the entry alone is refused) or StaleBooks (the remembered base
 * currency was wrong: the whole group goes the long way).
 */
export type Judge = (entry: PendingEntry, books: GroupBooks) => void;

interface Waiting {
  entry: PendingEntry;
  resolve: (row: EntryRow) => void;
  reject: (error: unknown) => void;
}

/** Entries in one transaction at most (the statements take their rows as one JSON document each). */
const MAX_GROUP = 200;
/** Group transactions in flight at once; posts that arrive meanwhile wait for the next one. */
const MAX_IN_FLIGHT = 4;

/**
 * A group in one statement whose text never changes (parsed and planned once per connection; the rows
 * come as JSON documents). It first reads what a single post checks, in its snapshot: the base
 * currency (as each entry remembered it), the accounts of the lines (found, active, not a control
 * account) and the period covering each date, share-locked (FOR KEY SHARE, as coveringPeriod) so that
 * a close of one of them waits for the group to commit, or the group reads it closed. Only when all of
 * it holds does it write the entries, their postings, the rollups, and each entry's outbox event and
 * audit row (the rows `ctx.emitting` gives a single post): the statement itself decides, so the COMMIT
 * can go out behind it without waiting for its answer (commitAhead). Otherwise it writes nothing and
 * answers the books for each entry to be judged on its own. Rollup rows are summed per (day, account)
 * in the group and written in key order with one random shard, as a single post does, so groups and
 * single posts on the same accounts neither deadlock nor serialise.
 */
const writeGroup = namedStatement(
  'acct_group_post_v2',
  `with checked as (
     select
       coalesce((select code || ':' || decimal_places from acct_currencies where tenant_id = $1 and is_base) = all($10::text[]), false)
       and (select count(*) from acct_accounts
              where tenant_id = $1 and id = any($8::text[]) and is_active and (system_role is null or system_role <> all($11::text[])))
           = cardinality($8::text[])
       and not exists (
         select 1 from unnest($9::date[]) as d(day)
         cross join lateral (
           select status from acct_periods
           where tenant_id = $1 and start_date <= d.day and end_date >= d.day limit 1 for key share
         ) p
         where p.status = 'closed') as ok
   ), plinth_event as (
     insert into events (id, tenant_id, type, resource_type, resource_id, data, actor_type, actor_id, request_id)
     select id, $1, type, resource_type, resource_id, data, actor_type, actor_id, request_id
     from json_to_recordset($2::json) as x(id text, type text, resource_type text, resource_id text, data jsonb, actor_type text, actor_id text, request_id text)
     where (select ok from checked)
   ), plinth_audit as (
     insert into audit_logs (id, tenant_id, actor_type, actor_id, action, resource_type, resource_id, request_id, ip, user_agent, metadata)
     select id, $1, actor_type, actor_id, action, resource_type, resource_id, request_id, ip, user_agent, '{}'::jsonb
     from json_to_recordset($3::json) as x(id text, actor_type text, actor_id text, action text, resource_type text, resource_id text, request_id text, ip text, user_agent text)
     where (select ok from checked)
   ), entry as (
     insert into acct_journal_entries (tenant_id, id, date, description, reference, currency, exchange_rate, status, lines, total, source_type, source_id, reversal_of, posted_at, created_at, updated_at)
     select $1, id, date, description, reference, currency, exchange_rate, 'posted', lines, total, source_type, null, null, at, at, at
     from json_to_recordset($4::json) as x(id text, date date, description text, reference text, currency text, exchange_rate numeric, lines jsonb, total numeric, source_type text, at timestamptz)
     where (select ok from checked)
   ), lines as (
     insert into acct_postings (tenant_id, id, entry_id, line_no, account_id, date, currency, debit, credit, base_debit, base_credit, description, tax_code_id, is_tax, tax_side)
     select $1, id, entry_id, line_no, account_id, date, currency, debit, credit, base_debit, base_credit, description, null, false, null
     from json_to_recordset($5::json) as x(id text, entry_id text, line_no int, account_id text, date date, currency text, debit numeric, credit numeric, base_debit numeric, base_credit numeric, description text)
     where (select ok from checked)
   ), rollups as (
     insert into acct_rollups (tenant_id, account_id, day, shard, debit, credit)
     select $1, account_id, day, $7::smallint, debit, credit
     from json_to_recordset($6::json) as x(n int, account_id text, day date, debit numeric, credit numeric)
     where (select ok from checked)
     order by n
     on conflict (tenant_id, day, account_id, shard) do update
       set debit = acct_rollups.debit + excluded.debit, credit = acct_rollups.credit + excluded.credit
   )
   select
     ok,
     case when not ok then (select json_build_object('code', code, 'places', decimal_places) from acct_currencies where tenant_id = $1 and is_base) end as base,
     case when not ok then (select coalesce(json_agg(json_build_object('id', id, 'isActive', is_active, 'role', system_role)), '[]'::json)
        from acct_accounts where tenant_id = $1 and id = any($8::text[])) end as accounts,
     case when not ok then (select coalesce(json_agg(json_build_object('date', d.day, 'period', p.period)), '[]'::json)
        from unnest($9::date[]) as d(day)
        left join lateral (
          select json_build_object('id', id, 'name', name, 'status', status) as period from acct_periods
          where tenant_id = $1 and start_date <= d.day and end_date >= d.day limit 1 for key share
        ) p on true) end as periods
   from checked`,
);

const posters = new WeakMap<Kernel, EntryPoster>();
/** What a group emits: the outbox wakes the readers of these types once it has committed. */
const POSTED = ['accounting.entry.posted'];
/** Accounts a manual entry may not post to (checkLines refuses them too). */
const CONTROL_ACCOUNT_ROLES = [...CONTROL_ROLES];

/**
 * Posted journal entries go into the books in groups, the way tracked events go into the outbox
 * (events/append.ts): the posts that arrive while earlier groups are in flight share one transaction per
 * tenant, of one statement (write everything, read the books in the same snapshot), and each request
 * is answered only once the transaction holding its entry has committed. A transaction per entry cost a BEGIN, a COMMIT,
 * a WAL flush and a statement of its own, which capped posting at a few hundred entries a second.
 * Every entry is judged alone against what its group read: a closed period or a bad account refuses
 * that entry, not the group (which is written again without it); should the write itself fail, each
 * entry goes again on its own.
 */
export class EntryPoster {
  private readonly groups = new TenantGroups<Waiting>({
    maxGroup: MAX_GROUP,
    maxInFlight: MAX_IN_FLIGHT,
    tenantOf: (w) => w.entry.meta.tenantId,
    write: (tenantId, group) => this.write(tenantId, group),
  });

  private constructor(
    private readonly kernel: Kernel,
    private readonly judge: Judge,
  ) {}

  static of(kernel: Kernel, judge: Judge): EntryPoster {
    let poster = posters.get(kernel);
    if (!poster) posters.set(kernel, (poster = new EntryPoster(kernel, judge)));
    return poster;
  }

  /** Resolves with the entry once it has committed; rejects with its own error or StaleBooks. */
  post(entry: PendingEntry): Promise<EntryRow> {
    return new Promise<EntryRow>((resolve, reject) => this.groups.add({ entry, resolve, reject }));
  }

  /**
   * Writes the group in one statement with the COMMIT pipelined behind it: the statement writes only
   * when every entry passes the checks. When one does not (rare: a closed period, a bad account, a
   * changed base currency), nothing was written: each entry is judged against the books the statement
   * read, the refused ones are answered, and the others are written again without them.
   */
  private async write(tenantId: string, group: Waiting[]): Promise<void> {
    let pending = group;
    for (;;) {
      let outcome: Outcome;
      try {
        const entries = pending.map((w) => w.entry);
        outcome = readOutcome(await this.kernel.db.tenant(tenantId, (db) => writeGroup(db, groupValues(tenantId, entries)), { commitAhead: true }));
      } catch (error) {
        if (pending.length === 1 || isDatabaseUnavailable(error)) {
          for (const w of pending) w.reject(error);
          return;
        }
        // One entry the database refuses must not fail the others: each goes again on its own.
        await Promise.all(pending.map((w) => this.write(tenantId, [w])));
        return;
      }
      if (outcome.written) {
        this.kernel.outbox.notify(POSTED);
        for (const w of pending) w.resolve(w.entry.row);
        return;
      }
      const refused = new Map<Waiting, unknown>();
      for (const w of pending) {
        try {
          this.judge(w.entry, outcome.books);
        } catch (error) {
          refused.set(w, error);
        }
      }
      // The statement's checks and the judge's disagree (they should not): the long way answers each.
      if (refused.size === 0) for (const w of pending) refused.set(w, new StaleBooks());
      for (const [w, why] of refused) w.reject(why);
      pending = pending.filter((w) => !refused.has(w));
      if (pending.length === 0) return;
    }
  }
}

interface Outcome {
  written: boolean;
  books: GroupBooks;
}

function readOutcome(result: unknown): Outcome {
  const [row] = rows<{ ok: boolean; base: CurrencyInfo | null; accounts: AccountCheck[] | null; periods: { date: string; period: PeriodCheck | null }[] | null }>(result);
  return {
    written: row?.ok === true,
    books: {
      base: row?.base ?? null,
      accounts: new Map((row?.accounts ?? []).map((a) => [a.id, a])),
      periods: new Map((row?.periods ?? []).map((p) => [p.date, p.period])),
    },
  };
}

/** The group statement's parameters. */
function groupValues(tenantId: string, entries: PendingEntry[]): unknown[] {
  const events: unknown[] = [];
  const audits: unknown[] = [];
  const rowsOut: unknown[] = [];
  const postings: unknown[] = [];
  const sums = new Map<string, { account_id: string; day: string; debit: Decimal; credit: Decimal }>();
  for (const { meta, row, lines } of entries) {
    const data = { id: row.id, date: row.date, total: row.total, currency: row.currency };
    events.push({ id: newId('evt'), type: 'accounting.entry.posted', resource_type: 'accounting_entry', resource_id: row.id, data, actor_type: meta.actor.type, actor_id: meta.actor.id, request_id: meta.requestId });
    audits.push({
      id: newId('aud'),
      actor_type: meta.actor.type,
      actor_id: meta.actor.id,
      action: 'accounting.entry.posted',
      resource_type: 'accounting_entry',
      resource_id: row.id,
      request_id: meta.requestId,
      ip: meta.ip ?? null,
      user_agent: meta.userAgent ?? null,
    });
    rowsOut.push({
      id: row.id,
      date: row.date,
      description: row.description,
      reference: row.reference,
      currency: row.currency,
      exchange_rate: row.exchangeRate,
      lines: row.lines,
      total: row.total,
      source_type: row.sourceType,
      at: row.postedAt!.toISOString(),
    });
    lines.forEach((l, i) => {
      postings.push({
        id: newId('jl'),
        entry_id: row.id,
        line_no: i + 1,
        account_id: l.account_id,
        date: row.date,
        currency: row.currency,
        debit: l.debit,
        credit: l.credit,
        base_debit: l.base_debit,
        base_credit: l.base_credit,
        description: l.description,
      });
      const key = `${row.date}\u0000${l.account_id}`;
      const sum = sums.get(key);
      if (sum) {
        sum.debit = sum.debit.plus(l.base_debit);
        sum.credit = sum.credit.plus(l.base_credit);
      } else sums.set(key, { account_id: l.account_id, day: row.date, debit: D(l.base_debit), credit: D(l.base_credit) });
    });
  }
  // Key order of the rollups' primary key (tenant, day, account, shard): every writer locks in one order.
  const rollups = [...sums.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, v], n) => ({ n, account_id: v.account_id, day: v.day, debit: v.debit.toString(), credit: v.credit.toString() }));
  const accounts = [...new Set(rollups.map((r) => r.account_id))];
  // Dates in order: every group share-locks the periods in one order.
  const dates = [...new Set(rollups.map((r) => r.day))];
  // The base currency each entry was checked against; the statement writes only if the books' is every one of them.
  const bases = [...new Set(entries.map((e) => `${e.base.code}:${e.base.places}`))];
  return [
    tenantId,
    JSON.stringify(events),
    JSON.stringify(audits),
    JSON.stringify(rowsOut),
    JSON.stringify(postings),
    JSON.stringify(rollups),
    randomInt(SHARDS),
    accounts,
    dates,
    bases,
    CONTROL_ACCOUNT_ROLES,
  ];
}
