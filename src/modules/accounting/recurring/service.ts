import { and, asc, eq, sql } from 'drizzle-orm';
import rrulePkg from 'rrule';
import { z } from '@hono/zod-openapi';
import { runInTenant, type TenantContext } from '../../../core/context.ts';
import { rows } from '../../../core/db/client.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { AmountInput, CurrencyCode, OptText, PositiveAmount, RefId, Text, today } from '../common.ts';
import { approveInvoice, createInvoice } from '../invoices/service.ts';
import { createEntry } from '../ledger/service.ts';
import { acctRecurring } from '../tables.ts';

const { RRule } = rrulePkg as unknown as typeof import('rrule');
type RecRow = typeof acctRecurring.$inferSelect;
const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** What a template holds: a journal entry or an invoice without its date (each occurrence gives it). */
export const EntryTemplate = z.object({
  description: OptText(1000),
  reference: OptText(200),
  currency: CurrencyCode.optional(),
  lines: z.array(z.object({ account_id: RefId, debit: AmountInput.optional(), credit: AmountInput.optional(), description: OptText(500) })).min(2).max(500),
  post: z.boolean().optional(),
});
export const InvoiceTemplate = z.object({
  type: z.enum(['sales', 'purchase']),
  contact_name: Text(200),
  due_days: z.number().int().min(0).max(3650).optional(),
  currency: CurrencyCode.optional(),
  notes: OptText(2000),
  lines: z
    .array(z.object({ description: OptText(500), quantity: PositiveAmount.optional(), unit_price: AmountInput, account_id: RefId, tax_code_id: RefId.nullable().optional() }))
    .min(1)
    .max(500),
  approve: z.boolean().optional(),
});

const NAMED: Record<string, string> = {
  daily: 'FREQ=DAILY',
  weekly: 'FREQ=WEEKLY',
  monthly: 'FREQ=MONTHLY',
  quarterly: 'FREQ=MONTHLY;INTERVAL=3',
  yearly: 'FREQ=YEARLY',
  annually: 'FREQ=YEARLY',
};

/** `daily`, `weekly`, `monthly`, `quarterly`, `yearly`, or an RFC 5545 RRULE (`FREQ=MONTHLY;BYMONTHDAY=1`). */
function ruleFor(frequency: string, start: string) {
  const text = NAMED[frequency.toLowerCase()] ?? frequency.replace(/^RRULE:/i, '');
  if (text.length > 200 || !/^FREQ=/i.test(text)) throw new ApiError('VALIDATION_ERROR', 'body.frequency: daily, weekly, monthly, quarterly, yearly or an RRULE like FREQ=MONTHLY;BYMONTHDAY=1');
  try {
    const options = RRule.parseString(text.toUpperCase());
    if (options.freq === undefined || options.freq === null || options.freq > RRule.DAILY) throw new Error('at most daily');
    return new RRule({ ...options, dtstart: new Date(`${start}T00:00:00Z`), tzid: undefined });
  } catch (error) {
    throw new ApiError('VALIDATION_ERROR', `body.frequency: not a usable rule (${(error as Error).message.slice(0, 100)})`);
  }
}

function nextAfter(frequency: string, start: string, current: string): string | null {
  const next = ruleFor(frequency, start).after(new Date(`${current}T00:00:00Z`), false);
  return next ? next.toISOString().slice(0, 10) : null;
}

export const recurringDto = (r: RecRow) => ({
  id: r.id,
  name: r.name,
  type: r.type,
  template: r.template,
  frequency: r.frequency,
  next_run: r.nextRun,
  end_date: r.endDate,
  status: r.status,
  run_count: r.runCount,
  last_run_at: iso(r.lastRunAt),
  last_result_id: r.lastResultId,
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});

function checkTemplate(type: RecRow['type'], template: unknown): Record<string, unknown> {
  const parsed = (type === 'invoice' ? InvoiceTemplate : EntryTemplate).strict().safeParse(template);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ApiError('VALIDATION_ERROR', `body.template.${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data as Record<string, unknown>;
}

async function recRow(ctx: TenantContext, id: string, lock = false) {
  const q = ctx.db.select().from(acctRecurring).where(and(eq(acctRecurring.tenantId, ctx.tenantId), eq(acctRecurring.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Recurring entry');
  return row;
}

export async function listRecurring(ctx: TenantContext) {
  return (await ctx.db.select().from(acctRecurring).where(eq(acctRecurring.tenantId, ctx.tenantId)).orderBy(asc(acctRecurring.name)).limit(1000)).map(recurringDto);
}
export const getRecurring = async (ctx: TenantContext, id: string) => recurringDto(await recRow(ctx, id));

export interface RecurringInput {
  name: string;
  type?: RecRow['type'];
  template: Record<string, unknown>;
  frequency: string;
  next_run?: string;
  end_date?: string | null;
}

export async function createRecurring(ctx: TenantContext, input: RecurringInput) {
  const type = input.type ?? 'journal_entry';
  const template = checkTemplate(type, input.template);
  const next = input.next_run ?? today(ctx);
  ruleFor(input.frequency, next);
  if (input.end_date && input.end_date < next) throw new ApiError('VALIDATION_ERROR', 'body.end_date: must be on or after next_run');
  const id = newId('rec');
  const [row] = await ctx.db
    .insert(acctRecurring)
    .values({ tenantId: ctx.tenantId, id, name: input.name, type, template, frequency: input.frequency, nextRun: next, endDate: input.end_date ?? null })
    .returning();
  await ctx.emit({ type: 'accounting.recurring.created', resourceType: 'accounting_recurring', resourceId: id, data: { id, type } });
  return recurringDto(row!);
}

export async function updateRecurring(ctx: TenantContext, id: string, input: Partial<Omit<RecurringInput, 'type'>>) {
  const row = await recRow(ctx, id, true);
  const template = input.template ? checkTemplate(row.type, input.template) : row.template;
  const frequency = input.frequency ?? row.frequency;
  const next = input.next_run ?? row.nextRun ?? today(ctx);
  ruleFor(frequency, next);
  const end = input.end_date !== undefined ? input.end_date : row.endDate;
  if (end && end < next) throw new ApiError('VALIDATION_ERROR', 'body.end_date: must be on or after next_run');
  const [updated] = await ctx.db
    .update(acctRecurring)
    .set({ name: input.name ?? row.name, template, frequency, nextRun: next, endDate: end, status: 'active', updatedAt: new Date() })
    .where(and(eq(acctRecurring.tenantId, ctx.tenantId), eq(acctRecurring.id, id)))
    .returning();
  await ctx.emit({ type: 'accounting.recurring.updated', resourceType: 'accounting_recurring', resourceId: id, data: { id } });
  return recurringDto(updated!);
}

export async function deleteRecurring(ctx: TenantContext, id: string) {
  await recRow(ctx, id, true);
  await ctx.db.delete(acctRecurring).where(and(eq(acctRecurring.tenantId, ctx.tenantId), eq(acctRecurring.id, id)));
  await ctx.emit({ type: 'accounting.recurring.deleted', resourceType: 'accounting_recurring', resourceId: id, data: { id } });
  return { id, deleted: true as const };
}

/**
 * Runs the occurrence due at `next_run`: the entry or invoice dated that day, then `next_run` moves to
 * the following occurrence, in one transaction with the row locked. A scheduler that saw the same
 * occurrence (`expected`) finds next_run moved and does nothing: each occurrence runs exactly once.
 */
export async function executeRecurring(ctx: TenantContext, id: string, expected?: string) {
  const row = await recRow(ctx, id, true);
  if (row.status !== 'active' || !row.nextRun) throw new ApiError('CONFLICT', 'The template has ended: no occurrence is left', { details: { reason: 'ended' } });
  if (expected !== undefined && row.nextRun !== expected) return null;
  const date = row.nextRun;
  let result: { id: string };
  const t = row.template as Record<string, any>;
  if (row.type === 'journal_entry') {
    result = await createEntry(ctx, { ...t, date, post: t.post ?? true } as Parameters<typeof createEntry>[1]);
  } else {
    const due = new Date(Date.parse(`${date}T00:00:00Z`) + (t.due_days ?? 0) * 86_400_000).toISOString().slice(0, 10);
    const { approve, due_days: _d, ...invoice } = t;
    result = await createInvoice(ctx, { ...invoice, date, due_date: due } as Parameters<typeof createInvoice>[1], 'recurring');
    if (approve) result = await approveInvoice(ctx, result.id);
  }
  const following = nextAfter(row.frequency, date, date);
  const ended = !following || (row.endDate !== null && following > row.endDate);
  const [updated] = await ctx.db
    .update(acctRecurring)
    .set({ nextRun: ended ? null : following, status: ended ? 'ended' : 'active', runCount: row.runCount + 1, lastRunAt: new Date(), lastResultId: result.id, updatedAt: new Date() })
    .where(and(eq(acctRecurring.tenantId, ctx.tenantId), eq(acctRecurring.id, id)))
    .returning();
  await ctx.emit({ type: 'accounting.recurring.executed', resourceType: 'accounting_recurring', resourceId: id, data: { id, date, result_id: result.id } });
  return { ...recurringDto(updated!), result_id: result.id, occurrence: date };
}

export const RECURRING_JOB = 'accounting.recurring';

/** The scheduler: every due occurrence across tenants, each in its tenant's transaction. */
export async function runDueRecurring(kernel: Kernel, limit = 500): Promise<number> {
  const now = new Date(kernel.clock.now()).toISOString().slice(0, 10);
  const result = await kernel.db.system.execute(sql`
    select tenant_id, id, next_run::text as next_run from acct_recurring
    where status = 'active' and next_run <= ${now} order by next_run limit ${limit}`);
  let ran = 0;
  for (const due of rows<{ tenant_id: string; id: string; next_run: string }>(result)) {
    try {
      const done = await runInTenant(kernel, { tenantId: due.tenant_id, actor: { type: 'system', id: null }, requestId: null }, (ctx) => executeRecurring(ctx, due.id, due.next_run));
      if (done) ran++;
    } catch (error) {
      kernel.log.warn({ err: error, recurring_id: due.id, tenant_id: due.tenant_id }, 'recurring accounting occurrence failed');
    }
  }
  return ran;
}
