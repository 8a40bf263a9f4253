import type { Db } from '../db/client.ts';
import { namedStatement } from '../db/prepared.ts';
import type { events } from './tables.ts';

export type EventRow = typeof events.$inferInsert;

/**
 * Outbox rows in one fixed statement, all of them in one JSON parameter (the rows as they are, their
 * keys the column list's quoted names). Drizzle's insert builder cost about 50 µs of CPU per row (its
 * checks of every value), more than the insert: a sixth of POST /v1/events' CPU (ingest profile), and
 * every write that emits paid it. One text for any number of rows, so PostgreSQL parses and plans it
 * once per connection. seq, tx_id and created_at are the table's defaults, seq in the rows' order.
 */
const insertEventRows = namedStatement(
  'plinth_insert_events',
  `insert into events (id, tenant_id, type, resource_type, resource_id, data, actor_type, actor_id, request_id)
   select r.id, r.tenant_id, r.type, r.resource_type, r.resource_id, coalesce(r.data, '{}'::jsonb), r.actor_type, r.actor_id, r.request_id
   from rows from (jsonb_to_recordset($1::jsonb) as ("id" text, "tenantId" text, "type" text, "resourceType" text, "resourceId" text,
     "data" jsonb, "actorType" text, "actorId" text, "requestId" text))
     with ordinality as r(id, tenant_id, type, resource_type, resource_id, data, actor_type, actor_id, request_id, n)
   order by r.n`,
);

/** Inserts outbox rows (one statement); `db` is the caller's transaction, whose tenant the rows must be. */
export async function insertEvents(db: Db, rows: EventRow[]): Promise<void> {
  if (rows.length > 0) await insertEventRows(db, [JSON.stringify(rows)]);
}
