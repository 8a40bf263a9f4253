import { and, count, desc, eq, type SQL } from 'drizzle-orm';
import { auditLogs } from '../../core/audit/tables.ts';
import type { TenantContext } from '../../core/context.ts';

export interface AuditQuery {
  limit: number;
  offset: number;
  action?: string;
  resource_type?: string;
}

export async function listAuditLogs(ctx: TenantContext, query: AuditQuery) {
  const filters: SQL[] = [eq(auditLogs.tenantId, ctx.tenantId)];
  if (query.action) filters.push(eq(auditLogs.action, query.action));
  if (query.resource_type) filters.push(eq(auditLogs.resourceType, query.resource_type));
  const where = and(...filters);
  const rows = await ctx.db
    .select()
    .from(auditLogs)
    .where(where)
    .orderBy(desc(auditLogs.createdAt), desc(auditLogs.id))
    .limit(query.limit)
    .offset(query.offset);
  const [total] = await ctx.db.select({ n: count() }).from(auditLogs).where(where);
  return {
    logs: rows.map((r) => ({
      id: r.id,
      action: r.action,
      actor_type: r.actorType,
      actor_id: r.actorId,
      resource_type: r.resourceType,
      resource_id: r.resourceId,
      request_id: r.requestId,
      ip: r.ip,
      user_agent: r.userAgent,
      metadata: r.metadata,
      created_at: r.createdAt.toISOString(),
    })),
    total: total?.n ?? 0,
  };
}
