import { createHash } from 'node:crypto';
import type { TenantContext } from '../../core/context.ts';
import { newId } from '../../core/http/ids.ts';
import { clientErrors } from './tables.ts';

export interface ErrorReport {
  message: string;
  stack?: string;
  source?: string;
  level: 'fatal' | 'error' | 'warning' | 'info' | 'debug';
  path?: string;
  metadata?: Record<string, unknown>;
}

/** The first line of a stack that names a place, without line and column: stable across builds of one release. */
function topFrame(stack: string | undefined): string {
  const line = stack?.split('\n').find((l) => /\bat\b|@/.test(l)) ?? '';
  return line.trim().replace(/:\d+(:\d+)?\)?$/, '');
}

export async function reportError(ctx: TenantContext, report: ErrorReport) {
  const id = newId('err');
  const fingerprint = createHash('sha256').update(`${report.source ?? ''}\n${report.message}\n${topFrame(report.stack)}`).digest('hex').slice(0, 32);
  await ctx.db.insert(clientErrors).values({
    id,
    tenantId: ctx.tenantId,
    level: report.level,
    message: report.message,
    stack: report.stack ?? null,
    source: report.source ?? null,
    path: report.path ?? null,
    metadata: report.metadata ?? {},
    fingerprint,
    actorType: ctx.actor.type,
    actorId: ctx.actor.id,
    ip: ctx.ip ?? null,
    userAgent: ctx.userAgent ?? null,
  });
  await ctx.emit({
    type: 'client_error.reported',
    resourceType: 'client_error',
    resourceId: id,
    data: { level: report.level, message: report.message.slice(0, 200), source: report.source ?? null, fingerprint },
    audit: false,
  });
  return { error_id: id };
}
