import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { rows, type Db } from './client.ts';

let t: TestPlatform;
let tenant: { tenantId: string; keyId: string };

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant();
});
afterAll(() => t?.close());

const label = async () =>
  rows<{ label: string }>(await t.db.system.execute(sql`select label from api_keys where tenant_id = ${tenant.tenantId} and id = ${tenant.keyId}`))[0]?.label;
const setLabel = (tx: Db, value: string) => tx.execute(sql`update api_keys set label = ${value} where tenant_id = ${tenant.tenantId} and id = ${tenant.keyId}`);

describe(`a tenant transaction whose COMMIT goes ahead (${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('commits what its statements wrote and answers their result', async () => {
    const result = await t.db.tenant(tenant.tenantId, (tx) => setLabel(tx, 'ahead 1'), { commitAhead: true });
    expect((result as { rowCount?: number; affectedRows?: number }).rowCount ?? (result as { affectedRows?: number }).affectedRows).toBe(1);
    expect(await label()).toBe('ahead 1');
  });

  it('writes nothing when one of its statements fails, and throws that statement\'s error', async () => {
    const error = await t.db
      // `.then()` starts a Drizzle query now (Promise.all would start it a microtask later, after the COMMIT).
      .tenant(tenant.tenantId, (tx) => Promise.all([setLabel(tx, 'ahead 2').then(), tx.execute(sql`select 1 / 0`).then()]), { commitAhead: true })
      .catch((e: unknown) => e);
    expect(String((error as { cause?: unknown }).cause ?? error)).toMatch(/division by zero/);
    expect(await label()).toBe('ahead 1');
    // The session it ran on serves the next transaction normally.
    for (let i = 0; i < 6; i++) await t.db.tenant(tenant.tenantId, (tx) => setLabel(tx, `after ${i}`), { commitAhead: true });
    expect(await label()).toBe('after 5');
  });

  it.runIf(process.env.DATABASE_URL)('refuses work that awaits before its first statement, and writes nothing it sends later', async () => {
    let late: Promise<unknown> | undefined;
    const error = await t.db
      .tenant(
        tenant.tenantId,
        async (tx) => {
          await new Promise((r) => setTimeout(r, 10));
          late = setLabel(tx, 'late');
          return late;
        },
        { commitAhead: true },
      )
      .catch((e: unknown) => e);
    expect(String(error)).toMatch(/no statement before its first await/);
    await late?.catch(() => {});
    await new Promise((r) => setTimeout(r, 50));
    expect(await label()).toBe('after 5');
  });
});
