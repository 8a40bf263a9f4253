import { and, count, desc, eq, lt } from 'drizzle-orm';
import { hasScope } from '../../../core/auth/principal.ts';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { decodeCursor, encodeCursor } from '../../../core/http/pagination.ts';
import { accessFor } from '../policies/access.ts';
import { fetchRecord } from '../records/service.ts';
import { comments } from '../tables.ts';
import { loadSchema, type TypeSchema } from '../types/service.ts';

/**
 * The activity feed of a record. Anyone who can see the record can read and add comments; only the
 * author (the same user or key) may edit or delete one, and a credential with scope `*` may delete
 * any (moderation).
 */

type CommentRow = typeof comments.$inferSelect;

export function commentDto(row: CommentRow) {
  return {
    id: row.id,
    object_id: row.objectId,
    object_type_id: row.objectTypeId,
    body: row.body,
    author_type: row.authorType,
    author_id: row.authorId,
    edited: row.updatedAt.getTime() !== row.createdAt.getTime(),
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

async function visibleRecord(ctx: TenantContext, typeRef: string, objectId: string): Promise<TypeSchema> {
  const schema = await loadSchema(ctx, typeRef);
  await fetchRecord(ctx, schema, await accessFor(ctx, schema), objectId);
  return schema;
}

const eventData = (schema: TypeSchema, row: CommentRow) => ({
  object_type_id: schema.type.id,
  object_type: schema.type.name,
  object_id: row.objectId,
  comment_id: row.id,
});

export async function listComments(ctx: TenantContext, typeRef: string, objectId: string, query: { limit: number; cursor?: string }) {
  await visibleRecord(ctx, typeRef, objectId);
  const before = query.cursor ? decodeCursor(query.cursor)?.[0] : undefined;
  if (query.cursor && typeof before !== 'string') {
    throw new ApiError('VALIDATION_ERROR', 'cursor: not a cursor of this list', { details: { issues: [{ field: 'cursor', location: 'query', message: 'invalid cursor' }] } });
  }
  const own = and(eq(comments.tenantId, ctx.tenantId), eq(comments.objectId, objectId));
  const rows = await ctx.db
    .select()
    .from(comments)
    .where(and(own, typeof before === 'string' ? lt(comments.id, before) : undefined))
    .orderBy(desc(comments.id))
    .limit(query.limit + 1);
  const [total] = await ctx.db.select({ n: count() }).from(comments).where(own);
  const page = rows.slice(0, query.limit);
  return {
    results: page.map(commentDto),
    next_cursor: rows.length > query.limit ? encodeCursor([page.at(-1)!.id]) : null,
    total: total?.n ?? 0,
  };
}

export async function createComment(ctx: TenantContext, typeRef: string, objectId: string, body: string) {
  const schema = await visibleRecord(ctx, typeRef, objectId);
  const [row] = await ctx.db
    .insert(comments)
    .values({
      id: newId('cmt'),
      tenantId: ctx.tenantId,
      objectTypeId: schema.type.id,
      objectId,
      body,
      authorType: ctx.actor.type,
      authorId: ctx.actor.id,
    })
    .returning();
  await ctx.emit({ type: 'comment.created', resourceType: 'comment', resourceId: row!.id, data: eventData(schema, row!) });
  return commentDto(row!);
}

async function ownComment(ctx: TenantContext, objectId: string, commentId: string, action: 'edit' | 'delete'): Promise<CommentRow> {
  const [row] = await ctx.db
    .select()
    .from(comments)
    .where(and(eq(comments.tenantId, ctx.tenantId), eq(comments.objectId, objectId), eq(comments.id, commentId)))
    .for('update');
  if (!row) throw new ApiError('NOT_FOUND', 'Comment not found');
  const isAuthor = row.authorType === ctx.actor.type && row.authorId === ctx.actor.id;
  const moderator = action === 'delete' && ctx.principal !== undefined && hasScope(ctx.principal, '*');
  if (!isAuthor && !moderator) throw new ApiError('FORBIDDEN', `Only the author can ${action} this comment`);
  return row;
}

export async function updateComment(ctx: TenantContext, typeRef: string, objectId: string, commentId: string, body: string) {
  const schema = await visibleRecord(ctx, typeRef, objectId);
  await ownComment(ctx, objectId, commentId, 'edit');
  const [row] = await ctx.db.update(comments).set({ body, updatedAt: new Date() }).where(eq(comments.id, commentId)).returning();
  await ctx.emit({ type: 'comment.updated', resourceType: 'comment', resourceId: commentId, data: eventData(schema, row!) });
  return commentDto(row!);
}

export async function deleteComment(ctx: TenantContext, typeRef: string, objectId: string, commentId: string) {
  const schema = await visibleRecord(ctx, typeRef, objectId);
  const row = await ownComment(ctx, objectId, commentId, 'delete');
  await ctx.db.delete(comments).where(eq(comments.id, commentId));
  await ctx.emit({ type: 'comment.deleted', resourceType: 'comment', resourceId: commentId, data: eventData(schema, row) });
  return { deleted: true as const, id: commentId };
}
