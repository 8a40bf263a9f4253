import { parse, protocol, type QueryOptions, type Results } from '@electric-sql/pglite';
import { createRequire } from 'node:module';
import type { Message, PgliteEngine } from './pglite-engine.ts';

/**
 * Every statement Plinth sends to PGlite in one call into the engine, with a plan prepared once.
 *
 * PGlite's own `query` sends Parse, Describe, Bind, Describe, Execute and Sync as six separate calls
 * into the engine, parses every statement anew (an unnamed statement: parse, analyse, rewrite with the
 * row policies, plan), and its `transaction` sends BEGIN and COMMIT as calls of their own; a one-row
 * read with its tenant binding cost twelve calls and about 400 µs of CPU, most of it there rather than
 * in the read. PGlite's engine takes a buffer of several protocol messages in one call, as a PostgreSQL
 * server takes a client's pipelined writes, so here:
 * - each statement is Parse (first time only), Bind, Describe, Execute, Sync in one buffer;
 * - a statement's text is parsed once as a named prepared statement and reused, so PostgreSQL keeps its
 *   plan (its plan cache re-plans by itself when the role, the search path or a table changes);
 * - in a transaction, BEGIN and the tenant binding ride in front of the first statement and COMMIT is
 *   the last call; a read's statements each carry BEGIN and COMMIT too (see `transaction`), so a
 *   one-statement read is one call;
 * - work outside tenant transactions (the system database, `raw`, pg-boss) goes the same way (`client`).
 * A one-row read costs about a third of what it did (bench/read-path.ts). Parameters are converted as
 * node-postgres converts them (its `prepareValue`), the conversion the PostgreSQL mode already uses,
 * and rows are parsed by PGlite's own parsers, so results are what PGlite's `query` returns.
 *
 * This is PGlite's protocol interface (the message serializer, `parseResults`) over a PgliteEngine
 * (pglite-engine.ts: the engine on this thread or in a worker) and its two locks, taken as PGlite's own
 * `transaction` takes them, so nothing else runs between a transaction's calls. A call that is a whole
 * transaction (a read's statement, work outside transactions) holds the lock only while it is handed
 * to the engine (`post`), so such calls queue up in the engine without waiting for each other's answers.
 */

const serialize = protocol.serialize;
// node-postgres does not type its utils module; `prepareValue` is what its Client applies to every parameter.
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (value: unknown) => unknown };

/** What SystemClient.queryGeneric runs its statement behind (see Database.raw's `genericPlan`). */
const GENERIC_PLAN = 'begin; set local plan_cache_mode = force_generic_plan';

/** Statements kept prepared; past this, new texts are parsed unnamed each time (still one trip). */
const MAX_PREPARED = 2_000;

/** The messages of one statement (or simple-protocol text) and how to read the answer to them. */
interface Unit<T> {
  parts: Uint8Array[];
  read(segment: Message[]): T;
}

/** What Drizzle's PGlite session and `raw` call on a PGlite instance, served by PgliteWire. */
export interface SystemClient {
  query<T = Record<string, unknown>>(text: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>>;
  /** `query` under plan_cache_mode = force_generic_plan: BEGIN and the SET LOCAL, the statement and COMMIT in one call. */
  queryGeneric<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<Results<T>>;
  exec(text: string, options?: QueryOptions): Promise<Results[]>;
  transaction<T>(fn: (tx: WireTransaction) => Promise<T>): Promise<T>;
}

export class PgliteWire {
  readonly #client: PgliteEngine;
  readonly #prepared = new Map<string, string>();
  readonly #merged = new Map<string, Parameters<typeof parse.parseResults>[1]>();
  #seq = 0;
  /** The engine session the prepared names belong to. */
  #generation = 0;

  constructor(client: PgliteEngine) {
    this.#client = client;
  }

  /**
   * Runs `fn` between `begin` (BEGIN and the SET LOCALs, one simple-protocol text) and COMMIT, or
   * ROLLBACK when it throws. `perStatement` (reads): each statement is a transaction of its own, BEGIN,
   * the statement and COMMIT in one call, as reads on PostgreSQL run each statement on its own on a
   * session bound to the tenant (READ COMMITTED gives every statement its own snapshot either way);
   * a one-statement read is then one call instead of two. A failed BEGIN aborts the statement behind
   * it, so nothing runs unbound.
   */
  transaction<T>(begin: string, fn: (tx: WireTransaction) => Promise<T>, perStatement = false): Promise<T> {
    // Each statement whole (BEGIN ... COMMIT): nothing stays open between calls, so no lock is held
    // across them; each call takes the lock only to go out (see `handOver`).
    if (perStatement) {
      const tx = new WireTransaction(this, begin, true);
      return fn(tx).finally(() => tx.end('COMMIT'));
    }
    return this.#client.runExclusiveTransaction(async () => {
      const tx = new WireTransaction(this, begin, perStatement);
      let result: T;
      try {
        result = await fn(tx);
      } catch (error) {
        await tx.end('ROLLBACK').catch(() => {});
        throw error;
      }
      await tx.end('COMMIT');
      return result;
    });
  }

  /** The name `text` is prepared under, and whether this use must send its Parse. */
  statement(text: string): { name: string; parse: boolean } {
    if (this.#client.generation !== this.#generation) {
      this.#prepared.clear();
      this.#generation = this.#client.generation;
    }
    const name = this.#prepared.get(text);
    if (name !== undefined) return { name, parse: false };
    if (this.#prepared.size >= MAX_PREPARED) return { name: '', parse: true };
    const fresh = `plinth_${++this.#seq}`;
    this.#prepared.set(text, fresh);
    return { name: fresh, parse: true };
  }

  /** A statement whose Parse did not succeed, or whose plan no longer fits its table, is parsed anew next time. */
  forget(text: string): void {
    this.#prepared.delete(text);
  }

  /** One statement's messages (Parse on first use, Bind, Describe, Execute, Sync) and the reading of its answer. */
  extended<T>(text: string, params: unknown[], options: QueryOptions | undefined): Unit<Results<T>> {
    const statement = this.statement(text);
    const parts: Uint8Array[] = [];
    if (statement.parse) parts.push(serialize.parse({ name: statement.name, text }));
    parts.push(
      serialize.bind({ statement: statement.name, values: params.map((value) => prepareValue(value)) as string[] }),
      serialize.describe({ type: 'P' }),
      serialize.execute({}),
      serialize.sync(),
    );
    const read = (segment: Message[]) => {
      const error = segment.find((m) => m.name === 'error');
      // No ParseComplete: the text was never prepared. A changed table: the plan's row type is stale.
      if (statement.parse && !segment.some((m) => m.name === 'parseComplete')) this.forget(text);
      else if (error?.code === '0A000') this.forget(text);
      if (error) throw error;
      return parse.parseResults(segment as never, ...this.options(options))[0] as Results<T>;
    };
    return { parts, read };
  }

  /** A simple-protocol text (several statements allowed, no parameters) and the reading of its answers. */
  simple(text: string, options: QueryOptions | undefined): Unit<Results[]> {
    const read = (segment: Message[]) => {
      const error = segment.find((m) => m.name === 'error');
      if (error) throw error;
      return parse.parseResults(segment as never, ...this.options(options));
    };
    return { parts: [serialize.query(text)], read };
  }

  /**
   * The client of work outside tenant transactions (Drizzle's system database, `raw`, pg-boss): a
   * statement on its own is one call and a prepared plan, as in a transaction; `transaction` is
   * PgliteWire's. `refuse` names a call that must not be made now (from inside a tenant transaction,
   * where it would wait on the lock that transaction holds).
   */
  client(refuse: () => Error | undefined): SystemClient {
    // The unit is built under the lock: whether a text still needs its Parse is only known there.
    const alone = async <T>(build: () => Unit<T>) => {
      const refused = refuse();
      if (refused) throw refused;
      const { unit, reply } = await this.#client.runExclusiveTransaction(async () => {
        const unit = build();
        return { unit, reply: this.post(unit.parts) };
      });
      const [segment = []] = await reply;
      const result = unit.read(segment);
      // What PGlite's own query does after a statement outside a transaction (a no-op on Node's file systems).
      await this.#client.syncToFs();
      return result;
    };
    return {
      query: (text, params = [], options) => alone(() => this.extended(text, params, options)),
      queryGeneric: <T>(text: string, params: unknown[] = []) => {
        const refused = refuse();
        return refused ? Promise.reject(refused) : this.transaction(GENERIC_PLAN, (tx) => tx.query<T>(text, params), true);
      },
      exec: (text, options) => alone(() => this.simple(text, options)),
      transaction: (fn) => {
        const refused = refuse();
        return refused ? Promise.reject(refused) : this.transaction('begin', fn);
      },
    };
  }

  /** One call into the engine under PGlite's query lock; the messages of each Sync or simple query, in order. */
  async send(parts: Uint8Array[]): Promise<Message[][]> {
    return (await this.handOver(parts, false)).reply;
  }

  /**
   * `parts` handed to the engine under the query lock, its answer still to come. `whole`: a call that
   * opens and closes its own transaction (BEGIN ... COMMIT), under the transaction lock instead: it
   * waits for an open transaction to end, and the lock is not held while it is answered.
   */
  handOver(parts: Uint8Array[], whole: boolean): Promise<{ reply: Promise<Message[][]> }> {
    const hand = async () => ({ reply: this.post(parts) });
    return whole ? this.#client.runExclusiveTransaction(hand) : this.#client.runExclusiveQuery(hand);
  }

  /**
   * Hands `parts` to the engine now, in this turn, and answers with its messages per Sync or simple
   * query. The engine runs calls in the order they are handed over, one at a time: on this thread it
   * has run this one before `post` returns; in its worker, before anything handed over later. So a
   * lock held only while posting orders calls as a lock held until the answer would, and a worker's
   * next call does not wait for this thread to read the last answer.
   */
  post(parts: Uint8Array[]): Promise<Message[][]> {
    const buffer = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    return this.#client.exec(buffer).then((messages) => {
      const segments: Message[][] = [[]];
      for (const message of messages) {
        segments.at(-1)!.push(message);
        if (message.name === 'readyForQuery') segments.push([]);
      }
      if (segments.at(-1)!.length === 0) segments.pop();
      return segments;
    });
  }

  /**
   * PGlite's `parseResults` copies every type parser it has into a new object on each call that brings
   * parsers of its own, and Drizzle brings some (dates and intervals kept as text) with every query:
   * about a tenth of a read's CPU. The merge is made once per distinct set and passed as the defaults.
   */
  options(options: QueryOptions | undefined): [Parameters<typeof parse.parseResults>[1], QueryOptions | undefined] {
    const own = options?.parsers;
    if (!own) return [this.#client.parsers, options];
    let signature = '';
    for (const [oid, parser] of Object.entries(own)) signature += `${oid}:${parser.toString()};`;
    let merged = this.#merged.get(signature);
    if (!merged) {
      merged = { ...this.#client.parsers, ...own };
      this.#merged.set(signature, merged);
    }
    const { parsers: _, ...rest } = options;
    return [merged, rest];
  }
}

/** The client Drizzle's PGlite session is given inside a transaction: `query` and `exec`, as PGlite's transaction has. */
export class WireTransaction {
  readonly #wire: PgliteWire;
  /** BEGIN and the tenant binding, until the first statement carries them. */
  #begin: Uint8Array | undefined;
  /** Statements go out in the order they were called, even when `fn` does not await between them. */
  #chain: Promise<unknown> = Promise.resolve();
  /** The last statement's answer, read (COMMIT goes out after it). */
  #answered: Promise<unknown> = Promise.resolve();
  #ended = false;
  /** BEGIN and COMMIT around every statement (see PgliteWire.transaction). */
  readonly #each: { begin: Uint8Array; commit: Uint8Array } | undefined;

  constructor(wire: PgliteWire, begin: string, perStatement: boolean) {
    this.#wire = wire;
    if (perStatement) this.#each = { begin: serialize.query(begin), commit: serialize.query('COMMIT') };
    else this.#begin = serialize.query(begin);
  }

  query<T = Record<string, unknown>>(text: string, params: unknown[] = [], options?: QueryOptions): Promise<Results<T>> {
    return this.#enqueue(this.#wire.extended<T>(text, params, options));
  }

  exec(text: string, options?: QueryOptions): Promise<Results[]> {
    return this.#enqueue(this.#wire.simple(text, options));
  }

  /** COMMIT (or ROLLBACK) once every statement has answered; nothing is sent when no statement was. */
  async end(command: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    await this.#answered;
    // Nothing open: no statement was sent, or each was a transaction of its own.
    if (this.#begin || this.#each) return;
    const [segment = []] = await this.#wire.send([serialize.query(command)]);
    const error = segment.find((m) => m.name === 'error');
    if (error) throw error;
    // COMMIT of a transaction a statement failed in answers ROLLBACK: say so, as PGlite's transaction does.
    if (command === 'COMMIT' && segment.some((m) => m.name === 'commandComplete' && m.text === 'ROLLBACK')) {
      throw new Error('Transaction was aborted: a statement in it failed, so its COMMIT rolled it back');
    }
  }

  #enqueue<T>(unit: Unit<T>): Promise<T> {
    if (this.#ended) return Promise.reject(new Error('Transaction is closed'));
    // BEGIN and the binding lead the first statement (every statement, with #each, and COMMIT follows it).
    const each = this.#each;
    const lead = each?.begin ?? this.#begin;
    const parts = [...(lead ? [lead] : []), ...unit.parts, ...(each ? [each.commit] : [])];
    this.#begin = undefined;
    // In order, each handed over as soon as the one before it was (not answered): statements a caller
    // issues together (Promise.all) go to the engine back to back, as pg's pipeline mode sends them.
    const handed = this.#chain.then(() => this.#wire.handOver(parts, each !== undefined));
    this.#chain = handed.catch(() => {});
    const run = handed.then(async ({ reply }) => {
      const segments = await reply;
      // A leading BEGIN answers in a segment of its own; were it to fail, the statement behind it fails too
      // (the transaction is aborted), and BEGIN's error is the one that says why.
      const beginError = lead ? segments[0]?.find((m) => m.name === 'error') : undefined;
      if (beginError) throw beginError;
      return unit.read(segments[lead ? 1 : 0] ?? []);
    });
    this.#answered = run.catch(() => {});
    return run;
  }
}
