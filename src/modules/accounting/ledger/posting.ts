import { randomInt } from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { rows } from '../../../core/db/client.ts';
import { executeNamed } from '../../../core/db/prepared.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { D, round, sum, ZERO, type Decimal } from '../money.ts';
import { acctPostings, type DraftLine, type EntryRow } from '../tables.ts';

export interface PostedLine extends DraftLine {
  base_debit: string;
  base_credit: string;
}

/** Rollup shards per (account, day): writers on one hot account spread over this many rows. */
export const SHARDS = 16;

/** Posting statements with up to this many lines run as named statements (see executeNamed). */
const NAMED_MAX_LINES = 6;

/**
 * Base amounts of the lines at `rate`, each rounded half away from zero to the base currency's decimals.
 * Conversion rounding can leave debits and credits a cent apart in base; that remainder is given to the
 * largest line of the short side, so the entry balances in base too and no cent is created or lost.
 */
export function toBase(lines: DraftLine[], rate: Decimal, basePlaces: number): PostedLine[] {
  const out = lines.map((l) => ({
    ...l,
    base_debit: round(D(l.debit).times(rate), basePlaces),
    base_credit: round(D(l.credit).times(rate), basePlaces),
  }));
  const diff = sum(out.map((l) => l.base_debit)).minus(sum(out.map((l) => l.base_credit)));
  if (!diff.isZero()) {
    const side = diff.gt(0) ? 'base_credit' : 'base_debit';
    let target = out[0]!;
    for (const l of out) if (l[side].gt(target[side])) target = l;
    target[side] = target[side].plus(diff.abs());
  }
  return out.map((l) => ({ ...l, base_debit: l.base_debit.toFixed(basePlaces), base_credit: l.base_credit.toFixed(basePlaces) }));
}

/** Debits equal credits in the entry's currency, or a 422 naming the difference. */
export function assertBalanced(lines: DraftLine[], places: number): Decimal {
  const debits = sum(lines.map((l) => D(l.debit)));
  const credits = sum(lines.map((l) => D(l.credit)));
  if (!debits.eq(credits)) {
    const difference = debits.minus(credits);
    throw new ApiError('UNPROCESSABLE', `The entry does not balance: debits ${debits.toFixed(places)} and credits ${credits.toFixed(places)} differ by ${difference.toFixed(places)}`, {
      details: { reason: 'unbalanced', debits: debits.toFixed(places), credits: credits.toFixed(places), difference: difference.toFixed(places) },
    });
  }
  return debits;
}

/**
 * Appends the posted lines and adds them to the rollups, in the caller's transaction. No account row is
 * locked and no single balance row is updated: the rollup rows are keyed by (account, day, shard) with one
 * random shard per transaction, and are written in key order by one statement, so concurrent writers on
 * the same accounts neither serialise on one row nor deadlock.
 */
export async function appendPostings(ctx: TenantContext, entryId: string, date: string, currency: string, lines: PostedLine[]): Promise<void> {
  await ctx.db.insert(acctPostings).values(
    lines.map((l, i) => ({
      tenantId: ctx.tenantId,
      id: newId('jl'),
      entryId,
      lineNo: i + 1,
      accountId: l.account_id,
      date,
      currency,
      debit: l.debit,
      credit: l.credit,
      baseDebit: l.base_debit,
      baseCredit: l.base_credit,
      description: l.description,
      taxCodeId: l.tax_code_id ?? null,
      isTax: l.is_tax ?? false,
      taxSide: l.tax_side ?? null,
    })),
  );
  const byAccount = new Map<string, { debit: Decimal; credit: Decimal }>();
  for (const l of lines) {
    const acc = byAccount.get(l.account_id) ?? { debit: ZERO, credit: ZERO };
    byAccount.set(l.account_id, { debit: acc.debit.plus(l.base_debit), credit: acc.credit.plus(l.base_credit) });
  }
  const shard = randomInt(SHARDS);
  const values = [...byAccount.keys()]
    .sort()
    .map((account) => {
      const v = byAccount.get(account)!;
      return sql`(${ctx.tenantId}, ${account}, ${date}::date, ${shard}::smallint, ${v.debit.toString()}::numeric, ${v.credit.toString()}::numeric)`;
    });
  await ctx.db.execute(sql`
    insert into acct_rollups (tenant_id, account_id, day, shard, debit, credit) values ${sql.join(values, sql`, `)}
    on conflict (tenant_id, day, account_id, shard) do update
      set debit = acct_rollups.debit + excluded.debit, credit = acct_rollups.credit + excluded.credit`);
}

function rollupValues(ctx: TenantContext, date: string, lines: PostedLine[]) {
  const byAccount = new Map<string, { debit: Decimal; credit: Decimal }>();
  for (const l of lines) {
    const acc = byAccount.get(l.account_id) ?? { debit: ZERO, credit: ZERO };
    byAccount.set(l.account_id, { debit: acc.debit.plus(l.base_debit), credit: acc.credit.plus(l.base_credit) });
  }
  const shard = randomInt(SHARDS);
  return [...byAccount.keys()].sort().map((account) => {
    const v = byAccount.get(account)!;
    return sql`(${ctx.tenantId}, ${account}, ${date}::date, ${shard}::smallint, ${v.debit.toString()}::numeric, ${v.credit.toString()}::numeric)`;
  });
}

/**
 * A posted entry in one round trip: the entry row, its postings, the rollup upserts, and the outbox and
 * audit rows of its event (`ctx.emitting`) as data-modifying CTEs of one statement (same rules as
 * appendPostings: append-only lines, sharded rollups in key order). `check` is the statement's final
 * SELECT, read in the same snapshot as the writes (see createEntry); its rows are returned.
 */
export async function insertPostedEntry<T = unknown>(ctx: TenantContext, e: EntryRow, lines: PostedLine[], event: SQL, check?: SQL): Promise<T[]> {
  const postings = lines.map(
    (l, i) =>
      sql`(${ctx.tenantId}, ${newId('jl')}, ${e.id}, ${i + 1}::int, ${l.account_id}, ${e.date}::date, ${e.currency}, ${l.debit}::numeric, ${l.credit}::numeric, ${l.base_debit}::numeric, ${l.base_credit}::numeric, ${l.description}, ${l.tax_code_id ?? null}, ${l.is_tax ?? false}::boolean, ${l.tax_side ?? null})`,
  );
  // Named (parsed and planned once per connection) for the common shapes: a few lines.
  const run = (q: SQL) => (lines.length <= NAMED_MAX_LINES ? executeNamed(ctx.db, q) : ctx.db.execute(q));
  const result = await run(sql`
    with ${event}, entry as (
      insert into acct_journal_entries (tenant_id, id, date, description, reference, currency, exchange_rate, status, lines, total, source_type, source_id, reversal_of, posted_at, created_at, updated_at)
      values (${ctx.tenantId}, ${e.id}, ${e.date}::date, ${e.description}, ${e.reference}, ${e.currency}, ${e.exchangeRate}::numeric, 'posted', ${JSON.stringify(e.lines)}::jsonb, ${e.total}::numeric,
        ${e.sourceType}, ${e.sourceId}, ${e.reversalOf}, ${e.postedAt!.toISOString()}::timestamptz, ${e.createdAt.toISOString()}::timestamptz, ${e.updatedAt.toISOString()}::timestamptz)
    ), lines as (
      insert into acct_postings (tenant_id, id, entry_id, line_no, account_id, date, currency, debit, credit, base_debit, base_credit, description, tax_code_id, is_tax, tax_side)
      values ${sql.join(postings, sql`, `)}
    ), rollups as (
      insert into acct_rollups (tenant_id, account_id, day, shard, debit, credit) values ${sql.join(rollupValues(ctx, e.date, lines), sql`, `)}
      on conflict (tenant_id, day, account_id, shard) do update
        set debit = acct_rollups.debit + excluded.debit, credit = acct_rollups.credit + excluded.credit
    )
    ${check ?? sql`select 1`}`);
  return rows<T>(result);
}

/** The mirror of posted lines: debits become credits, for reversals and voids. */
export function mirror(lines: PostedLine[]): PostedLine[] {
  return lines.map((l) => ({ ...l, debit: l.credit, credit: l.debit, base_debit: l.base_credit, base_credit: l.base_debit }));
}

/** Base balance (debit - credit) of accounts from the rollups, up to and including `asOf`. */
export async function balancesFromRollups(ctx: TenantContext, range: { from?: string; to?: string }, accountId?: string) {
  const result = await ctx.db.execute(sql`
    select account_id, sum(debit)::text as debit, sum(credit)::text as credit from acct_rollups
    where tenant_id = ${ctx.tenantId}
      ${range.from ? sql`and day >= ${range.from}` : sql``}
      ${range.to ? sql`and day <= ${range.to}` : sql``}
      ${accountId ? sql`and account_id = ${accountId}` : sql``}
    group by account_id`);
  const map = new Map<string, { debit: Decimal; credit: Decimal }>();
  for (const r of rows<{ account_id: string; debit: string; credit: string }>(result)) map.set(r.account_id, { debit: D(r.debit), credit: D(r.credit) });
  return map;
}
