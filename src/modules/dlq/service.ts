import { and, count, desc, eq, sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../core/context.ts';
import type { Db } from '../../core/db/client.ts';
import { ApiError, notFound } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import type { Kernel } from '../../core/kernel.ts';
import { deadLetters, type DeadLetterRow } from './tables.ts';

/** What a source of dead letters does when a person acts on one of its letters. */
export interface DeadLetterSource {
  /** Sends the work again; runs in the tenant's transaction, so queue the attempt with ctx.afterCommit. */
  retry(ctx: TenantContext, letter: DeadLetterRow): Promise<void>;
  /** Marks the source's record as given up; the letter is deleted afterwards. */
  discard(ctx: TenantContext, letter: DeadLetterRow): Promise<void>;
}

const registries = new WeakMap<Kernel, Map<string, DeadLetterSource>>();

export function registerDeadLetterSource(kernel: Kernel, source: string, handlers: DeadLetterSource): void {
  let sources = registries.get(kernel);
  if (!sources) registries.set(kernel, (sources = new Map()));
  if (sources.has(source)) throw new Error(`dead letter source ${source} is registered twice`);
  sources.set(source, handlers);
}

function sourceOf(kernel: Kernel, source: string): DeadLetterSource {
  const handlers = registries.get(kernel)?.get(source);
  if (!handlers) throw new ApiError('INTERNAL_ERROR', `No handler for dead letters of ${source}`);
  return handlers;
}

export interface DeadLetterInput {
  tenantId: string;
  source: string;
  referenceId: string;
  summary: Record<string, unknown>;
  error: string | null;
  attempts: number;
}

/** Puts a record in the DLQ (or back, after a retry failed); `db` is the caller's transaction. */
export async function addDeadLetter(db: Db, input: DeadLetterInput): Promise<void> {
  await db
    .insert(deadLetters)
    .values({ id: newId('dlq'), ...input })
    .onConflictDoUpdate({
      target: [deadLetters.source, deadLetters.referenceId],
      set: { status: 'dead', summary: input.summary, error: input.error, attempts: input.attempts, updatedAt: new Date() },
    });
}

/** Takes a record out of the DLQ once its work succeeded. */
export async function resolveDeadLetter(db: Db, source: string, referenceId: string): Promise<boolean> {
  const gone = await db
    .delete(deadLetters)
    .where(and(eq(deadLetters.source, source), eq(deadLetters.referenceId, referenceId)))
    .returning({ id: deadLetters.id });
  return gone.length > 0;
}

/** Counts a tenant's dead letters per reference filter (webhooks ask before a delete). */
export async function countDeadLetters(db: Db, tenantId: string, source: string, summaryField: string, value: string): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(deadLetters)
    .where(and(eq(deadLetters.tenantId, tenantId), eq(deadLetters.source, source), sql`${deadLetters.summary}->>${summaryField} = ${value}`));
  return row?.n ?? 0;
}

/** Deletes a tenant's dead letters whose summary field has this value (their records are being deleted). */
export async function deleteDeadLetters(db: Db, tenantId: string, source: string, summaryField: string, value: string): Promise<number> {
  const gone = await db
    .delete(deadLetters)
    .where(and(eq(deadLetters.tenantId, tenantId), eq(deadLetters.source, source), sql`${deadLetters.summary}->>${summaryField} = ${value}`))
    .returning({ id: deadLetters.id });
  return gone.length;
}

export function deadLetterDto(row: DeadLetterRow) {
  return {
    id: row.id,
    source: row.source,
    reference_id: row.referenceId,
    status: row.status,
    error: row.error,
    attempts: row.attempts,
    retries: row.retries,
    data: row.summary,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export interface DeadLetterQuery {
  limit: number;
  offset: number;
  source?: string;
  status?: 'dead' | 'retrying';
}

export async function listDeadLetters(ctx: TenantContext, query: DeadLetterQuery) {
  const filters: SQL[] = [eq(deadLetters.tenantId, ctx.tenantId)];
  if (query.source) filters.push(eq(deadLetters.source, query.source));
  if (query.status) filters.push(eq(deadLetters.status, query.status));
  const where = and(...filters);
  const rows = await ctx.db.select().from(deadLetters).where(where).orderBy(desc(deadLetters.createdAt), desc(deadLetters.id)).limit(query.limit).offset(query.offset);
  const [total] = await ctx.db.select({ n: count() }).from(deadLetters).where(where);
  return { messages: rows.map(deadLetterDto), total: total?.n ?? 0 };
}

async function lockLetter(ctx: TenantContext, id: string): Promise<DeadLetterRow> {
  const [row] = await ctx.db
    .select()
    .from(deadLetters)
    .where(and(eq(deadLetters.id, id), eq(deadLetters.tenantId, ctx.tenantId)))
    .for('update');
  if (!row) throw notFound('Dead letter');
  return row;
}

export async function retryDeadLetter(ctx: TenantContext, id: string) {
  const letter = await lockLetter(ctx, id);
  if (letter.status === 'retrying') throw new ApiError('CONFLICT', 'This message is being retried already');
  await sourceOf(ctx.kernel, letter.source).retry(ctx, letter);
  await ctx.db
    .update(deadLetters)
    .set({ status: 'retrying', retries: letter.retries + 1, updatedAt: new Date() })
    .where(eq(deadLetters.id, id));
  await ctx.emit({ type: 'dead_letter.retried', resourceType: 'dead_letter', resourceId: id, data: { source: letter.source, reference_id: letter.referenceId } });
  return { retried: true as const, id, reference_id: letter.referenceId };
}

export async function discardDeadLetter(ctx: TenantContext, id: string) {
  const letter = await lockLetter(ctx, id);
  await sourceOf(ctx.kernel, letter.source).discard(ctx, letter);
  await ctx.db.delete(deadLetters).where(eq(deadLetters.id, id));
  await ctx.emit({ type: 'dead_letter.discarded', resourceType: 'dead_letter', resourceId: id, data: { source: letter.source, reference_id: letter.referenceId } });
  return { discarded: true as const, id };
}
