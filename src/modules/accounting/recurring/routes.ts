import { z } from '@hono/zod-openapi';
import { IsoDate } from '../../../core/http/envelope.ts';
import { DateString, Text } from '../common.ts';
import { Deleted, op, type Op } from '../http.ts';
import * as s from './service.ts';

const Nullable = z.string().nullable();
export const RecurringSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    type: z.enum(['journal_entry', 'invoice']),
    template: z.record(z.string(), z.unknown()),
    frequency: z.string(),
    next_run: Nullable,
    end_date: Nullable,
    status: z.enum(['active', 'ended']),
    run_count: z.number().int(),
    last_run_at: IsoDate.nullable(),
    last_result_id: Nullable,
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('AccountingRecurring');

const Template = z.record(z.string(), z.unknown()).openapi({
  description:
    'journal_entry: { description?, reference?, currency?, lines: [{account_id, debit?|credit?, description?}], post? (default true) }; invoice: { type, contact_name, due_days?, currency?, notes?, lines: [{unit_price, account_id, quantity?, tax_code_id?, description?}], approve? }',
  example: { description: 'Rent', lines: [{ account_id: 'acc_...', debit: 1000 }, { account_id: 'acc_...', credit: 1000 }] },
});
const Frequency = z.string().min(1).max(200).openapi({ description: 'daily, weekly, monthly, quarterly, yearly, or an RRULE (FREQ=MONTHLY;BYMONTHDAY=1)', example: 'monthly' });

export const recurringOps: Op[] = [
  op({ method: 'get', path: '/v1/accounting/recurring', summary: 'List recurring entries', response: z.array(RecurringSchema) }, (ctx) => s.listRecurring(ctx)),
  op(
    {
      method: 'post',
      path: '/v1/accounting/recurring',
      summary: 'Create recurring entry',
      description: 'A template run on an rrule schedule from `next_run` (default today) until `end_date`. The scheduler runs each occurrence exactly once, however many workers run.',
      body: z.object({ name: Text(200), type: z.enum(['journal_entry', 'invoice']).optional(), template: Template, frequency: Frequency, next_run: DateString.optional(), end_date: DateString.nullable().optional() }),
      response: RecurringSchema,
      status: 201,
    },
    (ctx, { body }) => s.createRecurring(ctx, body),
  ),
  op({ method: 'get', path: '/v1/accounting/recurring/{recurring_id}', summary: 'Get recurring entry', param: 'recurring_id', response: RecurringSchema }, (ctx, { id }) => s.getRecurring(ctx, id)),
  op(
    {
      method: 'patch',
      path: '/v1/accounting/recurring/{recurring_id}',
      summary: 'Update recurring entry',
      param: 'recurring_id',
      body: z.object({ name: Text(200).optional(), template: Template.optional(), frequency: Frequency.optional(), next_run: DateString.optional(), end_date: DateString.nullable().optional() }),
      response: RecurringSchema,
    },
    (ctx, { id, body }) => s.updateRecurring(ctx, id, body),
  ),
  op({ method: 'delete', path: '/v1/accounting/recurring/{recurring_id}', summary: 'Delete recurring entry', param: 'recurring_id', response: Deleted }, (ctx, { id }) => s.deleteRecurring(ctx, id)),
  op(
    {
      method: 'post',
      path: '/v1/accounting/recurring/{recurring_id}/execute',
      summary: 'Execute recurring entry now',
      description: 'Runs the occurrence due at `next_run` now (the document is dated that day) and moves `next_run` on; 409 when the template has ended.',
      param: 'recurring_id',
      response: RecurringSchema.extend({ result_id: z.string(), occurrence: z.string() }),
    },
    async (ctx, { id }) => (await s.executeRecurring(ctx, id))!,
  ),
];
