import { describe, expect, it } from 'vitest';
import { DIMENSIONS, EXACT_MAX, TenantIndex } from './vector-store.ts';

/** Seeded unit vectors in clusters, like embeddings of similar records. */
function vectors(n: number, seed = 1): Float32Array[] {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 4294967296) - 0.5;
  const centres = Array.from({ length: 50 }, () => Array.from({ length: DIMENSIONS }, rand));
  return Array.from({ length: n }, (_, i) => {
    const c = centres[i % centres.length]!;
    const v = Float32Array.from(c, (x) => x + rand() * 0.5);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}

function exact(all: Float32Array[], q: Float32Array, k: number, skip = new Set<number>()): number[] {
  return all
    .map((v, i) => ({ i, s: v.reduce((sum, x, d) => sum + x * q[d]!, 0) }))
    .filter((x) => !skip.has(x.i))
    .sort((a, b) => b.s - a.s)
    .slice(0, k)
    .map((x) => x.i);
}

describe('the in-process index (PostgreSQL without pgvector)', () => {
  it('searches exactly while small, with source and type filters and deletions', () => {
    const index = new TenantIndex();
    const all = vectors(300);
    all.forEach((v, i) => index.add(`c${i}`, { source: i % 3 === 0 ? 'file' : 'object', type: i % 2 ? 'ot_a' : 'ot_b' }, v));
    expect(index.hnsw).toBeNull();
    const q = all[7]!;
    expect(index.search(Array.from(q), 10, {}).map((h) => h.id)).toEqual(exact(all, q, 10).map((i) => `c${i}`));
    index.remove('c7');
    const hits = index.search(Array.from(q), 5, { sources: ['object'], types: ['ot_a'] });
    expect(hits).toHaveLength(5);
    for (const h of hits) {
      const i = Number(h.id.slice(1));
      expect(i).not.toBe(7);
      expect(i % 3 !== 0 && i % 2 === 1).toBe(true);
    }
  });

  it(`moves to an HNSW graph past ${EXACT_MAX} vectors and keeps recall@10 >= 0.95`, () => {
    const index = new TenantIndex();
    const all = vectors(EXACT_MAX + 500, 7);
    all.forEach((v, i) => index.add(`c${i}`, { source: 'object', type: 'ot' }, v));
    expect(index.hnsw).not.toBeNull();
    index.remove('c3');
    const queries = vectors(40, 99);
    let recall = 0;
    for (const q of queries) {
      const truth = new Set(exact(all, q, 10, new Set([3])).map((i) => `c${i}`));
      const hits = index.search(Array.from(q), 10, {});
      expect(hits).toHaveLength(10);
      expect(hits.some((h) => h.id === 'c3')).toBe(false);
      recall += hits.filter((h) => truth.has(h.id)).length / 10;
    }
    expect(recall / queries.length).toBeGreaterThanOrEqual(0.95);
    // Filtered searches on the graph still return the full k.
    index.add('extra', { source: 'file', type: null }, all[0]!);
    expect(index.search(Array.from(all[0]!), 10, { sources: ['file'] }).map((h) => h.id)).toEqual(['extra']);
  });

  it('builds the graph in a worker: exact searches meanwhile, then the graph with what was added and deleted during the build', async () => {
    const index = new TenantIndex();
    const all = vectors(EXACT_MAX + 600, 11);
    const first = EXACT_MAX + 300;
    for (let i = 0; i < first; i++) index.add(`c${i}`, { source: 'object', type: 'ot' }, all[i]!, false);
    expect(index.hnsw).toBeNull();
    index.remove('c1');
    const building = index.buildGraphInWorker();
    expect(index.buildGraphInWorker()).toBe(building);
    // Meanwhile: exact search, additions and a deletion.
    expect(index.search(Array.from(all[2]!), 10, {}).map((h) => h.id)).toEqual(exact(all.slice(0, first), all[2]!, 10, new Set([1])).map((i) => `c${i}`));
    for (let i = first; i < all.length; i++) index.add(`c${i}`, { source: i % 2 ? 'file' : 'object', type: i % 2 ? null : 'ot' }, all[i]!, false);
    index.remove('c2');
    await building;
    expect(index.hnsw).not.toBeNull();
    expect(index.flat).toBeNull();
    expect(index.building).toBeNull();
    const hits = index.search(Array.from(all[2]!), 10, {});
    expect(hits).toHaveLength(10);
    expect(hits.some((h) => h.id === 'c1' || h.id === 'c2')).toBe(false);
    // A vector added during the build is found by itself, and through a filter only it passes.
    const late = all.length - 1;
    expect(index.search(Array.from(all[late]!), 1, {}).map((h) => h.id)).toEqual([`c${late}`]);
    expect(index.search(Array.from(all[late]!), 300, { sources: ['file'] })).toHaveLength(150);
  });
});
