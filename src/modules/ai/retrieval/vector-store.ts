import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { sql } from 'drizzle-orm';
import hnswlib from 'hnswlib-node';
import { rows, type Db } from '../../../core/db/client.ts';
import type { Kernel } from '../../../core/kernel.ts';

/**
 * Where vectors are searched, chosen once per process from the database (see Database.pgvector):
 * - `pgvector`: the `embedding_v vector(512)` column and its HNSW index (migration 0009). Tenant-filtered
 *   queries set `hnsw.iterative_scan = relaxed_order` (pgvector >= 0.8; PGlite ships 0.8.7) so the scan
 *   goes on until it has k rows of the tenant instead of stopping at ef_search candidates.
 * - `hnsw`: PostgreSQL without pgvector. Vectors are stored as real[]; each process keeps, per tenant, an
 *   in-process index (hnswlib-node) built from them at the tenant's first search (the graph in a worker
 *   thread, searches exact until it is ready) and kept current:
 *   every search first reads the chunks written since the last one it saw (`seq`), chunks deleted here
 *   are dropped at once, and a hit whose row is gone (deleted by another process) is dropped when
 *   seen. A tenant with fewer than EXACT_MAX vectors is searched exactly (brute force) instead.
 */
export type VectorIndexKind = 'pgvector' | 'hnsw';

export const DIMENSIONS = 512;
/** Below this many vectors a tenant is searched exactly; above it through HNSW. */
export const EXACT_MAX = 5_000;
const HNSW_M = 16;
/**
 * 100, not 200: building the graph is what a tenant's first search pays (20,000 vectors of the bench's
 * clustered embeddings: about 3,500 points/s at 100 against 2,200 at 200, recall@10 0.990 against 1.000
 * at ef_search 200). 64 (pgvector's default) built 26% cheaper again with the same recall on the bench's
 * data (100,000 vectors, 0.995), but the unit test's noisier clusters fell to 0.93 with it.
 */
const HNSW_EF_CONSTRUCTION = 100;
const HNSW_EF_SEARCH = 200;

export interface NewChunk {
  id: string;
  tenantId: string;
  source: 'object' | 'file';
  sourceId: string;
  objectTypeId: string | null;
  property: string | null;
  chunkIndex: number;
  text: string;
  contentHash: string;
  model: string;
  vector: number[];
}

export interface Candidate {
  id: string;
  source: 'object' | 'file';
  sourceId: string;
  objectTypeId: string | null;
  property: string | null;
  text: string;
  /** Cosine similarity, 1 = same direction. */
  score: number;
}

export interface CandidateFilter {
  sources?: readonly ('object' | 'file')[];
  types?: readonly string[];
}

const vectorLiteral = (v: readonly number[]) => `[${v.join(',')}]`;
const arrayLiteral = (v: readonly number[]) => `{${v.join(',')}}`;

interface Meta {
  source: 'object' | 'file';
  type: string | null;
}

const HNSWLIB = createRequire(import.meta.url).resolve('hnswlib-node');

/** What buildGraphInWorker runs (plain JS, so it runs the same under tsx, vitest and the built dist). */
const GRAPH_WORKER = `
const { workerData: w } = require('node:worker_threads');
const hnswlib = require(w.module);
const graph = new hnswlib.HierarchicalNSW('ip', w.dimensions);
graph.initIndex(w.capacity, w.m, w.efConstruction, 100);
const deleted = new Set(w.deleted);
const point = new Array(w.dimensions);
for (let label = 0; label < w.count; label++) {
  for (let d = 0; d < w.dimensions; d++) point[d] = w.flat[label * w.dimensions + d];
  graph.addPoint(point, label);
  if (deleted.has(label)) graph.markDelete(label);
}
graph.writeIndexSync(w.file);
`;

/** At most `limit` tasks at once, the others queued in order. */
class Limiter {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.running++;
    try {
      return await task();
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }
}

/** Graph builds at once in this process: one per core. */
const graphBuilds = new Limiter(Math.max(1, os.availableParallelism()));

/** One tenant's in-process index (exported for its unit test). */
export class TenantIndex {
  labels: string[] = [];
  meta: Meta[] = [];
  byId = new Map<string, number>();
  deleted = new Set<number>();
  /** Vectors for exact search (flat, DIMENSIONS per label) until the HNSW graph takes over. */
  flat: Float32Array | null = new Float32Array(1024 * DIMENSIONS);
  hnsw: hnswlib.HierarchicalNSW | null = null;
  lastSeq = 0;
  /**
   * Sequence numbers are taken when a row is inserted, not when its transaction commits, so a row with
   * a lower seq can become visible after a higher one was read. Every RECHECK_MS the rows above the
   * position of one period earlier are listed again and any not yet known are added.
   */
  recheckFrom = 0;
  recheckedAt = Date.now();
  /** Serialises catch-ups and searches of this tenant. */
  lock: Promise<unknown> = Promise.resolve();

  get live(): number {
    return this.labels.length - this.deleted.size;
  }

  /**
   * `switchToGraph`: past EXACT_MAX vectors, build the graph here and now (on this thread). Catch-ups
   * pass false and build it in a worker once the batch is in (buildGraphInWorker).
   */
  add(id: string, meta: Meta, vector: ArrayLike<number>, switchToGraph = true): void {
    if (this.byId.has(id)) return;
    const label = this.labels.length;
    this.labels.push(id);
    this.meta.push(meta);
    this.byId.set(id, label);
    if (this.hnsw) {
      if (label >= this.hnsw.getMaxElements()) this.hnsw.resizeIndex(Math.max(1024, label * 2));
      this.hnsw.addPoint(Array.from(vector), label);
      return;
    }
    if ((label + 1) * DIMENSIONS > this.flat!.length) {
      const grown = new Float32Array(this.flat!.length * 2);
      grown.set(this.flat!);
      this.flat = grown;
    }
    this.flat!.set(vector, label * DIMENSIONS);
    if (switchToGraph && this.live > EXACT_MAX) this.buildGraph();
  }

  /** The graph being built in a worker, if one is (see buildGraphInWorker). */
  building: Promise<void> | null = null;

  /**
   * buildGraph in a worker thread, at most one per core in the process at once: building the graph of
   * 100,000 vectors takes tens of seconds of CPU, which on the main thread stopped every request of every
   * tenant for that long (and held the search's database session), and tenants' first searches could
   * not use a second core. Searches meanwhile are exact over the vectors held here. The worker writes the
   * graph to a temporary file that hnswlib reads back off the main thread; then, with no await between,
   * the vectors added and the deletions made since the worker started are applied and the graph takes
   * over. Should the worker fail, the graph is built here instead.
   */
  buildGraphInWorker(): Promise<void> {
    this.building ??= this.graphFromWorker().finally(() => {
      this.building = null;
    });
    return this.building;
  }

  private async graphFromWorker(): Promise<void> {
    const count = this.labels.length;
    const deleted = [...this.deleted];
    const file = path.join(os.tmpdir(), `plinth-hnsw-${process.pid}-${randomUUID()}.bin`);
    let graph: hnswlib.HierarchicalNSW | null = null;
    try {
      await graphBuilds.run(
        () =>
          new Promise<void>((resolve, reject) => {
            const flat = this.flat!.slice(0, count * DIMENSIONS);
            const worker = new Worker(GRAPH_WORKER, {
              transferList: [flat.buffer],
              eval: true,
              workerData: {
                module: HNSWLIB,
                dimensions: DIMENSIONS,
                capacity: Math.max(1024, count * 2),
                m: HNSW_M,
                efConstruction: HNSW_EF_CONSTRUCTION,
                count,
                deleted,
                flat,
                file,
              },
            });
            worker.once('error', reject);
            worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`graph worker exited with ${code}`))));
          }),
      );
      graph = new hnswlib.HierarchicalNSW('ip', DIMENSIONS);
      await graph.readIndex(file);
    } catch {
      graph = null;
    } finally {
      await fs.promises.rm(file, { force: true });
    }
    if (this.hnsw) return; // built on this thread meanwhile (add() with switchToGraph)
    if (!graph) return this.buildGraph();
    const flat = this.flat!;
    const point = new Array<number>(DIMENSIONS);
    if (this.labels.length > graph.getMaxElements()) graph.resizeIndex(this.labels.length * 2);
    for (let label = count; label < this.labels.length; label++) {
      for (let d = 0; d < DIMENSIONS; d++) point[d] = flat[label * DIMENSIONS + d]!;
      graph.addPoint(point, label);
    }
    const sent = new Set(deleted);
    for (const label of this.deleted) if (!sent.has(label)) graph.markDelete(label);
    graph.setEf(HNSW_EF_SEARCH);
    this.hnsw = graph;
    this.flat = null;
  }

  /** Moves from exact search to an HNSW graph over every live vector. */
  buildGraph(): void {
    const flat = this.flat!;
    const graph = new hnswlib.HierarchicalNSW('ip', DIMENSIONS);
    graph.initIndex(Math.max(1024, this.labels.length * 2), HNSW_M, HNSW_EF_CONSTRUCTION, 100);
    graph.setEf(HNSW_EF_SEARCH);
    const point = new Array<number>(DIMENSIONS);
    for (let label = 0; label < this.labels.length; label++) {
      for (let d = 0; d < DIMENSIONS; d++) point[d] = flat[label * DIMENSIONS + d]!;
      graph.addPoint(point, label);
      if (this.deleted.has(label)) graph.markDelete(label);
    }
    this.hnsw = graph;
    this.flat = null;
  }

  remove(id: string): void {
    const label = this.byId.get(id);
    if (label === undefined || this.deleted.has(label)) return;
    this.deleted.add(label);
    this.hnsw?.markDelete(label);
  }

  search(query: number[], n: number, filter: CandidateFilter): { id: string; score: number }[] {
    const sources = filter.sources?.length ? new Set(filter.sources) : null;
    const types = filter.types?.length ? new Set(filter.types) : null;
    const admits = (label: number) => {
      if (this.deleted.has(label)) return false;
      const m = this.meta[label]!;
      if (sources && !sources.has(m.source)) return false;
      if (types && m.source === 'object' && !(m.type !== null && types.has(m.type))) return false;
      if (types && m.source === 'file' && !sources?.has('file')) return false;
      return true;
    };
    if (this.hnsw) {
      const count = Math.min(n, this.live);
      if (count <= 0) return [];
      this.hnsw.setEf(Math.max(HNSW_EF_SEARCH, count));
      const out = sources || types ? this.hnsw.searchKnn(query, count, admits) : this.hnsw.searchKnn(query, count);
      return out.neighbors.map((label, i) => ({ id: this.labels[label]!, score: 1 - out.distances[i]! }));
    }
    // Exact: every admitted vector, keeping the best n.
    const flat = this.flat!;
    const best: { label: number; score: number }[] = [];
    for (let label = 0; label < this.labels.length; label++) {
      if (!admits(label)) continue;
      let dot = 0;
      const base = label * DIMENSIONS;
      for (let d = 0; d < DIMENSIONS; d++) dot += flat[base + d]! * query[d]!;
      if (best.length < n) {
        best.push({ label, score: dot });
        if (best.length === n) best.sort((a, b) => b.score - a.score);
      } else if (dot > best[n - 1]!.score) {
        best[n - 1] = { label, score: dot };
        for (let i = n - 1; i > 0 && best[i]!.score > best[i - 1]!.score; i--) [best[i], best[i - 1]] = [best[i - 1]!, best[i]!];
      }
    }
    best.sort((a, b) => b.score - a.score);
    return best.map((b) => ({ id: this.labels[b.label]!, score: b.score }));
  }
}

const CATCH_UP_BATCH = 2_000;

/**
 * A real[] in PostgreSQL's binary array form (array_send): ndim, has-nulls flag and element type (int32
 * each), then per dimension its length and lower bound, then per element its byte length (int32) and the
 * big-endian float4. Read as such, not as text: the text form cost the server float4out and this process a
 * parse of 512 decimal numbers per vector, most of the time it took to read 100,000 vectors.
 */
function arrayFromBinary(value: unknown): Float32Array {
  const bytes = decodeBytea(value);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ndim = view.getInt32(0);
  let offset = 12 + ndim * 8;
  const length = ndim === 0 ? 0 : view.getInt32(12);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const size = view.getInt32(offset);
    if (size < 0) throw new Error('null element in a stored embedding');
    out[i] = view.getFloat32(offset + 4);
    offset += 4 + size;
  }
  return out;
}

/** bytea as node-postgres (Buffer) or PGlite (Uint8Array) returns it, or its hex text form. */
function decodeBytea(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string' && value.startsWith('\\x')) return Buffer.from(value.slice(2), 'hex');
  throw new Error('unexpected bytea value');
}
const RECHECK_MS = 30_000;

export class VectorStore {
  readonly kind: VectorIndexKind;
  private readonly tenants = new Map<string, TenantIndex>();

  constructor(kernel: Pick<Kernel, 'db'>) {
    this.kind = kernel.db.pgvector ? 'pgvector' : 'hnsw';
  }

  /** Inserts chunks (in the caller's transaction). */
  async insert(db: Db, chunks: NewChunk[]): Promise<void> {
    const column = this.kind === 'pgvector' ? sql.raw('embedding_v') : sql.raw('embedding');
    for (let i = 0; i < chunks.length; i += 200) {
      const values = chunks.slice(i, i + 200).map((c) => {
        const vector = this.kind === 'pgvector' ? sql`${vectorLiteral(c.vector)}::vector` : sql`${arrayLiteral(c.vector)}::real[]`;
        return sql`(${c.tenantId}, ${c.id}, ${c.source}, ${c.sourceId}, ${c.objectTypeId}, ${c.property}, ${c.chunkIndex}, ${c.text}, ${c.contentHash}, ${c.model}, ${vector})`;
      });
      await db.execute(sql`insert into ai_chunks (tenant_id, id, source, source_id, object_type_id, property, chunk_index, text, content_hash, model, ${column})
        values ${sql.join(values, sql`, `)}`);
    }
  }

  /** Stored embeddings of chunks with these content hashes (identical text is not embedded twice). */
  async reusable(db: Db, tenantId: string, hashes: string[]): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    if (hashes.length === 0) return out;
    const column = this.kind === 'pgvector' ? sql.raw('embedding_v::text') : sql.raw('embedding');
    const found = rows<{ content_hash: string; v: string | number[] }>(
      await db.execute(sql`select distinct on (content_hash) content_hash, ${column} as v from ai_chunks
        where tenant_id = ${tenantId} and content_hash in (${sql.join(hashes.map((h) => sql`${h}`), sql`, `)})`),
    );
    for (const r of found) {
      const v = typeof r.v === 'string' ? (JSON.parse(r.v.replace(/^\{/, '[').replace(/\}$/, ']')) as number[]) : r.v;
      if (v && v.length === DIMENSIONS) out.set(r.content_hash, v.map(Number));
    }
    return out;
  }

  /** Tells this process's index that chunks were deleted (after the deleting transaction committed). */
  forget(tenantId: string, ids: string[]): void {
    const index = this.tenants.get(tenantId);
    if (index) for (const id of ids) index.remove(id);
  }

  /** The `n` nearest chunks of the tenant, best first, with their text (RLS applies through `db`). */
  async search(db: Db, tenantId: string, query: number[], n: number, filter: CandidateFilter = {}): Promise<Candidate[]> {
    if (this.kind === 'pgvector') return this.searchPg(db, tenantId, query, n, filter);
    let index = this.tenants.get(tenantId);
    if (!index) this.tenants.set(tenantId, (index = new TenantIndex()));
    const tenant = index;
    const run = tenant.lock.then(async () => {
      await this.catchUp(db, tenantId, tenant);
      return tenant.search(query, n, filter);
    });
    tenant.lock = run.catch(() => {});
    const hits = await run;
    if (hits.length === 0) return [];
    const found = rows<{ id: string; source: 'object' | 'file'; source_id: string; object_type_id: string | null; property: string | null; text: string }>(
      await db.execute(sql`select id, source, source_id, object_type_id, property, text from ai_chunks
        where tenant_id = ${tenantId} and id in (${sql.join(hits.map((h) => sql`${h.id}`), sql`, `)})`),
    );
    const byId = new Map(found.map((r) => [r.id, r]));
    const out: Candidate[] = [];
    for (const hit of hits) {
      const r = byId.get(hit.id);
      // Deleted by another process since this index saw it.
      if (!r) tenant.remove(hit.id);
      else out.push({ id: r.id, source: r.source, sourceId: r.source_id, objectTypeId: r.object_type_id, property: r.property, text: r.text, score: hit.score });
    }
    return out;
  }

  private async catchUp(db: Db, tenantId: string, index: TenantIndex): Promise<void> {
    const first = index.lastSeq === 0;
    for (;;) {
      const batch = rows<{ id: string; seq: string | number; source: 'object' | 'file'; object_type_id: string | null; embedding: unknown }>(
        await db.execute(sql`select id, seq, source, object_type_id, array_send(embedding) as embedding from ai_chunks
          where tenant_id = ${tenantId} and seq > ${index.lastSeq} and embedding is not null order by seq limit ${CATCH_UP_BATCH}`),
      );
      for (const r of batch) {
        index.add(r.id, { source: r.source, type: r.object_type_id }, arrayFromBinary(r.embedding), false);
        index.lastSeq = Math.max(index.lastSeq, Number(r.seq));
      }
      if (batch.length < CATCH_UP_BATCH) break;
    }
    if (first) index.recheckFrom = index.lastSeq;
    else if (Date.now() - index.recheckedAt > RECHECK_MS) await this.recheck(db, tenantId, index);
    // Past EXACT_MAX vectors the tenant moves to a graph, built in a worker; this search and those until
    // it is ready are exact (the rows read above were added to the exact index only).
    if (!index.hnsw && index.live > EXACT_MAX) void index.buildGraphInWorker();
  }

  /** Resolves when no tenant's graph is being built (benchmarks wait for it before timing searches). */
  async graphsBuilt(): Promise<void> {
    for (;;) {
      const pending = [...this.tenants.values()].map((t) => t.building).filter((b): b is Promise<void> => b !== null);
      if (pending.length === 0) return;
      await Promise.all(pending);
    }
  }

  /** Adds rows that committed late (see TenantIndex.recheckFrom). */
  private async recheck(db: Db, tenantId: string, index: TenantIndex): Promise<void> {
    const listed = rows<{ id: string }>(
      await db.execute(sql`select id from ai_chunks where tenant_id = ${tenantId} and seq > ${index.recheckFrom} and embedding is not null`),
    );
    const unknown = listed.map((r) => r.id).filter((id) => !index.byId.has(id));
    for (let i = 0; i < unknown.length; i += 500) {
      const batch = rows<{ id: string; source: 'object' | 'file'; object_type_id: string | null; embedding: unknown }>(
        await db.execute(sql`select id, source, object_type_id, array_send(embedding) as embedding from ai_chunks
          where tenant_id = ${tenantId} and id in (${sql.join(unknown.slice(i, i + 500).map((id) => sql`${id}`), sql`, `)})`),
      );
      for (const r of batch) {
        index.add(r.id, { source: r.source, type: r.object_type_id }, arrayFromBinary(r.embedding), false);
      }
    }
    index.recheckFrom = index.lastSeq;
    index.recheckedAt = Date.now();
  }

  /** Chunks of a tenant and of the table, as last counted (refreshed every COUNT_TTL_MS). */
  private readonly counts = new Map<string, { tenant: number; table: number; at: number }>();

  private async sizes(db: Db, tenantId: string): Promise<{ tenant: number; table: number }> {
    const cached = this.counts.get(tenantId);
    if (cached && Date.now() - cached.at < COUNT_TTL_MS) return cached;
    const [row] = rows<{ tenant: number | string; table: number | string }>(
      await db.execute(sql`select (select count(*) from ai_chunks where tenant_id = ${tenantId}) as tenant,
        (select greatest(reltuples, 0) from pg_class where oid = 'ai_chunks'::regclass) as table`),
    );
    const sizes = { tenant: Number(row?.tenant ?? 0), table: Number(row?.table ?? 0), at: Date.now() };
    this.counts.set(tenantId, sizes);
    return sizes;
  }

  /**
   * pgvector. PostgreSQL's planner prices the exact plan (the tenant's rows by btree, every distance,
   * a sort) too low against the HNSW index once a tenant has thousands of chunks (measured on PGlite:
   * 75 ms exact against 1.5 ms through the index for 8,000 chunks). So a tenant big enough for the
   * graph to pay (over EXACT_MAX chunks and at least 1% of the table) is searched with sorting
   * discouraged, which leaves the HNSW index the only ordered path; smaller tenants are searched
   * exactly. Should the graph still return fewer rows than asked (its iterative scan stops at
   * hnsw.max_scan_tuples), the query runs again exactly. All of it is one statement, the function
   * ai_chunks_nearest (migration 0029), which carries its settings: no transaction, no SET statements.
   */
  private async searchPg(db: Db, tenantId: string, query: number[], n: number, filter: CandidateFilter): Promise<Candidate[]> {
    const size = await this.sizes(db, tenantId);
    const graph = size.tenant > EXACT_MAX && size.tenant >= size.table * 0.01;
    const sources = filter.sources?.length ? textArray(filter.sources) : null;
    const types = filter.types?.length ? textArray(filter.types) : null;
    const [row] = rows<{ hits: PgHit[] | string }>(
      await db.execute(sql`select ai_chunks_nearest(${tenantId}, ${scaledIntegers(query)}::int[]::real[]::vector, ${n}::int, ${sources}::text[], ${types}::text[], ${graph}::boolean) as hits`),
    );
    const found = typeof row?.hits === 'string' ? (JSON.parse(row.hits) as PgHit[]) : (row?.hits ?? []);
    // relaxed_order may return rows slightly out of order.
    return found
      .map((r) => ({ id: r.id, source: r.source, sourceId: r.source_id, objectTypeId: r.object_type_id, property: r.property, text: r.text, score: 1 - Number(r.distance) }))
      .sort((a, b) => b.score - a.score);
  }
}

/**
 * The query vector as an int[] literal of its components scaled to +-1,000,000 of the largest. Cosine
 * distance does not change with the scale, and integers are cheap to read: PGlite's WASM build reads
 * floats at about 9 us each (4.5 ms for a 512-dimension vector, more than the search through the
 * index), integers a tenth of that.
 */
function scaledIntegers(v: readonly number[]): string {
  let max = 0;
  for (const x of v) max = Math.max(max, Math.abs(x));
  const scale = max > 0 ? 1_000_000 / max : 0;
  return `{${v.map((x) => Math.round(x * scale)).join(',')}}`;
}

/** A text[] literal (each element quoted), for a parameter PGlite and node-postgres both pass as text. */
function textArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`).join(',')}}`;
}

type PgHit = { id: string; source: 'object' | 'file'; source_id: string; object_type_id: string | null; property: string | null; text: string; distance: number };
const COUNT_TTL_MS = 60_000;

const stores = new WeakMap<object, VectorStore>();

/** The process's store for a kernel (one per kernel: tests run many side by side). */
export function vectorStore(kernel: Pick<Kernel, 'db'>): VectorStore {
  let store = stores.get(kernel.db);
  if (!store) stores.set(kernel.db, (store = new VectorStore(kernel)));
  return store;
}
