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
