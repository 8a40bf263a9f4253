import type { Db } from '../db/client.ts';
import { namedStatement } from '../db/prepared.ts';
import type { auditLogs } from './tables.ts';

export type AuditRow = typeof auditLogs.$inferInsert;

/** Audit rows in one fixed statement, as insertEvents writes the outbox's (see there why). */
const insertAuditRows = namedStatement(
  'plinth_insert_audit',
  `insert into audit_logs (id, tenant_id, actor_type, actor_id, action, resource_type, resource_id, request_id, ip, user_agent, metadata)
   select r.id, r."tenantId", r."actorType", r."actorId", r.action, r."resourceType", r."resourceId", r."requestId", r.ip, r."userAgent", coalesce(r.metadata, '{}'::jsonb)
   from jsonb_to_recordset($1::jsonb) as r("id" text, "tenantId" text, "actorType" text, "actorId" text, "action" text, "resourceType" text,
     "resourceId" text, "requestId" text, "ip" text, "userAgent" text, "metadata" jsonb)`,
);

/** Inserts audit rows (one statement) in the caller's transaction. */
export async function insertAudits(db: Db, rows: AuditRow[]): Promise<void> {
  if (rows.length > 0) await insertAuditRows(db, [JSON.stringify(rows)]);
}
