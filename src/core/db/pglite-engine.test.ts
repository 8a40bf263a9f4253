import { sql } from 'drizzle-orm';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, rows, type Database } from './client.ts';
import { isDatabaseUnavailable } from './errors.ts';
import { openPgliteEngine } from './pglite-engine.ts';
import { PgliteWire } from './pglite-wire.ts';

// The embedded database's two engines (see pglite-engine.ts) answer the same statements the same way
// through PgliteWire; the suites run on the default one (the worker), this file on both.
const A = 'tn_0000000000000000000000000a';
const B = 'tn_0000000000000000000000000b';

describe.each([
  ['on the main thread', false],
  ['in a worker thread', true],
])('the PGlite engine %s', (_, worker) => {
  let db: Database;

  beforeAll(async () => {
    db = await openDatabase({ pgliteDir: 'memory://', pgliteWorker: worker });
    await db.raw(`
      create role plinth_app;
      create table notes (tenant_id text not null default current_setting('app.tenant_id'), id int primary key, body text not null, tags text[], meta jsonb, amount numeric);
      alter table notes enable row level security;
      alter table notes force row level security;
      create policy tenant on notes using (tenant_id = current_setting('app.tenant_id', true));
      grant select, insert, update, delete on notes to plinth_app;
    `);
    expect(db.pglite === undefined).toBe(worker);
  }, 60_000);
  afterAll(() => db?.close());

  const count = async (tenantId: string) =>
    rows<{ n: number }>(await db.tenant(tenantId, (tx) => tx.execute(sql`select count(*)::int as n from notes`), { readOnly: true }))[0]!.n;

  it('parses values as PGlite does: arrays, JSON, numbers, nulls', async () => {
    const { rows: result } = await db.raw(`select $1::int[] as ints, $2::text[] as texts, '{"a":[1,2]}'::jsonb as j, 2::int8 as big, null::text as nothing`, [
      [1, 2, 3],
      ['x', 'y,z'],
    ]);
    expect(result[0]).toEqual({ ints: [1, 2, 3], texts: ['x', 'y,z'], j: { a: [1, 2] }, big: 2, nothing: null });
  });

  it('binds each transaction to its tenant, and a read sees only its tenant\'s rows', async () => {
    await db.tenant(A, (tx) => tx.execute(sql`insert into notes (id, body, tags, meta, amount) values (1, 'a one', ${'{t1,t2}'}::text[], ${JSON.stringify({ k: 1 })}::jsonb, 10.5)`));
    await db.tenant(B, (tx) => tx.execute(sql`insert into notes (id, body) values (2, 'b one')`));
    expect(await count(A)).toBe(1);
    expect(await count(B)).toBe(1);
    const [note] = rows<Record<string, unknown>>(await db.tenant(A, (tx) => tx.execute(sql`select * from notes`), { readOnly: true }));
    expect(note).toMatchObject({ tenant_id: A, id: 1, body: 'a one', tags: ['t1', 't2'], meta: { k: 1 }, amount: '10.5' });
  });

  it('throws the database\'s error with its code, and rolls back what the transaction wrote', async () => {
    const error = await db
      .tenant(A, async (tx) => {
        await tx.execute(sql`insert into notes (id, body) values (3, 'a two')`);
        await tx.execute(sql`insert into notes (id, body) values (1, 'duplicate')`);
      })
      .catch((e: { code?: string; cause?: { code?: string } }) => e);
    expect(error?.cause?.code ?? error?.code).toBe('23505');
    expect(await count(A)).toBe(1);
    // The engine serves the next statement normally.
    expect((await db.raw('select 1 as one')).rows).toEqual([{ one: 1 }]);
  });

  it('runs a read issued while a transaction is open after it ends, never inside it', async () => {
    let inserted!: () => void;
    const insertedYet = new Promise<void>((resolve) => (inserted = resolve));
    const open = db
      .tenant(A, async (tx) => {
        await tx.execute(sql`insert into notes (id, body) values (4, 'never committed')`);
        inserted();
        await new Promise((r) => setTimeout(r, 50));
        throw new Error('roll back');
      })
      .catch((e: Error) => e.message);
    await insertedYet;
    // Were these run inside the open transaction, their COMMIT would commit its row.
    const reads = await Promise.all(Array.from({ length: 10 }, () => count(A)));
    expect(await open).toBe('roll back');
    expect(reads).toEqual(Array(10).fill(1));
    expect(await count(A)).toBe(1);
  });

  it('answers many reads issued at once, each with its own result', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => db.raw('select $1::int * 2 as twice', [i])));
    expect(results.map((r) => r.rows[0]!.twice)).toEqual(Array.from({ length: 50 }, (_, i) => i * 2));
  });

  it('dumps its data directory, which another engine opens with the same rows', async () => {
    const copy = await openDatabase({ pgliteDir: 'memory://', pgliteLoad: await db.dumpPglite!(), pgliteWorker: !worker });
    try {
      expect((await copy.raw(`select id, body from notes order by id`)).rows).toEqual([
        { id: 1, body: 'a one' },
        { id: 2, body: 'b one' },
      ]);
    } finally {
      await copy.close();
    }
  }, 60_000);

  it('refuses work once closed', async () => {
    const other = await openDatabase({ pgliteDir: 'memory://', pgliteWorker: worker });
    await other.close();
    await expect(other.raw('select 1')).rejects.toThrow(/closed/i);
  }, 60_000);
});

describe('the PGlite worker on a data directory', () => {
  it('comes back by itself after its thread ends, with the data and a fresh set of prepared statements', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plinth-engine-'));
    const engine = await openPgliteEngine({ dir, worker: true });
    try {
      const client = new PgliteWire(engine).client(() => undefined);
      await client.exec('create table kept (id int primary key, body text)');
      await client.query('insert into kept values ($1, $2)', [1, 'before']);
      const read = () => client.query<{ body: string }>('select body from kept where id = $1', [1]);
      expect((await read()).rows).toEqual([{ body: 'before' }]);

      await (engine as unknown as { kill(): Promise<void> }).kill();
      // While it is down, a call fails as an unavailable database does (503), not as a fault.
      const failure = await read().catch((e: unknown) => e);
      expect(isDatabaseUnavailable(failure)).toBe(true);

      let answer: unknown;
      for (let i = 0; i < 100 && answer === undefined; i++) {
        await new Promise((r) => setTimeout(r, 100));
        answer = await read().then((r) => r.rows, () => undefined);
      }
      // The statement was prepared in the old session: it is prepared again in the new one.
      expect(answer).toEqual([{ body: 'before' }]);
      await client.query('insert into kept values ($1, $2)', [2, 'after']);
      expect((await client.query('select count(*)::int as n from kept')).rows).toEqual([{ n: 2 }]);
    } finally {
      await engine.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('a PGlite worker that cannot start', () => {
  it('fails the open with the reason', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'plinth-engine-')), 'not-a-directory');
    fs.writeFileSync(file, 'x');
    await expect(openPgliteEngine({ dir: file, worker: true })).rejects.toThrow(/PGlite worker/);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }, 60_000);
});
