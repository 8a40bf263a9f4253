import { createHash } from 'node:crypto';
import type { SQL } from 'drizzle-orm';
import type { Db } from './client.ts';

/**
 * A hot query built once per database handle instead of on every call. Drizzle rebuilds a query's SQL
 * on each execution, and for a short request that building cost more CPU than the round trip (kernel
 * benchmark profile). Request handles are cached per pooled session, so a prepared query is built once
 * per session, and its name makes PostgreSQL parse and plan it once per connection too. Values vary
 * through `sql.placeholder(...)`.
 */
export function prepared<Q>(build: (db: Db) => Q): (db: Db) => Q {
  const cache = new WeakMap<Db, Q>();
  return (db) => {
    let query = cache.get(db);
    if (!query) {
      query = build(db);
      cache.set(db, query);
    }
    return query;
  };
}

/**
 * Runs `query` like `db.execute` but as a named statement, the name a hash of its text: PostgreSQL
 * parses and plans a hot statement of one shape once per connection instead of on every call (a
 * posted journal entry is one large statement of CTEs). Each name stays prepared on its connection, so
 * only statements with few shapes should come here. Same result as `db.execute`.
 */
export function executeNamed(db: Db, query: SQL): Promise<unknown> {
  const internal = db as unknown as {
    dialect: { sqlToQuery(q: SQL): { sql: string; params: unknown[] } };
    session: { prepareQuery(q: { sql: string; params: unknown[] }, fields: undefined, name: string, arrayMode: boolean): { execute(): Promise<unknown> } };
  };
  const built = internal.dialect.sqlToQuery(query);
  const name = `n_${createHash('sha256').update(built.sql).digest('base64url').slice(0, 24)}`;
  return internal.session.prepareQuery(built, undefined, name, false).execute();
}

/**
 * A fixed statement with $n parameters, run as a named statement: no query building per call (Drizzle's
 * SQL builder showed in the read path's profile), and PostgreSQL parses and plans it once per
 * connection. `name` must be unique to `text`. Answers what `db.execute` does (`{ rows }`).
 */
export function namedStatement(name: string, text: string): (db: Db, values: unknown[]) => Promise<unknown> {
  return (db, values) => {
    const session = (db as unknown as {
      session: { prepareQuery(q: { sql: string; params: unknown[] }, fields: undefined, name: string, arrayMode: boolean): { execute(): Promise<unknown> } };
    }).session;
    return session.prepareQuery({ sql: text, params: values }, undefined, name, false).execute();
  };
}
