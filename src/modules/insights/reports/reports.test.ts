import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObject, defineType, eventsOf, roleUser } from '../../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { startSmtp, type SmtpInbox } from '../../../../test/support/smtp.ts';
import { runDueReports } from './saved.ts';

let t: TestPlatform;
let inbox: SmtpInbox;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

const req = (method: string, path: string, body?: unknown, token = tenant.token) => t.request(method, path, { token, body });

beforeAll(async () => {
  inbox = await startSmtp();
  t = await testPlatform({ SMTP_URL: inbox.url });
  tenant = await t.newTenant({ plan_tier: 'enterprise' });
  other = await t.newTenant({ plan_tier: 'enterprise' });
  await defineType(t, tenant.token, 'deals', {
    stage: { data_type: 'enum', enum_values: ['lead', 'qualified', 'won', 'lost'], is_indexed: true },
    amount: { data_type: 'number', is_indexed: true },
    score: { data_type: 'integer' },
    owner: { data_type: 'string', is_indexed: true },
    region: { data_type: 'string' },
    closed_at: { data_type: 'datetime', is_indexed: true },
    day: { data_type: 'date' },
    secret: { data_type: 'number' },
  });
  const rows: Record<string, unknown>[] = [
    { stage: 'lead', amount: 100, score: 1, owner: 'ann', region: 'eu', closed_at: '2026-03-28T22:30:00Z', day: '2026-03-28', secret: 1 },
    { stage: 'qualified', amount: 200, score: 2, owner: 'ann', region: 'eu', closed_at: '2026-03-29T10:00:00Z', day: '2026-03-29', secret: 2 },
    { stage: 'won', amount: 300, score: 3, owner: 'bob', region: 'us', closed_at: '2026-03-30T23:30:00Z', day: '2026-03-30', secret: 3 },
    { stage: 'won', amount: 400, score: 4, owner: 'cat', region: 'us', closed_at: '2026-04-02T12:00:00Z', day: '2026-04-02', secret: 4 },
    { stage: 'lost', amount: 50, score: 5, owner: 'bob', region: 'eu' },
  ];
  for (const p of rows) await createObject(t, tenant.token, 'deals', p);
  // Another tenant's records of a type with the same name must never be counted.
  await defineType(t, other.token, 'deals', { stage: { data_type: 'string' }, amount: { data_type: 'number' } });
  await createObject(t, other.token, 'deals', { stage: 'won', amount: 1_000_000 });
});
afterAll(async () => {
  await t?.close();
  await inbox?.close();
});

describe('POST /v1/reports/timeseries', () => {
  it('buckets by day in a time zone (DST included), computed in the database, with gaps filled', async () => {
    const res = await req('POST', '/v1/reports/timeseries', {
      object_type_id: 'deals',
      date_property: 'closed_at',
      interval: 'day',
      timezone: 'Europe/Paris',
      start_date: '2026-03-28',
      end_date: '2026-04-03',
    });
    expect(res.status).toBe(200);
    const series = res.body.data.series as { bucket: string; start: string; value: number }[];
    // 22:30Z on the 28th is 23:30 in Paris (UTC+1); 23:30Z on the 30th is 01:30 on the 31st (UTC+2 after DST).
    expect(series.map((s) => [s.bucket.slice(0, 10), s.value])).toEqual([
      ['2026-03-28', 1],
      ['2026-03-29', 1],
      ['2026-03-30', 0],
      ['2026-03-31', 1],
      ['2026-04-01', 0],
      ['2026-04-02', 1],
    ]);
    expect(series[1]!.start).toBe('2026-03-28T23:00:00.000Z');
    expect(series[3]!.start).toBe('2026-03-30T22:00:00.000Z');
  });

  it('aggregates sum, avg, min, max and distinct counts over months, quarters and years', async () => {
    const sum = await req('POST', '/v1/reports/timeseries', { object_type_id: 'deals', date_property: 'closed_at', interval: 'month', aggregation: 'sum', value_property: 'amount' });
    expect(sum.body.data.series.map((s: { bucket: string; value: number }) => [s.bucket.slice(0, 7), s.value])).toEqual([
      ['2026-03', 600],
      ['2026-04', 400],
    ]);
    const avg = await req('POST', '/v1/reports/timeseries', { object_type_id: 'deals', date_property: 'closed_at', interval: 'quarter', aggregation: 'avg', value_property: 'score' });
    expect(avg.body.data.series).toEqual([expect.objectContaining({ bucket: '2026-01-01T00:00:00', value: 2 }), expect.objectContaining({ bucket: '2026-04-01T00:00:00', value: 4 })]);
    const max = await req('POST', '/v1/reports/timeseries', { object_type_id: 'deals', date_property: 'closed_at', interval: 'year', aggregation: 'max', value_property: 'amount' });
    expect(max.body.data.series).toEqual([expect.objectContaining({ value: 400 })]);
    const min = await req('POST', '/v1/reports/timeseries', { object_type_id: 'deals', date_property: 'day', interval: 'week', aggregation: 'min', value_property: 'amount' });
    expect(min.body.data.series.map((s: { value: number }) => s.value)).toEqual([100, 300]);
    const distinct = await req('POST', '/v1/reports/timeseries', { object_type_id: 'deals', interval: 'hour', aggregation: 'count_distinct', value_property: 'owner' });
    expect(distinct.body.data.series.reduce((s: number, x: { value: number }) => s + x.value, 0)).toBeGreaterThanOrEqual(3);
    const filtered = await req('POST', '/v1/reports/timeseries', { object_type_id: 'deals', date_property: 'closed_at', interval: 'year', filters: ['owner:eq:bob', { property: 'amount', op: 'gte', value: 100 }] });
    expect(filtered.body.data.series).toEqual([expect.objectContaining({ value: 1 })]);
  });

  it('names the field at fault', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ object_type_id: 'deals', date_property: 'nope' }, 'date_property'],
      [{ object_type_id: 'deals', date_property: 'owner' }, 'date_property'],
      [{ object_type_id: 'deals', aggregation: 'sum' }, 'value_property'],
      [{ object_type_id: 'deals', aggregation: 'sum', value_property: 'owner' }, 'value_property'],
      [{ object_type_id: 'deals', filters: ['amount:gte:lots'] }, 'filters.0'],
      [{ object_type_id: 'deals', timezone: 'Mars/Olympus' }, 'timezone'],
      [{ object_type_id: 'deals', interval: 'hour', start_date: '2000-01-01', end_date: '2026-01-01' }, 'interval'],
      [{ object_type_id: 'deals', extra: 1 }, 'extra'],
    ];
    for (const [body, field] of cases) {
      const res = await req('POST', '/v1/reports/timeseries', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.details.issues[0].field, JSON.stringify(body)).toBe(field);
    }
    expect((await req('POST', '/v1/reports/timeseries', { object_type_id: 'nope' })).status).toBe(404);
  });
});

describe('funnel, leaderboard, pipeline', () => {
  it('counts ordered funnel steps with conversion from the first and previous step', async () => {
    const res = await req('POST', '/v1/reports/funnel', {
      object_type_id: 'deals',
      steps: [
        { name: 'all', filters: [] },
        { name: 'over 100', filters: ['amount:gte:100'] },
        { name: 'qualified or won', filters: [{ property: 'stage', op: 'in', value: ['qualified', 'won'] }] },
        { name: 'won', filters: ['stage:eq:won'] },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.data.steps).toEqual([
      { name: 'all', count: 5, conversion_from_first: 1, conversion_from_previous: 1, drop_off: 0 },
      { name: 'over 100', count: 4, conversion_from_first: 0.8, conversion_from_previous: 0.8, drop_off: 1 },
      { name: 'qualified or won', count: 3, conversion_from_first: 0.6, conversion_from_previous: 0.75, drop_off: 1 },
      { name: 'won', count: 2, conversion_from_first: 0.4, conversion_from_previous: 0.6667, drop_off: 1 },
    ]);
    const bad = await req('POST', '/v1/reports/funnel', { object_type_id: 'deals', steps: [{ name: 'x', filters: ['nope:eq:1'] }] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.issues[0].field).toBe('steps.0.filters.0');
    expect((await req('POST', '/v1/reports/funnel', { object_type_id: 'deals', steps: [] })).status).toBe(400);

    // A conversion window compares each step's date with the first step's.
    const windowed = (first: string, then: string) =>
      req('POST', '/v1/reports/funnel', {
        object_type_id: 'deals',
        conversion_window_days: 1,
        steps: [
          { name: 'opened', filters: ['day:is_not_empty'], date_property: first },
          { name: 'won', filters: ['stage:eq:won'], date_property: then },
        ],
      });
    const inWindow = await windowed('day', 'closed_at');
    expect(inWindow.status).toBe(200);
    expect(inWindow.body.data.steps.map((x: { count: number }) => x.count)).toEqual([4, 2]);
    // Won "before" it was opened: outside the window.
    expect((await windowed('closed_at', 'day')).body.data.steps.map((x: { count: number }) => x.count)).toEqual([4, 0]);
    const noDate = await req('POST', '/v1/reports/funnel', { object_type_id: 'deals', conversion_window_days: 7, steps: [{ name: 'a', filters: [] }, { name: 'b', filters: [] }] });
    expect(noDate.status).toBe(400);
    expect(noDate.body.error.details.issues[0].field).toBe('steps.0.date_property');
    const notDate = await windowed('day', 'owner');
    expect(notDate.body.error.details.issues[0].field).toBe('steps.1.date_property');
  });

  it('ranks a leaderboard by count or by an aggregate', async () => {
    const byCount = await req('POST', '/v1/reports/leaderboard', { object_type_id: 'deals', group_by: 'owner' });
    expect(byCount.status).toBe(200);
    expect(byCount.body.data.entries).toEqual([
      { rank: 1, key: 'ann', value: 2, count: 2 },
      { rank: 2, key: 'bob', value: 2, count: 2 },
      { rank: 3, key: 'cat', value: 1, count: 1 },
    ]);
    const bySum = await req('POST', '/v1/reports/leaderboard', { object_type_id: 'deals', group_by: 'region', aggregation: 'sum', value_property: 'amount', limit: 1 });
    expect(bySum.body.data.entries).toEqual([{ rank: 1, key: 'us', value: 700, count: 2 }]);
    expect((await req('POST', '/v1/reports/leaderboard', { object_type_id: 'deals', group_by: 'nope' })).status).toBe(400);
    expect((await req('POST', '/v1/reports/leaderboard', { object_type_id: 'deals', group_by: 'owner', limit: 1000 })).status).toBe(400);
  });

  it('breaks a pipeline down by stage in enum order with values', async () => {
    const res = await req('POST', '/v1/reports/pipeline', { object_type_id: 'deals', stage_property: 'stage', value_property: 'amount' });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({
      stages: [
        { stage: 'lead', count: 1, value: 100, percent: 0.2 },
        { stage: 'qualified', count: 1, value: 200, percent: 0.2 },
        { stage: 'won', count: 2, value: 700, percent: 0.4 },
        { stage: 'lost', count: 1, value: 50, percent: 0.2 },
      ],
      total: 5,
      total_value: 1050,
      source: 'records',
    });
    expect((await req('POST', '/v1/reports/pipeline', { object_type_id: 'deals', stage_property: 'stage', value_property: 'owner' })).status).toBe(400);
    // Counting every record reads the typed index alone: a trashed record and one without a stage show as they should.
    const trashed = await createObject(t, tenant.token, 'deals', { stage: 'won', owner: 'zed', closed_at: '2026-03-29T10:00:00Z' });
    expect((await req('DELETE', `/v1/objects/deals/${trashed.id}`)).status).toBe(200);
    const counts = await req('POST', '/v1/reports/pipeline', { object_type_id: 'deals', stage_property: 'stage' });
    expect(counts.body.data.stages.map((x: { stage: string; count: number }) => [x.stage, x.count])).toEqual([['lead', 1], ['qualified', 1], ['won', 2], ['lost', 1]]);
    expect((await req('POST', '/v1/reports/leaderboard', { object_type_id: 'deals', group_by: 'owner' })).body.data.entries.map((e: { key: string }) => e.key)).toEqual(['ann', 'bob', 'cat']);
    const ts = await req('POST', '/v1/reports/timeseries', { object_type_id: 'deals', date_property: 'closed_at', interval: 'year' });
    expect(ts.body.data.series).toEqual([expect.objectContaining({ value: 4 })]);
  });

  it('another tenant sees its own records only, and not this tenant\'s type ids', async () => {
    const theirs = await req('POST', '/v1/reports/pipeline', { object_type_id: 'deals', stage_property: 'stage', value_property: 'amount' }, other.token);
    expect(theirs.body.data.total).toBe(1);
    const typeId = (await req('GET', '/v1/object-types/deals')).body.data.id;
    expect((await req('POST', '/v1/reports/funnel', { object_type_id: typeId, steps: [{ name: 'a', filters: [] }] }, other.token)).status).toBe(404);
  });

  it('counts only what a user\'s policies admit and refuses masked properties', async () => {
    const user = await roleUser(t, tenant.token, 'eu_sales', ['read', 'write']);
    expect((await req('POST', '/v1/object-types/deals/policies', { name: 'eu only', action: 'select', role: 'eu_sales', condition_json: { property: 'region', op: 'eq', value: 'eu' } })).status).toBe(201);
    const gov = await req('PATCH', '/v1/governance', { masked_properties: [{ object_type_id: 'deals', property: 'secret', roles: ['eu_sales'] }] });
    expect(gov.status).toBe(200);
    const mine = await req('POST', '/v1/reports/pipeline', { object_type_id: 'deals', stage_property: 'stage', value_property: 'amount' }, user.token);
    expect(mine.status).toBe(200);
    expect(mine.body.data.total).toBe(3);
    expect(mine.body.data.total_value).toBe(350);
    // The API key still sees all five.
    expect((await req('POST', '/v1/reports/pipeline', { object_type_id: 'deals', stage_property: 'stage' })).body.data.total).toBe(5);
    for (const body of [
      { path: '/v1/reports/leaderboard', body: { object_type_id: 'deals', group_by: 'secret' } },
      { path: '/v1/reports/leaderboard', body: { object_type_id: 'deals', group_by: 'owner', aggregation: 'sum', value_property: 'secret' } },
      { path: '/v1/reports/timeseries', body: { object_type_id: 'deals', filters: ['secret:gt:1'] } },
    ]) {
      const res = await req('POST', body.path, body.body, user.token);
      expect(res.status, JSON.stringify(body)).toBe(403);
    }
  });
});

describe('saved reports', () => {
  it('creates, lists, gets, updates, runs, exports and deletes', async () => {
    const created = await req('POST', '/v1/saved-reports', {
      name: 'Won by owner',
      description: 'leaderboard',
      type: 'leaderboard',
      config_json: { object_type_id: 'deals', group_by: 'owner', filters: ['stage:eq:won'] },
      schedule: '0 8 * * 1',
      timezone: 'Europe/Paris',
    });
    expect(created.status).toBe(201);
    const r = created.body.data;
    expect(r).toMatchObject({ name: 'Won by owner', type: 'leaderboard', schedule: '0 8 * * 1', last_run_at: null });
    expect(new Date(r.next_run_at).getTime()).toBeGreaterThan(Date.now());
    expect((await req('GET', '/v1/saved-reports')).body.data.map((x: { id: string }) => x.id)).toContain(r.id);

    const run = await req('POST', `/v1/saved-reports/${r.id}/run`);
    expect(run.status).toBe(200);
    expect(run.body.data).toMatchObject({ report_id: r.id, status: 'succeeded', trigger: 'manual' });
    expect(run.body.data.result.entries).toEqual([
      { rank: 1, key: 'bob', value: 1, count: 1 },
      { rank: 2, key: 'cat', value: 1, count: 1 },
    ]);
    const got = await req('GET', `/v1/saved-reports/${r.id}`);
    expect(got.body.data.last_run.run_id).toBe(run.body.data.run_id);
    expect(got.body.data.last_run_at).not.toBeNull();

    const csv = await req('GET', `/v1/saved-reports/${r.id}/export?format=csv`);
    expect(csv.status).toBe(200);
    expect(csv.body.data.content).toBe('rank,key,value,count\n1,bob,1,1\n2,cat,1,1\n');
    expect(csv.body.data.filename).toBe('Won_by_owner.csv');
    const json = await req('GET', `/v1/saved-reports/${r.id}/export?format=json`);
    expect(JSON.parse(json.body.data.content)).toHaveLength(2);
    expect((await req('GET', `/v1/saved-reports/${r.id}/export?format=xml`)).status).toBe(400);
    // The workbook, read back with the same library: one sheet, the header row, numbers as numbers.
    const xlsx = await req('GET', `/v1/saved-reports/${r.id}/export?format=xlsx`);
    expect(xlsx.status).toBe(200);
    expect(xlsx.body.data).toMatchObject({ format: 'xlsx', filename: 'Won_by_owner.xlsx', encoding: 'base64' });
    const book = new ExcelJS.Workbook();
    await book.xlsx.load(Buffer.from(xlsx.body.data.content, 'base64') as never);
    const sheet = book.worksheets[0]!;
    expect(sheet.getRow(1).values).toEqual([undefined, 'rank', 'key', 'value', 'count']);
    expect(sheet.getRow(2).values).toEqual([undefined, 1, 'bob', 1, 1]);
    expect(sheet.rowCount).toBe(3);

    const upd = await req('PATCH', `/v1/saved-reports/${r.id}`, { name: 'Renamed', config_json: { object_type_id: 'deals', group_by: 'region' }, schedule: null });
    expect(upd.status).toBe(200);
    expect(upd.body.data).toMatchObject({ name: 'Renamed', schedule: null, next_run_at: null });
    expect((await req('PATCH', `/v1/saved-reports/${r.id}`, { config_json: { object_type_id: 'deals', group_by: 'nope' } })).status).toBe(400);
    expect((await req('PATCH', `/v1/saved-reports/${r.id}`, { schedule: 'every tuesday' })).body.error.details.issues[0].field).toBe('schedule');

    // Another tenant's key: 404 everywhere.
    for (const [m, p] of [
      ['GET', `/v1/saved-reports/${r.id}`],
      ['PATCH', `/v1/saved-reports/${r.id}`],
      ['POST', `/v1/saved-reports/${r.id}/run`],
      ['GET', `/v1/saved-reports/${r.id}/export`],
      ['DELETE', `/v1/saved-reports/${r.id}`],
    ] as const) {
      expect((await req(m, p, m === 'PATCH' ? { name: 'x' } : undefined, other.token)).status, `${m} ${p}`).toBe(404);
    }
    expect((await req('GET', '/v1/saved-reports', undefined, other.token)).body.data).toEqual([]);

    const del = await req('DELETE', `/v1/saved-reports/${r.id}`);
    expect(del.body.data).toEqual({ id: r.id, deleted: true });
    expect((await req('GET', `/v1/saved-reports/${r.id}`)).status).toBe(404);
    expect((await eventsOf(t, tenant.tenantId, 'saved_report.run')).length).toBeGreaterThan(0);
  });

  it('refuses a definition that does not run, and runs due schedules as the owner', async () => {
    const bad = await req('POST', '/v1/saved-reports', { name: 'x', type: 'pipeline', config_json: { object_type_id: 'deals' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.issues[0].field).toBe('config_json.stage_property');
    expect((await req('POST', '/v1/saved-reports', { name: 'x', type: 'pivot', config_json: {} })).status).toBe(400);

    expect((await req('POST', '/v1/saved-reports', { name: 'x', type: 'pipeline', config_json: { object_type_id: 'deals', stage_property: 'stage' }, email_to: ['not-an-address'] })).status).toBe(400);
    const s = await req('POST', '/v1/saved-reports', {
      name: 'Every minute',
      type: 'pipeline',
      config_json: { object_type_id: 'deals', stage_property: 'stage' },
      schedule: '* * * * *',
      email_to: ['Ops@Example.com', 'ops@example.com', 'cfo@example.com'],
    });
    expect(s.status).toBe(201);
    expect(s.body.data.email_to).toEqual(['ops@example.com', 'cfo@example.com']);
    const ran = await runDueReports(t.kernel, new Date(Date.now() + 120_000));
    expect(ran).toBeGreaterThanOrEqual(1);
    const got = await req('GET', `/v1/saved-reports/${s.body.data.id}`);
    expect(got.body.data.last_run).toMatchObject({ trigger: 'schedule', status: 'succeeded' });
    expect(got.body.data.last_run.result.total).toBe(5);
    // The scheduled result is mailed over SMTP, with the whole table as CSV.
    const mail = await inbox.next('ops@example.com', (m) => m.subject === 'Report: Every minute');
    expect(mail.to).toEqual(['ops@example.com', 'cfo@example.com']);
    expect(mail.text).toContain('Every minute: 4 rows');
    expect(mail.attachments).toHaveLength(1);
    expect(mail.attachments[0]).toMatchObject({ filename: 'Every_minute.csv', contentType: 'text/csv' });
    const csv = mail.attachments[0]!.content.toString('utf8').trim().split('\n');
    expect(csv[0]).toMatch(/^stage,/);
    expect(csv).toHaveLength(5);
    // A run by hand mails nothing.
    await req('POST', `/v1/saved-reports/${s.body.data.id}/run`);
    await req('PATCH', `/v1/saved-reports/${s.body.data.id}`, { email_to: [] });
    expect((await req('GET', `/v1/saved-reports/${s.body.data.id}`)).body.data.email_to).toEqual([]);
    await new Promise((r) => setTimeout(r, 500));
    expect(inbox.messages.filter((m) => m.subject === 'Report: Every minute')).toHaveLength(1);
  });
});

describe('dashboards', () => {
  it('manages dashboards and widgets, shares them by token, and shows the public only aggregates', async () => {
    const created = await req('POST', '/v1/dashboards', { name: 'Sales', description: 'weekly', layout_json: { columns: 12 } });
    expect(created.status).toBe(201);
    const d = created.body.data;
    expect(d).toMatchObject({ name: 'Sales', is_public: false, share_token: null, widgets: [] });

    const w1 = await req('POST', `/v1/dashboards/${d.id}/widgets`, {
      type: 'bar',
      title: 'By stage',
      config_json: { report: 'pipeline', query: { object_type_id: 'deals', stage_property: 'stage', value_property: 'amount' } },
      position_json: { x: 0, y: 0, w: 6, h: 4 },
    });
    expect(w1.status).toBe(201);
    const w2 = await req('POST', `/v1/dashboards/${d.id}/widgets`, { type: 'text', title: 'Note', config_json: { text: 'hello' } });
    expect(w2.status).toBe(201);
    for (const body of [
      { type: 'bar', config_json: { report: 'pipeline', query: { object_type_id: 'deals', stage_property: 'nope' } } },
      { type: 'bar', config_json: { report: 'pivot', query: {} } },
      { type: 'chart3d', config_json: {} },
    ]) {
      expect((await req('POST', `/v1/dashboards/${d.id}/widgets`, body)).status, JSON.stringify(body)).toBe(400);
    }
    expect((await req('POST', `/v1/dashboards/${d.id}/widgets`, { type: 'number', config_json: { saved_report_id: 'rpt_00000000000000000000000000' } })).status).toBe(404);

    const upd = await req('PATCH', `/v1/dashboards/${d.id}/widgets/${w1.body.data.id}`, { title: 'Pipeline', position_json: { x: 6 } });
    expect(upd.status).toBe(200);
    expect(upd.body.data).toMatchObject({ title: 'Pipeline', position_json: { x: 6 } });
    expect((await req('GET', `/v1/dashboards/${d.id}`)).body.data.widgets).toHaveLength(2);
    expect((await req('GET', '/v1/dashboards')).body.data.map((x: { id: string }) => x.id)).toContain(d.id);

    // Not shared: no token, no public view.
    expect((await req('PATCH', `/v1/dashboards/${d.id}`, { rotate_share_token: true })).status).toBe(400);
    const shared = await req('PATCH', `/v1/dashboards/${d.id}`, { is_public: true, name: 'Sales (public)' });
    expect(shared.status).toBe(200);
    const token = shared.body.data.share_token as string;
    expect(token).toMatch(/^dsh_/);
    const pub = await t.request('GET', `/v1/dashboards/public/${token}`);
    expect(pub.status).toBe(200);
    expect(pub.body.data.name).toBe('Sales (public)');
    const [pw1, pw2] = pub.body.data.widgets;
    expect(pw1.data.total).toBe(5);
    expect(pw1).not.toHaveProperty('config_json');
    expect(pw2.data).toEqual({ text: 'hello' });
    expect(JSON.stringify(pub.body)).not.toContain('object_type_id');

    // Rotating kills the old token; unsharing kills the new one.
    const rotated = await req('PATCH', `/v1/dashboards/${d.id}`, { rotate_share_token: true });
    const token2 = rotated.body.data.share_token as string;
    expect(token2).not.toBe(token);
    expect((await t.request('GET', `/v1/dashboards/public/${token}`)).status).toBe(404);
    expect((await t.request('GET', `/v1/dashboards/public/${token2}`)).status).toBe(200);
    await req('PATCH', `/v1/dashboards/${d.id}`, { is_public: false });
    expect((await t.request('GET', `/v1/dashboards/public/${token2}`)).status).toBe(404);
    expect((await t.request('GET', '/v1/dashboards/public/dsh_nope')).status).toBe(404);

    // Another tenant's key: 404.
    for (const [m, p] of [
      ['GET', `/v1/dashboards/${d.id}`],
      ['PATCH', `/v1/dashboards/${d.id}`],
      ['DELETE', `/v1/dashboards/${d.id}`],
      ['POST', `/v1/dashboards/${d.id}/widgets`],
      ['PATCH', `/v1/dashboards/${d.id}/widgets/${w1.body.data.id}`],
      ['DELETE', `/v1/dashboards/${d.id}/widgets/${w1.body.data.id}`],
    ] as const) {
      const body = m === 'POST' ? { type: 'text', config_json: {} } : m === 'PATCH' ? (p.includes('widgets') ? { title: 'x' } : { name: 'x' }) : undefined;
      expect((await req(m, p, body, other.token)).status, `${m} ${p}`).toBe(404);
    }

    expect((await req('DELETE', `/v1/dashboards/${d.id}/widgets/${w2.body.data.id}`)).body.data).toEqual({ id: w2.body.data.id, deleted: true });
    expect((await req('DELETE', `/v1/dashboards/${d.id}/widgets/${w2.body.data.id}`)).status).toBe(404);
    expect((await req('DELETE', `/v1/dashboards/${d.id}`)).body.data).toEqual({ id: d.id, deleted: true });
    expect((await req('GET', `/v1/dashboards/${d.id}`)).status).toBe(404);
  });

  it('a user\'s shared dashboard shows the public no more than that user may see', async () => {
    const user = await roleUser(t, tenant.token, 'eu_sales', ['read', 'write']);
    const d = await req('POST', '/v1/dashboards', { name: 'Mine', is_public: true }, user.token);
    expect(d.status).toBe(201);
    await req('POST', `/v1/dashboards/${d.body.data.id}/widgets`, { type: 'number', config_json: { report: 'pipeline', query: { object_type_id: 'deals', stage_property: 'stage' } } }, user.token);
    const pub = await t.request('GET', `/v1/dashboards/public/${d.body.data.share_token}`);
    expect(pub.status).toBe(200);
    // The eu_sales policy admits the three EU deals only.
    expect(pub.body.data.widgets[0].data.total).toBe(3);
  });
});
