import { AsyncLocalStorage } from 'node:async_hooks';
import type { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { PgliteSession, PgliteTransaction } from 'drizzle-orm/pglite/session';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { NodePgSession, NodePgTransaction } from 'drizzle-orm/node-postgres/session';
import { PgDialect } from 'drizzle-orm/pg-core';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { lockDataDir } from './lock.ts';
import { openPgliteEngine, type PgliteEngine } from './pglite-engine.ts';
import { PgliteWire } from './pglite-wire.ts';

/** The query builder every service writes against; a transaction is one too. */
export type Db = PgDatabase<PgQueryResultHKT, Record<string, never>>;

export type DatabaseKind = 'pglite' | 'postgres';

/** The rows of a raw `db.execute()`; both drivers answer with `{ rows }`. */
export function rows<T>(result: unknown): T[] {
  return (result as { rows: T[] }).rows;
}

/**
 * The role request work runs as. It owns nothing, so row-level security always applies to it. Roles
 * belong to the whole PostgreSQL server, not to one database, and the connecting owner is made a member
 * of this role; were it one name for every install on a server, the owner of one install could take it
 * and read another install's tables. So on PostgreSQL it is named after the database
 * (`plinth_app_<database>`, see appRoleFor) unless DB_APP_ROLE names one; an embedded PGlite is a
 * server of its own, and keeps `plinth_app`.
 */
export const DEFAULT_APP_ROLE = 'plinth_app';

/** A role name Plinth will put in SQL unquoted. */
export const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The app role of a PostgreSQL database: `plinth_app_<name>`, made a valid identifier of at most 63 bytes. */
export function appRoleFor(database: string): string {
  const clean = database.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const role = `${DEFAULT_APP_ROLE}_${clean}`;
  if (clean === database && role.length <= 63) return role;
  // Changed or cut: a hash of the real name keeps two databases from meeting on one role.
  const hash = createHash('sha256').update(database).digest('hex').slice(0, 8);
  return `${role.slice(0, 63 - 9)}_${hash}`;
}

const TENANT_ID = /^tn_[0-9a-z]{26}$/;

export interface Database {
  readonly kind: DatabaseKind;
  /** The role tenant work runs as (see DEFAULT_APP_ROLE); migrations grant it and point the policies at it. */
  readonly appRole: string;
  /**
   * System access as the connecting (owning) role. Only kernel code that is about no single tenant uses
   * it: resolving a key by its hash, migrations, the usage flusher. Request work goes through `tenant()`.
   */
  readonly system: Db;
  /**
   * Runs `fn` in a transaction as the app role with the tenant set by SET LOCAL: RLS sees only that tenant's
   * rows. With `within`, it switches that open transaction instead (a system transaction that has just
   * created the tenant row); the switch lasts until that transaction ends. `readOnly` transactions
   * (GET requests) refuse writes.
   */
  tenant<T>(tenantId: string, fn: (tx: Db) => Promise<T>, options?: TenantTxOptions): Promise<T>;
  /** A transaction as the app role with no tenant set (it sees no tenant rows); used by isolation tests. */
  untenanted<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  /**
   * `system.transaction(fn)`, its BEGIN sent without waiting for its answer: it goes out ahead of
   * `fn`'s first statement instead of a round trip before it (event consumers' batches).
   */
  systemTransaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  /** Runs `fn` with a dedicated session (migrations hold an advisory lock on it). */
  withSession<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  /**
   * Plain SQL with $n parameters on a pooled session (pg-boss runs through this); no parameters allows
   * several statements. `genericPlan` (honoured on PGlite, whose statements are prepared): the statement
   * runs under plan_cache_mode = force_generic_plan, for statements on a partitioned table keyed by a
   * parameter (pg-boss's job table, a partition per queue), whose custom plans PostgreSQL otherwise
   * keeps choosing and planning anew, partition pruning and all, on every execution.
   */
  raw(text: string, values?: unknown[], options?: { genericPlan?: boolean }): Promise<{ rows: any[]; rowCount: number }>;
  ping(): Promise<void>;
  /**
   * Whether this database stores and searches vectors itself with pgvector: PGlite always (the
   * extension is loaded), PostgreSQL when the server has the extension available (migration 0009
   * installs it then). Decided when the database is opened; the AI index falls back to an in-process
   * index when false.
   */
  readonly pgvector: boolean;
  close(): Promise<void>;
  /** The underlying PGlite instance when embedded on this thread (benches query it directly). */
  readonly pglite?: PGlite;
  /** The embedded database's data directory as a tar (tests dump a migrated template; the build, the embedded seed). */
  dumpPglite?(compression?: 'none' | 'gzip'): Promise<Blob>;
}

export interface TenantTxOptions {
  within?: Db;
  readOnly?: boolean;
  /**
   * The transaction's outcome is decided by the database, not by `fn`: `fn` sends its statements
   * without waiting between them (all of them before its first await), and on PostgreSQL the COMMIT
   * goes out right behind them, in the same write, a round trip less than committing once they have
   * answered. The transaction commits when every statement succeeded; when one failed, PostgreSQL
   * turns that COMMIT into a ROLLBACK and the statement's error is thrown. So `fn` must not throw to
   * roll back after its statements succeeded (it would be committed on PostgreSQL): a decision to
   * write or not belongs in the statement itself. On PGlite (in process, no round trips) it is an
   * ordinary transaction.
   */
  commitAhead?: boolean;
}

export interface OpenDatabaseOptions {
  databaseUrl?: string;
  /** Directory for PGlite, or `memory://`. */
  pgliteDir?: string;
  /** A dumped PGlite data directory to start from (tests load a migrated template). */
  pgliteLoad?: Blob | File;
  /** Run PGlite's engine in a worker thread (see PgliteEngine). */
  pgliteWorker?: boolean;
  poolMax?: number;
  /** The role tenant work runs as; by default `plinth_app_<database>` on PostgreSQL, `plinth_app` on PGlite. */
  appRole?: string;
}

function assertTenantId(tenantId: string): void {
  if (!TENANT_ID.test(tenantId)) throw new Error(`invalid tenant id for tenant transaction: ${tenantId}`);
}

const enterTenant = (role: string, tenantId: string) =>
  sql`select set_config('role', ${role}, true), set_config('app.tenant_id', ${tenantId}, true)`;
const enterNoTenant = (role: string) => sql`select set_config('role', ${role}, true), set_config('app.tenant_id', '', true)`;

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (options.appRole !== undefined && !ROLE_NAME.test(options.appRole)) throw new Error(`invalid app role name: ${options.appRole}`);
  if (options.databaseUrl) return openPostgres(options.databaseUrl, options.poolMax ?? 10, options.appRole);
  return openPglite(options.pgliteDir ?? 'memory://', options.pgliteLoad, options.appRole ?? DEFAULT_APP_ROLE, options.pgliteWorker === true);
}

/**
 * The embedded seed: a data directory with every migration applied and the job queues created, dumped
 * by the build (scripts/embedded-seed.mjs, run by `npm run build`, which `npm install` runs) to
 * dist/embedded-seed.tar.gz. A new data directory starts from it instead of initdb and the migrations
 * (7.6 s to a first answer on a new install, most of it those two). Migrations still run after it, so
 * a seed older than the code is brought up to date like any database.
 */
export const EMBEDDED_SEED = path.resolve(import.meta.dirname, '../../../dist/embedded-seed.tar.gz');

/** The seed to start a data directory from: only a new one (no PG_VERSION yet), when the build made one. */
function seedFor(dir: string): Blob | undefined {
  if (fs.existsSync(path.join(dir, 'PG_VERSION'))) return undefined;
  try {
    return new Blob([fs.readFileSync(EMBEDDED_SEED)]);
  } catch {
    return undefined; // no build yet: initdb and the migrations
  }
}

async function openPglite(dir: string, load: Blob | File | undefined, appRole: string, worker: boolean): Promise<Database> {
  const unlock = dir === 'memory://' ? () => {} : lockDataDir(dir);
  let engine: PgliteEngine;
  try {
    engine = await openPgliteEngine({ dir: dir === 'memory://' ? undefined : dir, load: load ?? (dir === 'memory://' ? undefined : seedFor(dir)), worker });
  } catch (error) {
    unlock();
    throw error;
  }
  // PGlite is one session: a query outside an open transaction waits for it to end, so a system query
  // made from inside tenant work would wait forever. Fail at once, with the reason, instead of hanging.
  const inTransaction = new AsyncLocalStorage<boolean>();
  const refuseInTransaction = () =>
    inTransaction.getStore()
      ? new Error('system query inside a tenant transaction: it would deadlock PGlite; use ctx.db, or query before/after the transaction')
      : undefined;
  // PGlite's own query and exec, where it runs on this thread (benches call them), refuse the same way.
  const client = engine.pglite;
  if (client) {
    for (const method of ['query', 'exec'] as const) {
      const original = client[method].bind(client) as (...args: unknown[]) => Promise<unknown>;
      (client as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        const refused = refuseInTransaction();
        return refused ? Promise.reject(refused) : original(...args);
      };
    }
  }
  const wire = new PgliteWire(engine);
  const systemClient = wire.client(refuseInTransaction);
  const system = drizzlePglite({ client: systemClient as unknown as PGlite }) as unknown as Db;
  const dialect = new PgDialect();
  /**
   * A transaction as the app role, `begin` (BEGIN and the SET LOCALs) sent in front of its first
   * statement, every statement prepared once and sent in one call (see PgliteWire). `begin` holds only
   * checked values (TENANT_ID, ROLE_NAME), so it is safe to inline.
   */
  const transaction = <T>(begin: string, fn: (tx: Db) => Promise<T>, perStatement = false) =>
    wire.transaction(begin, (wtx) => {
      const session = new PgliteSession(wtx as unknown as PGlite, dialect, undefined, {});
      const tx = new PgliteTransaction(dialect, session, undefined) as unknown as Db;
      // async: a lazy Drizzle query `fn` returns is then started inside the store, not where it is awaited.
      return inTransaction.run(true, async () => fn(tx));
    }, perStatement);
  // SET LOCAL rather than `select set_config(...)`: a utility command, no query to plan and no row to
  // send back and parse (about 40 µs of a read on PGlite).
  const beginFor = (tenantId: string, readOnly: boolean) =>
    `begin${readOnly ? ' read only' : ''}; set local role ${appRole}; set local app.tenant_id = '${tenantId}'`;
  return {
    kind: 'pglite',
    appRole,
    pgvector: true,
    system,
    ...(client ? { pglite: client } : {}),
    dumpPglite: (compression) => engine.dump(compression),
    async tenant(tenantId, fn, options = {}) {
      assertTenantId(tenantId);
      if (options.within) {
        await options.within.execute(enterTenant(appRole, tenantId));
        return fn(options.within);
      }
      // Reads: each statement on its own, as on PostgreSQL (see PgliteWire.transaction).
      return transaction(beginFor(tenantId, options.readOnly === true), fn, options.readOnly === true);
    },
    untenanted(fn) {
      return transaction(`begin; set local role ${appRole}; set local app.tenant_id = ''`, fn);
    },
    // In process: no round trip to save.
    systemTransaction: (fn) => system.transaction((tx) => fn(tx as unknown as Db)),
    // PGlite is one session already.
    withSession: (fn) => fn(system),
    async raw(text, values, options) {
      if (!values?.length) {
        const results = await systemClient.exec(text);
        const last = results.at(-1);
        return { rows: last?.rows ?? [], rowCount: last?.affectedRows ?? 0 };
      }
      const result = options?.genericPlan ? await systemClient.queryGeneric(text, values) : await systemClient.query(text, values);
      return { rows: result.rows as any[], rowCount: result.affectedRows ?? 0 };
    },
    async ping() {
      await systemClient.query('select 1');
    },
    async close() {
      await engine.close();
      unlock();
    },
  };
}

/**
 * Connection settings of every pooled session. A connection that cannot be made, or a free session
 * that cannot be had, fails after CONNECT_TIMEOUT_MS (a 503 for the request) instead of waiting for the
 * operating system's own timeout; TCP keep-alive finds a peer that vanished without a word.
 */
const CONNECT_TIMEOUT_MS = 5_000;
const SESSION_SETTINGS = { idleTimeoutMillis: 30_000, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true, keepAliveInitialDelayMillis: 10_000 };

/**
 * A connection that dies (server restart, network cut) emits 'error' on its client, and an 'error'
 * event nobody listens to ends the process. pg-pool listens only while a client is idle, so a client
 * that is checked out when it happens (a request or a job mid-query) needs a listener of its own. The
 * error also fails that client's pending query, which is where it is handled (a 503, a retried loop);
 * the pool drops the dead client when it is released and connects anew on the next checkout.
 */
function survivePoolErrors(pool: pg.Pool): void {
  const ignore = () => {};
  pool.on('error', ignore);
  pool.on('connect', (client) => void client.on('error', ignore));
}

async function openPostgres(url: string, poolMax: number, role?: string): Promise<Database> {
  // Kernel work (key lookup, migrations, jobs) runs as the owner on a small pool of its own. Pipeline
  // mode, as the tenant pool: a system transaction's BEGIN and its first statements (an outbox
  // consumer's lock, read and prefetch) leave together and are answered in one round trip, where pg's
  // own queue sent each after the last one's answer, one event-loop turn apiece on a busy process (and
  // warned that such queueing goes away in pg 9).
  const pool = new pg.Pool({ connectionString: url, max: Math.max(2, Math.ceil(poolMax / 2)), ...SESSION_SETTINGS, pipeline: true } as pg.PoolConfig);
  survivePoolErrors(pool);
  let appRole: string;
  let pgvector: boolean;
  try {
    appRole = role ?? appRoleFor((await pool.query<{ name: string }>('select current_database() as name')).rows[0]!.name);
    pgvector = (await pool.query<{ v: boolean }>(`select exists (select 1 from pg_available_extensions where name = 'vector') as v`)).rows[0]!.v;
  } catch (error) {
    await pool.end();
    throw error;
  }
  // Request work has its own pool whose sessions *start* as the app role and read-only: whatever goes
  // wrong, a query there runs as a role that owns nothing, sees no rows until a tenant is set, and
  // cannot write outside an explicit read-write transaction.
  const tenantPool = new pg.Pool({
    connectionString: url,
    max: poolMax,
    ...SESSION_SETTINGS,
    options: `-c role=${appRole} -c default_transaction_read_only=on`,
    pipeline: true,
  } as pg.PoolConfig);
  survivePoolErrors(tenantPool);
  const system = drizzlePg(pool) as unknown as Db;
  const dialect = new PgDialect();
  // Drizzle handles per pooled session: a transaction object for writes (its .transaction() is a
  // savepoint) and a plain one for reads.
  const writers = new WeakMap<pg.PoolClient, Db>();
  const readers = new WeakMap<pg.PoolClient, Db>();
  const writerFor = (client: pg.PoolClient): Db => {
    let tx = writers.get(client);
    if (!tx) {
      const session = new NodePgSession(client, dialect, undefined, {});
      tx = new NodePgTransaction(dialect, session, undefined) as unknown as Db;
      writers.set(client, tx);
    }
    return tx;
  };
  const readerFor = (client: pg.PoolClient): Db => {
    let db = readers.get(client);
    if (!db) readers.set(client, (db = drizzlePg(client) as unknown as Db));
    return db;
  };

  /**
   * Reads run on a session bound to the tenant (a session-level app.tenant_id), not in a transaction
   * of their own. The kernel benchmark showed why: BEGIN and COMMIT cost as much CPU as the read they
   * wrap, on Node and on PostgreSQL alike, and a read's statements gain nothing from them (READ
   * COMMITTED gives each statement its own snapshot either way). The binding is checked on every
   * checkout and re-set when a session last served another tenant; a session whose binding we cannot
   * vouch for is destroyed. What DESIGN.md asks of SET LOCAL still holds: every query of a request
   * runs as the app role with that request's tenant set, and nothing runs with another tenant's.
   */
  const boundTenant = new WeakMap<pg.PoolClient, string>();

  async function read<T>(tenantId: string, fn: (db: Db) => Promise<T>): Promise<T> {
    const client = await tenantPool.connect();
    let broken: Error | undefined;
    try {
      if (boundTenant.get(client) !== tenantId) {
        boundTenant.delete(client);
        try {
          await client.query({ name: 'plinth_bind_tenant', text: `select set_config('app.tenant_id', $1, false)`, values: [tenantId] });
        } catch (error) {
          broken = error as Error;
          throw error;
        }
        boundTenant.set(client, tenantId);
      }
      return await fn(readerFor(client));
    } finally {
      client.release(broken);
    }
  }

  /** Queries `client` has queued, sent or is being answered for (pg's pipeline queues). */
  const queries = (client: pg.PoolClient) => {
    const c = client as unknown as { _queryQueue: unknown[]; _sentQueryQueue?: unknown[]; _activeQuery?: unknown };
    return c._queryQueue.length + (c._sentQueryQueue?.length ?? 0) + (c._activeQuery ? 1 : 0);
  };

  /**
   * `write` with the COMMIT pipelined behind `fn`'s statements (TenantTxOptions.commitAhead): BEGIN,
   * the statements and COMMIT leave in one write and cost one round trip. Should a statement fail, the
   * server aborts the transaction and answers that COMMIT with ROLLBACK, so nothing is written; the
   * statement's error is thrown, as `write` throws it.
   */
  async function writeAhead<T>(tenantId: string, fn: (tx: Db) => Promise<T>): Promise<T> {
    const client = await tenantPool.connect();
    let broken: Error | undefined;
    const stream = (client as unknown as { connection: { stream: { cork(): void; uncork(): void } } }).connection.stream;
    stream.cork();
    let uncorked = false;
    const uncork = () => {
      if (!uncorked) stream.uncork();
      uncorked = true;
    };
    try {
      const begin = client.query(`begin read write; select set_config('app.tenant_id', '${tenantId}', true)`);
      begin.catch(() => {});
      const before = queries(client);
      let work: Promise<T>;
      try {
        // Drizzle's queries are lazy thenables that run on each `then`: started here, exactly once.
        const started = fn(writerFor(client));
        work = new Promise<T>((resolve, reject) => started.then(resolve, reject));
      } catch (error) {
        work = Promise.reject(error);
      }
      work.catch(() => {});
      if (queries(client) === before) {
        // `fn` awaited something before sending a statement: the COMMIT cannot go ahead of what it
        // sends later. A mistake of the caller's: the session is closed (its transaction with it), so
        // nothing `fn` sends afterwards runs anywhere.
        broken = new Error('commitAhead: the work sent no statement before its first await');
        throw broken;
      }
      const commit = client.query('commit');
      commit.catch(() => {});
      setImmediate(uncork);
      let result: T;
      try {
        result = await work;
        await begin;
      } catch (error) {
        // The COMMIT behind the failed statement rolled the transaction back (or the session is gone).
        await commit.catch((e: Error) => (broken = e));
        throw error;
      }
      // A COMMIT that failed leaves a session we cannot vouch for: destroyed, not reused.
      const done = await commit.catch((e: Error) => {
        broken = e;
        throw e;
      });
      if (done.command !== 'COMMIT') throw new Error(`the transaction was not committed (${done.command})`);
      return result;
    } finally {
      uncork();
      client.release(broken);
    }
  }

  /**
   * A transaction on `client` whose BEGIN (`begin()` sends it) is not waited for: it goes out with
   * `fn`'s first statement and its error surfaces below. COMMIT, or ROLLBACK when `fn` throws; the
   * client is released, and destroyed when its ROLLBACK failed (a session we cannot vouch for).
   */
  async function pipelined<T>(client: pg.PoolClient, begin: () => Promise<unknown>, fn: (tx: Db) => Promise<T>): Promise<T> {
    let broken: Error | undefined;
    try {
      const begun = begin();
      begun.catch(() => {});
      let result: T;
      try {
        result = await fn(writerFor(client));
        await begun;
      } catch (error) {
        await client.query('rollback').catch((e: Error) => (broken = e));
        throw error;
      }
      await client.query('commit');
      return result;
    } finally {
      client.release(broken);
    }
  }

  /** A system transaction (owner role): BEGIN queued ahead of `fn`'s first statement, not waited for. */
  async function systemTransaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    // Should BEGIN fail, the session is gone (nothing else fails a BEGIN), and `fn`'s statements with it.
    const client = await pool.connect();
    return pipelined(client, () => client.query('begin'), fn);
  }

  async function write<T>(tenantId: string, fn: (tx: Db) => Promise<T>): Promise<T> {
    const client = await tenantPool.connect();
    // One simple-protocol message (the id is checked against TENANT_ID, so inlining it is safe), not
    // awaited: it goes out with the first query of `fn` (pipelined), and its error surfaces there.
    // Corked until the event loop turns so that both leave in one write, one system call. Should
    // BEGIN fail, the session is still read-only and the app role: `fn`'s statements fail or see nothing.
    // SET LOCAL ends with the transaction; a session's read binding is left as it was.
    return pipelined(
      client,
      () => {
        const stream = (client as unknown as { connection: { stream: { cork(): void; uncork(): void } } }).connection.stream;
        stream.cork();
        const begin = client.query(`begin read write; select set_config('app.tenant_id', '${tenantId}', true)`);
        setImmediate(() => stream.uncork());
        return begin;
      },
      fn,
    );
  }

  return {
    kind: 'postgres',
    appRole,
    pgvector,
    system,
    async tenant(tenantId, fn, options = {}) {
      assertTenantId(tenantId);
      if (options.within) {
        await options.within.execute(enterTenant(appRole, tenantId));
        return fn(options.within);
      }
      return options.readOnly ? read(tenantId, fn) : options.commitAhead ? writeAhead(tenantId, fn) : write(tenantId, fn);
    },
    untenanted(fn) {
      return system.transaction(async (tx) => {
        await tx.execute(enterNoTenant(appRole));
        return fn(tx as unknown as Db);
      });
    },
    systemTransaction,
    async withSession(fn) {
      const client = await pool.connect();
      let failed: Error | undefined;
      try {
        return await fn(drizzlePg(client) as unknown as Db);
      } catch (error) {
        // A session-level state (an advisory lock) may be left behind by a failure: not reused.
        failed = error as Error;
        throw error;
      } finally {
        client.release(failed);
      }
    },
    async raw(text, values) {
      const result = await pool.query(text, values?.length ? values : undefined);
      const last = Array.isArray(result) ? result.at(-1) : result;
      return { rows: last?.rows ?? [], rowCount: last?.rowCount ?? 0 };
    },
    async ping() {
      await pool.query('select 1');
    },
    async close() {
      await Promise.all([pool.ended ? undefined : pool.end(), tenantPool.ended ? undefined : tenantPool.end()]);
    },
  };
}
