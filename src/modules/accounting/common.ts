import { z } from '@hono/zod-openapi';
import { and, eq, sql } from 'drizzle-orm';
import type { TenantContext } from '../../core/context.ts';
import { rows } from '../../core/db/client.ts';
import { ApiError, referenceNotFound } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import { D, Decimal, type Decimal as Dec } from './money.ts';
import { acctAccounts, acctCurrencies, type AccountRow } from './tables.ts';

// ------------------------------------------------------------------ input shapes

const DATE = /^\d{4}-\d{2}-\d{2}$/;
export const DateString = z
  .string()
  .regex(DATE, 'a date YYYY-MM-DD')
  .refine((s) => {
    const d = new Date(`${s}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(s);
  }, 'not a calendar date')
  .openapi({ format: 'date', example: '2026-01-31' });

const AMOUNT = /^-?\d{1,15}(\.\d{1,12})?$/;
const AMOUNT_LIMIT = new Decimal('1e15');
/** An amount as a JSON number or a decimal string ("12.50"); at most 15 integer digits. */
export const AmountInput = z
  .union([z.number().finite(), z.string().regex(AMOUNT, 'a decimal like 12.50')])
  .refine((v) => {
    // What AMOUNT matches is below 10^15 with at most 12 decimals; a number is read as its shortest
    // decimal string (as Decimal reads it), so only exponents and long fractions need a Decimal.
    if (AMOUNT.test(typeof v === 'number' ? String(v) : v)) return true;
    try {
      const d = new Decimal(v);
      return d.isFinite() && d.abs().lt(AMOUNT_LIMIT) && d.decimalPlaces() <= 12;
    } catch {
      return false;
    }
  }, 'an amount below 10^15 with at most 12 decimals')
  .openapi({ type: 'number', example: 100 });
/** A Decimal of an input, or null when it is none (zod runs later refinements even after an earlier check failed). */
export function safeDecimal(v: unknown): Dec | null {
  try {
    const d = new Decimal(v as string);
    return d.isFinite() ? d : null;
  } catch {
    return null;
  }
}
export const PositiveAmount = AmountInput.refine((v) => safeDecimal(v)?.gt(0) ?? false, 'must be greater than 0');
export const NonNegativeAmount = AmountInput.refine((v) => safeDecimal(v)?.gte(0) ?? false, 'must not be negative');

export const CurrencyCode = z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code like EUR').openapi({ example: 'EUR' });
export const Text = (max: number) => z.string().min(1).max(max);
export const OptText = (max: number) => z.string().max(max).nullable().optional();
export const RefId = z.string().min(1).max(64);

/** Decimal strings in responses: exact, fixed to the currency's decimals. */
export const Money = z.string().openapi({ example: '100.00', description: 'Exact decimal amount' });

// ------------------------------------------------------------------ shared lookups

export function today(ctx: TenantContext): string {
  return new Date(ctx.kernel.clock.now()).toISOString().slice(0, 10);
}

export interface CurrencyInfo {
  code: string;
  places: number;
}

/** The base currency: the tenant's first currency. Books cannot be written before one exists. */
export async function baseCurrency(ctx: TenantContext): Promise<CurrencyInfo> {
  const [row] = await ctx.db
    .select({ code: acctCurrencies.code, places: acctCurrencies.decimalPlaces })
    .from(acctCurrencies)
    .where(and(eq(acctCurrencies.tenantId, ctx.tenantId), eq(acctCurrencies.isBase, true)));
  if (!row) throw new ApiError('UNPROCESSABLE', 'No currency yet: create one first (POST /v1/accounting/currencies); the first is the base currency');
  return row;
}

export async function currencyInfo(ctx: TenantContext, code: string, field = 'currency'): Promise<CurrencyInfo> {
  const [row] = await ctx.db
    .select({ code: acctCurrencies.code, places: acctCurrencies.decimalPlaces })
    .from(acctCurrencies)
    .where(and(eq(acctCurrencies.tenantId, ctx.tenantId), eq(acctCurrencies.code, code)));
  if (!row) throw referenceNotFound(field, `currency ${code} is not set up`);
  return row;
}

/**
 * Rule chosen: the rate of an entry is the latest rate on or before its date (the pair as entered, or
 * the inverse of the reverse pair when only that exists). 1 for the base currency itself.
 */
export async function rateOn(ctx: TenantContext, from: string, to: string, date: string): Promise<Dec> {
  if (from === to) return D(1);
  const result = await ctx.db.execute(sql`
    select rate::text as rate, from_currency from acct_exchange_rates
    where tenant_id = ${ctx.tenantId} and effective_date <= ${date}
      and ((from_currency = ${from} and to_currency = ${to}) or (from_currency = ${to} and to_currency = ${from}))
    order by effective_date desc, (from_currency = ${from}) desc limit 1`);
  const [row] = rows<{ rate: string; from_currency: string }>(result);
  if (!row) throw new ApiError('UNPROCESSABLE', `No exchange rate ${from}->${to} on or before ${date}`, { details: { from, to, date } });
  return row.from_currency === from ? D(row.rate) : D(1).div(D(row.rate));
}

/**
 * The period covering `date`, share-locked (FOR KEY SHARE) until the transaction ends. Closing a period
 * locks its row FOR UPDATE, so a write dated inside it and the close are ordered: the write waits for a
 * close in progress and then reads the period as closed (PostgreSQL re-reads a row it waited for), or
 * the close waits for the write to commit. Without the lock a write could read "open", the close commit,
 * and the write commit after it, inside the closed period. Lockers of one period do not block each other.
 */
export function coveringPeriod(ctx: TenantContext, date: string) {
  return sql`(select json_build_object('id', id, 'name', name, 'status', status) from acct_periods
    where tenant_id = ${ctx.tenantId} and start_date <= ${date} and end_date >= ${date} limit 1 for key share)`;
}

/** Refuses a change dated inside a closed period (drafts included). */
export async function assertOpen(ctx: TenantContext, ...dates: string[]): Promise<void> {
  for (const date of new Set(dates)) {
    const result = await ctx.db.execute(sql`select ${coveringPeriod(ctx, date)} as period`);
    const period = rows<{ period: { id: string; name: string; status: string } | null }>(result)[0]?.period;
    const closed = period?.status === 'closed' ? period : null;
    if (closed) {
      throw new ApiError('CONFLICT', `The period ${closed.name} is closed: nothing dated ${date} can change (reopen it first)`, {
        details: { reason: 'period_closed', period_id: closed.id, date },
      });
    }
  }
}

export type SystemRole = 'receivables' | 'payables' | 'tax' | 'retained_earnings' | 'fx_gain_loss' | 'cash' | 'unallocated_receipts' | 'prepayments' | 'sales';
const SYSTEM: Record<SystemRole, { code: string; name: string; type: AccountRow['type']; subType: string }> = {
  cash: { code: '1000-SYS', name: 'Cash', type: 'asset', subType: 'cash' },
  receivables: { code: '1100-SYS', name: 'Accounts receivable', type: 'asset', subType: 'receivable' },
  prepayments: { code: '1300-SYS', name: 'Supplier prepayments', type: 'asset', subType: 'current' },
  payables: { code: '2100-SYS', name: 'Accounts payable', type: 'liability', subType: 'payable' },
  tax: { code: '2200-SYS', name: 'Tax control', type: 'liability', subType: 'tax' },
  unallocated_receipts: { code: '2300-SYS', name: 'Unallocated customer receipts', type: 'liability', subType: 'current' },
  retained_earnings: { code: '3100-SYS', name: 'Retained earnings', type: 'equity', subType: 'retained_earnings' },
  fx_gain_loss: { code: '7900-SYS', name: 'Realised exchange gains and losses', type: 'revenue', subType: 'fx' },
  // Where invoices of the field-service API credit their lines.
  sales: { code: '4000-SYS', name: 'Sales', type: 'revenue', subType: 'sales' },
};

/** The module's own accounts, created on first use. Receivables and payables are control accounts. */
export async function systemAccount(ctx: TenantContext, role: SystemRole): Promise<string> {
  const def = SYSTEM[role];
  const id = newId('acc');
  await ctx.db
    .insert(acctAccounts)
    .values({ tenantId: ctx.tenantId, id, code: def.code, name: def.name, type: def.type, subType: def.subType, systemRole: role })
    .onConflictDoNothing();
  const [row] = await ctx.db
    .select({ id: acctAccounts.id })
    .from(acctAccounts)
    .where(and(eq(acctAccounts.tenantId, ctx.tenantId), eq(acctAccounts.systemRole, role)));
  return row!.id;
}

/**
 * A request's work read what it assumed (a remembered base currency, see postWithKnownBase) and found
 * it changed: its transaction rolls back and the request runs once more, the long way (see mount).
 */
export class StaleBooks extends Error {
  constructor() {
    super('the remembered books changed; run again');
  }
}

export const CONTROL_ROLES = new Set(['receivables', 'payables']);

export function pageOf<T>(items: T[], limit: number, offset: number) {
  return items.slice(offset, offset + limit);
}
