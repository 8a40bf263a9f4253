import { sql } from 'drizzle-orm';
import { rows } from '../../../core/db/client.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObject, defineType, pollUntil, roleUser } from '../../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { compactRollups } from './rollups.ts';

/**
 * Rollups must answer exactly what the records answer. Every report below runs with the rollups in
 * place (and must say `source: rollup`), then again with them deleted (records); the two must agree,
 * after creates, updates, trash and restore, batches, and writes racing the build.
 */

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };
const req = (method: string, path: string, body?: unknown, token = tenant.token) => t.request(method, path, { token, body });

const STAGES = ['lead', 'qualified', 'won', 'lost'];
const REGIONS = ['eu', 'us', 'apac'];
let seed = 7;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const pick = <T>(list: T[]) => list[Math.floor(rand() * list.length)]!;

function randomDeal(): Record<string, unknown> {
  const deal: Record<string, unknown> = { stage: pick(STAGES), owner: pick(['ann', 'bob', 'cat', 'dan']) };
  // Some records lack a region, an amount or a date: absent values must count the same both ways.
  if (rand() < 0.85) deal.region = pick(REGIONS);
  if (rand() < 0.8) deal.amount = Math.round(rand() * 100_000) / 100;
  if (rand() < 0.9) deal.closed_at = new Date(Date.UTC(2026, 0, 1) + Math.floor(rand() * 400 * 86_400_000)).toISOString();
  if (rand() < 0.9) deal.day = `2026-${String(1 + Math.floor(rand() * 12)).padStart(2, '0')}-${String(1 + Math.floor(rand() * 28)).padStart(2, '0')}`;
  return deal;
}

const REPORTS: { name: string; path: string; body: Record<string, unknown> }[] = [
  { name: 'count by day (Paris)', path: '/v1/reports/timeseries', body: { object_type_id: 'sales', date_property: 'closed_at', interval: 'day', timezone: 'Europe/Paris', start_date: '2026-01-01', end_date: '2027-02-01' } },
  { name: 'sum by week (New York), filtered', path: '/v1/reports/timeseries', body: { object_type_id: 'sales', date_property: 'closed_at', interval: 'week', timezone: 'America/New_York', aggregation: 'sum', value_property: 'amount', filters: ['stage:neq:lost', 'region:in:eu,us'] } },
  { name: 'avg by month', path: '/v1/reports/timeseries', body: { object_type_id: 'sales', date_property: 'closed_at', interval: 'month', aggregation: 'avg', value_property: 'amount', filters: [{ property: 'region', op: 'is_empty' }] } },
  { name: 'distinct owners by quarter', path: '/v1/reports/timeseries', body: { object_type_id: 'sales', date_property: 'closed_at', interval: 'quarter', aggregation: 'count_distinct', value_property: 'owner' } },
  { name: 'count by date property', path: '/v1/reports/timeseries', body: { object_type_id: 'sales', date_property: 'day', interval: 'month', timezone: 'Asia/Tokyo', start_date: '2026-02-01', end_date: '2026-11-01' } },
  {
    name: '4-step funnel',
    path: '/v1/reports/funnel',
    body: {
      object_type_id: 'sales',
      steps: [
        { name: 'all', filters: [] },
        { name: 'not lost', filters: ['stage:neq:lost'] },
        { name: 'in a region', filters: [{ property: 'region', op: 'is_not_empty' }] },
        { name: 'won in eu', filters: ['stage:eq:won', 'region:eq:eu'] },
      ],
    },
  },
  { name: 'funnel with a global filter', path: '/v1/reports/funnel', body: { object_type_id: 'sales', filters: ['owner:nin:dan'], steps: [{ name: 'a', filters: [] }, { name: 'b', filters: ['stage:in:won,qualified'] }] } },
  { name: 'leaderboard sum', path: '/v1/reports/leaderboard', body: { object_type_id: 'sales', group_by: 'owner', aggregation: 'sum', value_property: 'amount', limit: 3 } },
  { name: 'leaderboard count asc', path: '/v1/reports/leaderboard', body: { object_type_id: 'sales', group_by: 'region', order: 'asc', filters: ['stage:starts_with:l'] } },
  { name: 'leaderboard max', path: '/v1/reports/leaderboard', body: { object_type_id: 'sales', group_by: 'stage', aggregation: 'count_distinct', value_property: 'owner' } },
  { name: 'pipeline with value', path: '/v1/reports/pipeline', body: { object_type_id: 'sales', stage_property: 'stage', value_property: 'amount' } },
  { name: 'pipeline filtered', path: '/v1/reports/pipeline', body: { object_type_id: 'sales', stage_property: 'region', filters: ['owner:eq:ann'] } },
];

async function runAll() {
  const out: Record<string, { source: string; data: Record<string, unknown> }> = {};
  for (const r of REPORTS) {
    const res = await req('POST', r.path, r.body);
    expect(res.status, `${r.name}: ${res.text}`).toBe(200);
    const { source, ...data } = res.body.data;
    out[r.name] = { source, data };
  }
  return out;
}

/** Numbers from numeric sums and from float sums may differ in the last bits. */
function close(a: unknown, b: unknown, path = ''): void {
  if (typeof a === 'number' && typeof b === 'number') {
    expect(Math.abs(a - b), `${path}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(a), Math.abs(b)));
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    expect(a.length, path).toBe(b.length);
    a.forEach((x, i) => close(x, b[i], `${path}[${i}]`));
    return;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    expect(Object.keys(a).sort(), path).toEqual(Object.keys(b).sort());
    for (const k of Object.keys(a)) close((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
    return;
  }
  expect(a, path).toEqual(b);
}

async function createRollups() {
  const specs = [
    { object_type_id: 'sales', dimensions: ['stage', 'region', 'owner'], measures: ['amount'], date_property: 'closed_at' },
    { object_type_id: 'sales', dimensions: ['stage', 'region', 'owner'], measures: ['amount'] },
    { object_type_id: 'sales', dimensions: [], date_property: 'day' },
  ];
  const ids: string[] = [];
  for (const body of specs) {
    const res = await req('POST', '/v1/reports/rollups', body);
    expect(res.status, res.text).toBe(201);
    expect(res.body.data.status).toBe('building');
    ids.push(res.body.data.id);
  }
  for (const id of ids) await pollUntil(() => req('GET', `/v1/reports/rollups/${id}`), (r) => r.body.data?.status === 'ready');
  return ids;
}

async function expectRollupsAgree(ids: string[]) {
  const rolled = await runAll();
  for (const [name, r] of Object.entries(rolled)) expect(r.source, name).toBe('rollup');
  expect(ids.length).toBeGreaterThan(0);
  for (const r of (await req('GET', '/v1/reports/rollups?object_type_id=sales')).body.data) expect((await req('DELETE', `/v1/reports/rollups/${r.id}`)).status).toBe(200);
  const scanned = await runAll();
  for (const [name, r] of Object.entries(scanned)) {
    expect(r.source, name).toBe('records');
    close(rolled[name]!.data, r.data, name);
  }
}

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant({ plan_tier: 'enterprise' });
  other = await t.newTenant({ plan_tier: 'enterprise' });
  await defineType(t, tenant.token, 'sales', {
    stage: { data_type: 'enum', enum_values: STAGES, is_indexed: true },
    region: { data_type: 'string' },
    owner: { data_type: 'string', is_indexed: true },
    amount: { data_type: 'number' },
    closed_at: { data_type: 'datetime', is_indexed: true },
    day: { data_type: 'date' },
  });
  for (let i = 0; i < 40; i++) await createObject(t, tenant.token, 'sales', randomDeal());
  // The other tenant's type of the same name feeds nothing of ours.
  await defineType(t, other.token, 'sales', { stage: { data_type: 'string' }, amount: { data_type: 'number' } });
  await createObject(t, other.token, 'sales', { stage: 'won', amount: 1_000_000 });
});
afterAll(async () => {
  await t?.close();
});

describe('report rollups', () => {
  it('answer every report exactly as the records do, through creates, updates, trash, restore and batches', async () => {
    const ids = await createRollups();
    const list = await req('GET', '/v1/reports/rollups?object_type_id=sales');
    expect(list.body.data.map((r: { id: string }) => r.id).sort()).toEqual([...ids].sort());
    expect(list.body.data.every((r: { cell_count: number }) => r.cell_count > 0)).toBe(true);

    const created: { id: string; version: number }[] = [];
    for (let i = 0; i < 15; i++) created.push(await createObject(t, tenant.token, 'sales', randomDeal()));
    const batch = await req('POST', '/v1/objects/sales/batch/create', { objects: Array.from({ length: 10 }, () => ({ properties: randomDeal() })) });
    expect(batch.status, batch.text).toBeLessThan(300);
    for (const o of created.slice(0, 6)) {
      const res = await req('PATCH', `/v1/objects/sales/${o.id}`, { properties: { stage: pick(STAGES), amount: Math.round(rand() * 5000), region: pick(REGIONS) } });
      expect(res.status, res.text).toBe(200);
    }
    // An update that changes nothing a rollup reads.
    expect((await req('PATCH', `/v1/objects/sales/${created[7]!.id}`, { properties: { owner: created[7] ? 'ann' : 'bob' } })).status).toBe(200);
    for (const o of created.slice(8, 12)) expect((await req('DELETE', `/v1/objects/sales/${o.id}`)).status).toBe(200);
    expect((await req('POST', `/v1/objects/sales/${created[8]!.id}/restore`)).status).toBe(200);

    // Half the deltas are folded into cells; readers add the rest.
    await compactRollups(t.kernel);
    await createObject(t, tenant.token, 'sales', randomDeal());
    const [{ deltas }] = rows<{ deltas: number }>(await t.db.system.execute(sql`select count(*)::int as deltas from report_rollup_deltas where tenant_id = ${tenant.tenantId}`)) as [{ deltas: number }];
    expect(deltas).toBeGreaterThan(0);

    await expectRollupsAgree(ids);
  });

  it('counts writes that race the build once, neither missed nor doubled', async () => {
    const writes = (async () => {
      for (let i = 0; i < 20; i++) {
        const o = await createObject(t, tenant.token, 'sales', randomDeal());
        if (i % 3 === 0) await req('PATCH', `/v1/objects/sales/${o.id}`, { properties: { stage: 'won', amount: 10 + i } });
      }
    })();
    const building = createRollups();
    await writes;
    const ids = await building;
    await expectRollupsAgree(ids);
  });

  it('falls back to the records where hours cannot answer, and for callers whose policies hide rows', async () => {
    const [id] = await createRollups();
    const kolkata = await req('POST', '/v1/reports/timeseries', { object_type_id: 'sales', date_property: 'closed_at', interval: 'day', timezone: 'Asia/Kolkata' });
    expect(kolkata.status).toBe(200);
    expect(kolkata.body.data.source).toBe('records');
    const halfHour = await req('POST', '/v1/reports/timeseries', { object_type_id: 'sales', date_property: 'closed_at', interval: 'day', start_date: '2026-02-01T10:30:00Z' });
    expect(halfHour.body.data.source).toBe('records');
    const onHour = await req('POST', '/v1/reports/timeseries', { object_type_id: 'sales', date_property: 'closed_at', interval: 'day', start_date: '2026-02-01T10:00:00Z' });
    expect(onHour.body.data.source).toBe('rollup');
    // A property outside the rollup, a built-in filter, min of a measure, a conversion window: records.
    for (const body of [
      { path: '/v1/reports/leaderboard', body: { object_type_id: 'sales', group_by: 'owner', filters: ['amount:gt:10'] } },
      { path: '/v1/reports/leaderboard', body: { object_type_id: 'sales', group_by: 'owner', filters: ['created_by:eq:x'] } },
      { path: '/v1/reports/leaderboard', body: { object_type_id: 'sales', group_by: 'owner', aggregation: 'min', value_property: 'amount' } },
      { path: '/v1/reports/funnel', body: { object_type_id: 'sales', conversion_window_days: 5, steps: [{ name: 'a', filters: [], date_property: 'closed_at' }, { name: 'b', filters: ['stage:eq:won'], date_property: 'closed_at' }] } },
    ]) {
      const res = await req('POST', body.path, body.body);
      expect(res.status, res.text).toBe(200);
      expect(res.body.data.source).toBe('records');
    }

    const user = await roleUser(t, tenant.token, 'eu_rep', ['read', 'write']);
    expect((await req('POST', '/v1/object-types/sales/policies', { name: 'eu only', action: 'select', role: 'eu_rep', condition_json: { property: 'region', op: 'eq', value: 'eu' } })).status).toBe(201);
    const mine = await req('POST', '/v1/reports/pipeline', { object_type_id: 'sales', stage_property: 'stage' }, user.token);
    expect(mine.status).toBe(200);
    expect(mine.body.data.source).toBe('records');
    const all = await req('POST', '/v1/reports/pipeline', { object_type_id: 'sales', stage_property: 'stage' });
    expect(all.body.data.source).toBe('rollup');
    const eu = await req('POST', '/v1/reports/pipeline', { object_type_id: 'sales', stage_property: 'stage', filters: ['region:eq:eu'] });
    expect(mine.body.data.total).toBe(eu.body.data.total);
    expect(mine.body.data.total).toBeLessThan(all.body.data.total);
    expect((await req('DELETE', `/v1/reports/rollups/${id}`)).status).toBe(200);
  });

  it('holds a number dimension by bucket: >= and < a boundary are answered from it, exactly as the records do', async () => {
    const res = await req('POST', '/v1/reports/rollups', { object_type_id: 'sales', dimensions: ['stage', 'region', 'amount'], dimension_buckets: { amount: [0, 100, 250, 1000] }, measures: ['amount'] });
    expect(res.status, res.text).toBe(201);
    expect(res.body.data.dimension_buckets).toEqual({ amount: [0, 100, 250, 1000] });
    const id = res.body.data.id as string;
    // Values on a boundary, below the first one, past the last one, and none.
    for (const amount of [-5, 0, 100, 250, 1000, 4999.5, undefined]) await createObject(t, tenant.token, 'sales', { ...randomDeal(), amount });
    await pollUntil(() => req('GET', `/v1/reports/rollups/${id}`), (r) => r.body.data?.status === 'ready');
    const o = await createObject(t, tenant.token, 'sales', { ...randomDeal(), amount: 99.99 });
    expect((await req('PATCH', `/v1/objects/sales/${o.id}`, { properties: { amount: 1000 } })).status).toBe(200);
    await compactRollups(t.kernel);
    await createObject(t, tenant.token, 'sales', { ...randomDeal(), amount: 250 });

    const covered = [
      { path: '/v1/reports/funnel', body: { object_type_id: 'sales', steps: [{ name: 'all', filters: [] }, { name: 'big', filters: ['amount:gte:250'] }, { name: 'won', filters: ['amount:gte:1000', 'stage:eq:won'] }] } },
      { path: '/v1/reports/pipeline', body: { object_type_id: 'sales', stage_property: 'stage', value_property: 'amount', filters: ['amount:lt:100'] } },
      { path: '/v1/reports/leaderboard', body: { object_type_id: 'sales', group_by: 'region', aggregation: 'sum', value_property: 'amount', filters: [{ property: 'amount', op: 'gte', value: 0 }, 'amount:lt:1000'] } },
      { path: '/v1/reports/pipeline', body: { object_type_id: 'sales', stage_property: 'stage', filters: [{ property: 'amount', op: 'is_empty' }] } },
    ];
    const rolled = [];
    for (const r of covered) {
      const got = await req('POST', r.path, r.body);
      expect(got.status, got.text).toBe(200);
      expect(got.body.data.source, JSON.stringify(r.body)).toBe('rollup');
      rolled.push(got.body.data);
    }
    // Not at a boundary, or comparisons a lower boundary cannot answer: the records.
    for (const body of [
      { path: '/v1/reports/pipeline', body: { object_type_id: 'sales', stage_property: 'stage', filters: ['amount:gte:500'] } },
      { path: '/v1/reports/pipeline', body: { object_type_id: 'sales', stage_property: 'stage', filters: ['amount:gt:1000'] } },
      { path: '/v1/reports/pipeline', body: { object_type_id: 'sales', stage_property: 'stage', filters: ['amount:eq:250'] } },
      { path: '/v1/reports/leaderboard', body: { object_type_id: 'sales', group_by: 'amount' } },
      { path: '/v1/reports/leaderboard', body: { object_type_id: 'sales', group_by: 'stage', aggregation: 'max', value_property: 'amount' } },
    ]) {
      const got = await req('POST', body.path, body.body);
      expect(got.status, got.text).toBe(200);
      expect(got.body.data.source, JSON.stringify(body.body)).toBe('records');
    }
    expect((await req('DELETE', `/v1/reports/rollups/${id}`)).status).toBe(200);
    for (const [i, r] of covered.entries()) {
      const got = await req('POST', r.path, r.body);
      expect(got.body.data.source).toBe('records');
      const { source: _a, ...a } = rolled[i];
      const { source: _b, ...b } = got.body.data;
      close(a, b, JSON.stringify(r.body));
    }

    for (const [body, field] of [
      [{ object_type_id: 'sales', dimensions: ['stage'], dimension_buckets: { amount: [1] } }, 'dimension_buckets.amount'],
      [{ object_type_id: 'sales', dimensions: ['stage'], dimension_buckets: { stage: [1] } }, 'dimension_buckets.stage'],
      [{ object_type_id: 'sales', dimensions: ['amount'], dimension_buckets: { amount: [10, 5] } }, 'dimension_buckets.amount'],
    ] as const) {
      const bad = await req('POST', '/v1/reports/rollups', body);
      expect(bad.status, bad.text).toBe(400);
      expect(bad.body.error.message).toContain(field);
    }
  });

  it('validates definitions, keeps tenants apart and goes with its type', async () => {
    const bad = [
      { body: { object_type_id: 'sales', dimensions: ['nope'] }, field: 'dimensions.0' },
      { body: { object_type_id: 'sales', dimensions: ['stage', 'stage'] }, field: 'dimensions.1' },
      { body: { object_type_id: 'sales', measures: ['stage'] }, field: 'measures.0' },
      { body: { object_type_id: 'sales', date_property: 'amount' }, field: 'date_property' },
      { body: { object_type_id: 'sales' }, field: 'dimensions' },
    ];
    for (const b of bad) {
      const res = await req('POST', '/v1/reports/rollups', b.body);
      expect(res.status, res.text).toBe(400);
      expect(res.body.error.message).toContain(b.field);
    }
    expect((await req('POST', '/v1/reports/rollups', { object_type_id: 'nope', dimensions: ['stage'] })).status).toBe(404);
    expect((await req('POST', '/v1/reports/rollups', { object_type_id: 'sales', dimensions: ['stage'], extra: 1 })).status).toBe(400);

    const mine = await req('POST', '/v1/reports/rollups', { object_type_id: 'sales', dimensions: ['stage'] });
    expect(mine.status).toBe(201);
    const id = mine.body.data.id as string;
    for (const [method, path] of [
      ['GET', `/v1/reports/rollups/${id}`],
      ['POST', `/v1/reports/rollups/${id}/rebuild`],
      ['DELETE', `/v1/reports/rollups/${id}`],
    ] as const) {
      expect((await req(method, path, undefined, other.token)).status, `${method} ${path}`).toBe(404);
    }
    expect((await req('GET', '/v1/reports/rollups', undefined, other.token)).body.data).toEqual([]);
    await pollUntil(() => req('GET', `/v1/reports/rollups/${id}`), (r) => r.body.data?.status === 'ready');
    const rebuilt = await req('POST', `/v1/reports/rollups/${id}/rebuild`);
    expect(rebuilt.body.data.status).toBe('building');
    await pollUntil(() => req('GET', `/v1/reports/rollups/${id}`), (r) => r.body.data?.status === 'ready');

    // Deleting the type (with its records) takes its rollups along at the next compaction.
    await defineType(t, tenant.token, 'gone', { kind: { data_type: 'string' } });
    await createObject(t, tenant.token, 'gone', { kind: 'a' });
    const doomed = await req('POST', '/v1/reports/rollups', { object_type_id: 'gone', dimensions: ['kind'] });
    await pollUntil(() => req('GET', `/v1/reports/rollups/${doomed.body.data.id}`), (r) => r.body.data?.status === 'ready');
    const del = await req('DELETE', '/v1/object-types/gone?force=true');
    const confirm = JSON.stringify(del.body).match(/"confirm_token":"([^"]+)"/)?.[1];
    expect(del.status, del.text).toBe(409);
    if (confirm) expect((await req('DELETE', `/v1/object-types/gone?force=true&confirm_token=${confirm}`)).status).toBe(200);
    await compactRollups(t.kernel);
    expect((await req('GET', `/v1/reports/rollups/${doomed.body.data.id}`)).status).toBe(404);
  });
});
