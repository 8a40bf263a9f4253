import { Mutex, PGlite, protocol, types } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

/** A backend message as PgliteWire reads it. */
export type Message = { name: string; text?: string; code?: string };

type Parsers = Record<number | string, (value: string, typeId?: number) => unknown>;

/**
 * The PGlite engine as PgliteWire drives it: a buffer of protocol messages in, the backend's messages
 * out, under PGlite's two locks (a transaction's statements, then one call at a time). Either the
 * engine runs on this thread (`InThreadEngine`), or in a worker thread of its own (`WorkerEngine`),
 * where PostgreSQL's work (planning, executing, its file system) no longer holds this thread's event
 * loop: HTTP, JSON and the engine then use both cores, and a background statement of pg-boss or the
 * rollups does not stall a streamed answer for its milliseconds.
 */
export interface PgliteEngine {
  readonly parsers: Parsers;
  readonly closed: boolean;
  /** Counts the sessions the engine has had: a new one (a restarted worker) has no prepared statements. */
  readonly generation: number;
  /** The PGlite instance, when it runs on this thread (benches query it directly). */
  readonly pglite?: PGlite;
  runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T>;
  runExclusiveQuery<T>(fn: () => Promise<T>): Promise<T>;
  /** The messages answering `buffer`, errors among them (not thrown). */
  exec(buffer: Uint8Array): Promise<Message[]>;
  syncToFs(): Promise<void>;
  /** The data directory as a tar; `gzip` compresses it (the embedded seed that ships in dist/). */
  dump(compression?: 'none' | 'gzip'): Promise<Blob>;
  close(): Promise<void>;
}

export interface PgliteEngineOptions {
  /** Directory, or undefined for memory. */
  dir: string | undefined;
  /** A dumped data directory to start from. */
  load?: Blob | File;
  worker: boolean;
}

export async function openPgliteEngine(options: PgliteEngineOptions): Promise<PgliteEngine> {
  if (options.worker) return WorkerEngine.open(options);
  // pgvector is compiled into the PGlite build; `create extension vector` (migration 0009) enables it.
  const pglite = await PGlite.create(options.dir, { extensions: { vector }, ...(await pgliteAssets()), ...(options.load ? { loadDataDir: options.load } : {}) });
  return new InThreadEngine(pglite);
}

type Assets = { pgliteWasmModule: WebAssembly.Module; fsBundle: Blob };
let assets: Promise<Assets | {}> | undefined;

/**
 * PGlite's WebAssembly module, compiled once per process, and its file-system bundle, read once: each
 * engine a process opens (a test worker opens one per test file) otherwise compiled the 9 MB module
 * again (about 0.2 s of an open), and the threads share one copy of its code. PGlite's own loading
 * (an empty object) where its files are not where this build of it keeps them.
 */
function pgliteAssets(): Promise<Assets | {}> {
  assets ??= (async () => {
    try {
      const dir = path.dirname(require.resolve('@electric-sql/pglite'));
      const [wasm, data] = await Promise.all([fs.readFile(path.join(dir, 'pglite.wasm')), fs.readFile(path.join(dir, 'pglite.data'))]);
      // The global is Node's; this project's type libraries do not declare it as a value.
      const wasmApi = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WebAssembly.Module> } }).WebAssembly;
      return { pgliteWasmModule: await wasmApi.compile(wasm), fsBundle: new Blob([data]) };
    } catch {
      return {};
    }
  })();
  return assets;
}

class InThreadEngine implements PgliteEngine {
  readonly generation = 1;
  constructor(readonly pglite: PGlite) {}
  get parsers() {
    return this.pglite.parsers as Parsers;
  }
  get closed() {
    return this.pglite.closed;
  }
  runExclusiveTransaction<T>(fn: () => Promise<T>) {
    return this.pglite._runExclusiveTransaction(fn);
  }
  runExclusiveQuery<T>(fn: () => Promise<T>) {
    return this.pglite._runExclusiveQuery(fn);
  }
  async exec(buffer: Uint8Array) {
    if (this.pglite.closed) throw new Error('PGlite is closed');
    return (await this.pglite.execProtocolStream(buffer, { syncToFs: false, throwOnError: false })) as unknown as Message[];
  }
  syncToFs() {
    return this.pglite.syncToFs();
  }
  async dump(compression: 'none' | 'gzip' = 'none') {
    return this.pglite.dumpDataDir(compression);
  }
  async close() {
    if (!this.pglite.closed) await this.pglite.close();
  }
}

const require = createRequire(import.meta.url);

/**
 * What the worker thread runs: plain CommonJS, so it runs the same under tsx, vitest and the built
 * dist (as the vector store's graph worker). Requests are answered in order, one at a time: a call
 * into the engine is synchronous.
 */
const WORKER_SOURCE = `
const { parentPort, workerData: w } = require('node:worker_threads');
const { PGlite } = require(w.pglite);
const { vector } = require(w.vector);
const fail = (id, error) => parentPort.postMessage({ id, error: String((error && error.stack) || error) });
(async () => {
  let db;
  try {
    db = await PGlite.create(w.dir, { extensions: { vector }, ...w.assets, ...(w.load ? { loadDataDir: new Blob([w.load]) } : {}) });
  } catch (error) {
    return fail(0, error);
  }
  parentPort.on('message', async (m) => {
    try {
      if (m.op === 'exec') {
        const chunks = [];
        let size = 0;
        await db.execProtocolRawStream(m.bytes, { syncToFs: false, onRawData: (c) => { chunks.push(c.slice()); size += c.length; } });
        const out = chunks.length === 1 ? chunks[0] : new Uint8Array(size);
        if (chunks.length !== 1) { let at = 0; for (const c of chunks) { out.set(c, at); at += c.length; } }
        parentPort.postMessage({ id: m.id, out }, [out.buffer]);
      } else if (m.op === 'dump') {
        const out = await (await db.dumpDataDir(m.compression)).arrayBuffer();
        parentPort.postMessage({ id: m.id, out }, [out]);
      } else if (m.op === 'close') {
        if (!db.closed) await db.close();
        parentPort.postMessage({ id: m.id });
      }
    } catch (error) {
      fail(m.id, error);
    }
  });
  parentPort.postMessage({ id: 0 });
})();
`;

type Pending = { resolve: (value: any) => void; reject: (error: Error) => void };

class WorkerEngine implements PgliteEngine {
  readonly parsers: Parsers = { ...(types.parsers as Parsers) };
  readonly #transactions = new Mutex();
  readonly #pending = new Map<number, Pending>();
  readonly #dir: string | undefined;
  #worker!: Worker;
  // One parser for the engine's answers; each answer is whole, so none is left half-read.
  #parser = new protocol.Parser();
  #seq = 0;
  #closed = false;
  /** Why the worker is gone, while it is: calls fail with it (a 503) until a new one is up. */
  #down: Error | undefined;
  generation = 0;

  private constructor(dir: string | undefined) {
    this.#dir = dir;
  }

  static async open(options: PgliteEngineOptions): Promise<WorkerEngine> {
    const engine = new WorkerEngine(options.dir);
    await engine.#start(options.load ? await options.load.arrayBuffer() : undefined);
    return engine;
  }

  /** A worker on the data directory (or on `load`), ready once PGlite is up and its array types are known. */
  async #start(load?: ArrayBuffer): Promise<void> {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { pglite: require.resolve('@electric-sql/pglite'), vector: require.resolve('@electric-sql/pglite-pgvector'), dir: this.#dir, load, assets: await pgliteAssets() },
      transferList: load ? [load] : [],
    });
    this.#worker = worker;
    this.#parser = new protocol.Parser();
    worker.on('message', (m: { id: number; out?: Uint8Array | ArrayBuffer; error?: string }) => {
      const pending = this.#pending.get(m.id);
      if (!pending) return;
      this.#pending.delete(m.id);
      // Only a call in flight keeps the process alive, as an in-thread PGlite would.
      if (this.#pending.size === 0) worker.unref();
      if (m.error !== undefined) pending.reject(new Error(`PGlite worker: ${m.error}`));
      else pending.resolve(m.out);
    });
    // 'exit' follows an uncaught error too.
    worker.on('error', () => {});
    worker.on('exit', (code) => this.#lost(worker, new Error(`PGlite worker exited (code ${code})`)));
    try {
      await this.#send(0, undefined, []);
      await this.#initArrayTypes();
    } catch (error) {
      await worker.terminate();
      throw error;
    }
    this.#down = undefined;
    this.generation++;
  }

  /**
   * The worker ended without being closed (a crash, its heap exhausted): what was in flight fails, and
   * on a data directory a new worker starts on it (PostgreSQL recovers from its WAL), tried again with
   * a growing pause until one comes up. An in-memory database has nothing to come back to: it stays closed.
   */
  #lost(worker: Worker, error: Error) {
    if (worker !== this.#worker) return;
    // Also a worker that ended while starting: its start fails instead of waiting for an answer.
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    if (this.#closed || this.#down) return;
    this.#down = error;
    // Never up (the first start failed, and says why to whoever opened it), or nothing to come back to.
    if (this.#dir === undefined || this.generation === 0) {
      this.#closed = true;
      return;
    }
    void (async () => {
      for (let pause = 100; !this.#closed; pause = Math.min(pause * 2, 30_000)) {
        await new Promise((resolve) => setTimeout(resolve, pause).unref());
        if (this.#closed) return;
        try {
          return await this.#start();
        } catch {
          // tried again after a longer pause
        }
      }
    })();
  }

  /** Ends the worker as a crash would (the recovery test). */
  async kill(): Promise<void> {
    await this.#worker.terminate();
  }

  get closed() {
    return this.#closed;
  }

  runExclusiveTransaction<T>(fn: () => Promise<T>) {
    return this.#transactions.runExclusive(fn);
  }

  // The worker runs calls one at a time in the order they are posted: nothing to exclude here.
  runExclusiveQuery<T>(fn: () => Promise<T>) {
    return fn();
  }

  async exec(buffer: Uint8Array): Promise<Message[]> {
    // A copy the worker may own: the caller's buffer may be a view into a larger one.
    const bytes = buffer.slice();
    return this.#read((await this.#request({ op: 'exec', bytes }, [bytes.buffer])) as Uint8Array);
  }

  /** `exec` for the worker being started, before calls are let through. */
  async #execStarting(buffer: Uint8Array): Promise<Message[]> {
    const id = ++this.#seq;
    return this.#read((await this.#send(id, { op: 'exec', id, bytes: buffer }, [])) as Uint8Array);
  }

  #read(out: Uint8Array): Message[] {
    const messages: Message[] = [];
    this.#parser.parse(out, (message) => messages.push(message as unknown as Message));
    return messages;
  }

  /** PGlite's sync is a no-op on the file systems it has in Node (its directory and memory write through): no trip for nothing. */
  async syncToFs() {}

  async dump(compression: 'none' | 'gzip' = 'none') {
    return new Blob([(await this.#request({ op: 'dump', compression })) as ArrayBuffer]);
  }

  async close() {
    if (this.#closed) return;
    // After what is queued: a transaction or call in flight finishes first, as PGlite's own close waits.
    await this.#transactions.runExclusive(async () => {
      if (this.#closed) return;
      await this.#request({ op: 'close' }).catch(() => {});
      this.#closed = true;
    });
    this.#down = undefined;
    await this.#worker.terminate();
  }

  #request(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#down ?? new Error('PGlite is closed'));
    if (this.#down) return Promise.reject(this.#down);
    const id = ++this.#seq;
    return this.#send(id, { ...message, id }, transfer);
  }

  #send(id: number, message: Record<string, unknown> | undefined, transfer: ArrayBuffer[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      if (message) this.#worker.postMessage(message, transfer);
    });
  }

  /** The array types' parsers, as PGlite builds them for itself at start (BasePGlite._initArrayTypes). */
  async #initArrayTypes() {
    const messages = await this.#execStarting(
      protocol.serialize.query(
        `select b.oid, b.typarray from pg_catalog.pg_type a left join pg_catalog.pg_type b on b.oid = a.typelem
         where a.typcategory = 'A' group by b.oid, b.typarray order by b.oid`,
      ),
    );
    for (const message of messages as unknown as { name: string; fields?: (string | null)[] }[]) {
      if (message.name !== 'dataRow' || !message.fields) continue;
      const [oid, typarray] = message.fields.map(Number) as [number, number];
      this.parsers[typarray] = (value: string) => types.arrayParser(value, this.parsers[oid] as never, typarray);
    }
  }
}
