import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObject, defineType, eventsOf, roleUser, uncatalogedEvents } from '../../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { reviews, workflows } from '../tables.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };
let lawyer: { token: string; id: string };
let cfo: { token: string; id: string };
let writer: { token: string };
let admin2: { token: string };

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant({ plan_tier: 'enterprise' });
  other = await t.newTenant({ plan_tier: 'enterprise' });
  lawyer = await roleUser(t, tenant.token, 'legal');
  cfo = await roleUser(t, tenant.token, 'finance');
  writer = await t.newKey(tenant.token, { scopes: ['read', 'write'] });
  admin2 = await t.newKey(tenant.token, { scopes: ['*'] });
  await defineType(t, tenant.token, 'contracts', { title: { data_type: 'string' }, value: { data_type: 'number' } });
});
afterAll(() => t?.close());

const req = (method: string, path: string, body?: unknown, token = tenant.token) => t.request(method, path, { token, body });

const TWO_STAGES = [
  { name: 'legal', approver_roles: ['legal'] },
  { name: 'finance', approver_user_ids: [] as string[], approver_roles: ['finance'] },
];

describe('workflow definitions', () => {
  it('creates, lists, updates and deletes workflows, one enabled per type', async () => {
    await defineType(t, tenant.token, 'memos');
    const res = await req('POST', '/v1/object-types/memos/workflows', { name: 'Memo review', stages: [{ name: 'boss' }] });
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({ name: 'Memo review', enabled: true, allow_self_approval: false, stages: [{ name: 'boss', approver_roles: [], approver_user_ids: [], required_approvals: 1 }] });
    const second = await req('POST', '/v1/object-types/memos/workflows', { name: 'Other', stages: [{ name: 'x' }] });
    expect(second.status).toBe(409);
    const disabled = await req('POST', '/v1/object-types/memos/workflows', { name: 'Other', stages: [{ name: 'x' }], enabled: false });
    expect(disabled.status).toBe(201);
    expect((await req('PATCH', `/v1/object-types/memos/workflows/${disabled.body.data.id}`, { enabled: true })).status).toBe(409);
    const list = await req('GET', '/v1/object-types/memos/workflows');
    expect(list.body.data.map((w: { name: string }) => w.name)).toEqual(['Memo review', 'Other']);
    const upd = await req('PATCH', `/v1/object-types/memos/workflows/${res.body.data.id}`, { name: 'Renamed', stages: [{ name: 'a' }, { name: 'b', required_approvals: 2 }] });
    expect(upd.body.data).toMatchObject({ name: 'Renamed', stages: [{ name: 'a' }, { name: 'b', required_approvals: 2 }] });
    const del = await req('DELETE', `/v1/object-types/memos/workflows/${disabled.body.data.id}`);
    expect(del.body.data).toEqual({ deleted: true, id: disabled.body.data.id });
    for (const type of ['workflow.created', 'workflow.updated', 'workflow.deleted']) {
      expect((await eventsOf(t, tenant.tenantId, type)).some((e) => e.data.object_type === 'memos'), type).toBe(true);
    }
  });

  it('checks stages and scopes', async () => {
    const cases: [unknown, string][] = [
      [{ name: 'x', stages: [] }, 'stages'],
      [{ name: 'x', stages: [{ name: 'a' }, { name: 'a' }] }, 'stages'],
      [{ name: 'x', stages: [{ name: 'a', required_approvals: 0 }] }, 'stages.0.required_approvals'],
      [{ name: '', stages: [{ name: 'a' }] }, 'name'],
    ];
    for (const [body, field] of cases) {
      const res = await req('POST', '/v1/object-types/contracts/workflows', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.details.issues[0].field).toBe(field);
    }
    expect((await req('POST', '/v1/object-types/contracts/workflows', { name: 'x', stages: [{ name: 'a' }] }, writer.token)).status).toBe(403);
    expect((await req('POST', '/v1/object-types/nope/workflows', { name: 'x', stages: [{ name: 'a' }] })).status).toBe(404);
    expect((await req('PATCH', '/v1/object-types/contracts/workflows/wf_nope', { name: 'x' })).status).toBe(404);
  });

  it('takes approvers only among this tenant\'s users and roles, naming the field', async () => {
    await defineType(t, tenant.token, 'approvals');
    const stranger = await roleUser(t, other.token, 'legal');
    const cases: [Record<string, unknown>, string][] = [
      [{ name: 'a', approver_user_ids: [lawyer.id, stranger.id] }, 'stages.0.approver_user_ids.1'],
      [{ name: 'a', approver_user_ids: ['usr_00000000000000000000000000'] }, 'stages.0.approver_user_ids.0'],
      [{ name: 'a', approver_roles: ['no_such_role'] }, 'stages.0.approver_roles.0'],
    ];
    for (const [stage, field] of cases) {
      const res = await req('POST', '/v1/object-types/approvals/workflows', { name: 'x', stages: [stage] });
      expect(res.status, JSON.stringify(stage)).toBe(404);
      expect(res.body.error).toMatchObject({ code: 'NOT_FOUND', details: { field } });
    }
    expect((await req('GET', '/v1/object-types/approvals/workflows')).body.data).toEqual([]);

    // Roles by id or name are stored by name, as a user's role is matched.
    const legalId = (await req('GET', '/v1/roles')).body.data.find((r: { name: string }) => r.name === 'legal').id;
    const res = await req('POST', '/v1/object-types/approvals/workflows', { name: 'ok', stages: [{ name: 'a', approver_roles: [legalId, 'legal'], approver_user_ids: [cfo.id] }] });
    expect(res.status).toBe(201);
    expect(res.body.data.stages[0]).toMatchObject({ approver_roles: ['legal'], approver_user_ids: [cfo.id] });
    const patch = await req('PATCH', `/v1/object-types/approvals/workflows/${res.body.data.id}`, { stages: [{ name: 'a', approver_user_ids: [stranger.id] }] });
    expect(patch.status).toBe(404);
    expect(patch.body.error.details.field).toBe('stages.0.approver_user_ids.0');
    expect((await req('GET', '/v1/object-types/approvals/workflows')).body.data[0].stages[0].approver_user_ids).toEqual([cfo.id]);
  });
});

describe('reviews', () => {
  let wfId: string;
  beforeAll(async () => {
    const res = await req('POST', '/v1/object-types/contracts/workflows', { name: 'Contract approval', stages: TWO_STAGES });
    wfId = res.body.data.id;
  });

  it('takes a record through every stage to approved, with history and events', async () => {
    const c = await createObject(t, tenant.token, 'contracts', { title: 'NDA' });
    const none = await req('GET', `/v1/objects/contracts/${c.id}/workflow-status`);
    expect(none.body.data).toMatchObject({ status: 'none', stage: null, history: [] });

    const sub = await req('POST', `/v1/objects/contracts/${c.id}/submit-for-review`, { comment: 'please' });
    expect(sub.status).toBe(200);
    expect(sub.body.data).toEqual({ submitted: true, status: 'in_review', stage: 'legal', workflow_id: wfId });
    expect((await req('POST', `/v1/objects/contracts/${c.id}/submit-for-review`)).status).toBe(409);

    const notApprover = await req('POST', `/v1/objects/contracts/${c.id}/approve`, {}, writer.token);
    expect(notApprover.status).toBe(403);
    expect((await req('POST', `/v1/objects/contracts/${c.id}/approve`, {}, cfo.token)).status).toBe(403);
    const legal = await req('POST', `/v1/objects/contracts/${c.id}/approve`, { comment: 'fine' }, lawyer.token);
    expect(legal.status).toBe(200);
    expect(legal.body.data).toEqual({ approved: true, stage: 'legal', status: 'in_review', next_stage: 'finance', approvals: 1, required_approvals: 1 });
    expect((await req('POST', `/v1/objects/contracts/${c.id}/approve`, {}, lawyer.token)).status).toBe(403);
    const fin = await req('POST', `/v1/objects/contracts/${c.id}/approve`, {}, cfo.token);
    expect(fin.body.data).toMatchObject({ approved: true, stage: 'finance', status: 'approved', next_stage: null });
    expect((await req('POST', `/v1/objects/contracts/${c.id}/approve`, {}, cfo.token)).status).toBe(409);

    const status = await req('GET', `/v1/objects/contracts/${c.id}/workflow-status`);
    expect(status.body.data).toMatchObject({ status: 'approved', stage: 'finance', workflow: 'Contract approval', pending_changes: null });
    expect(status.body.data.history.map((h: { action: string; stage: string }) => [h.action, h.stage])).toEqual([
      ['submitted', 'legal'],
      ['comment', 'legal'],
      ['approved', 'legal'],
      ['approved', 'finance'],
    ]);
    expect(status.body.data.history[2]).toMatchObject({ actor_type: 'user', actor_id: lawyer.id, comment: 'fine' });
    for (const type of ['workflow.submitted', 'workflow.stage_approved', 'workflow.approved']) {
      const ev = (await eventsOf(t, tenant.tenantId, type)).find((e) => e.resourceId === c.id);
      expect(ev?.data, type).toMatchObject({ object_type: 'contracts', object_id: c.id, workflow_id: wfId });
    }
    // Decided reviews can start again.
    expect((await req('POST', `/v1/objects/contracts/${c.id}/submit-for-review`)).status).toBe(200);
  });

  it('rejects with a reason, and refuses decisions on records not in review', async () => {
    const c = await createObject(t, tenant.token, 'contracts', { title: 'Lease' });
    expect((await req('POST', `/v1/objects/contracts/${c.id}/approve`, {}, lawyer.token)).status).toBe(409);
    expect((await req('POST', `/v1/objects/contracts/${c.id}/reject`, {}, lawyer.token)).status).toBe(409);
    await req('POST', `/v1/objects/contracts/${c.id}/submit-for-review`);
    expect((await req('POST', `/v1/objects/contracts/${c.id}/reject`, { reason: 'no' }, cfo.token)).status).toBe(403);
    const rej = await req('POST', `/v1/objects/contracts/${c.id}/reject`, { reason: 'Missing clause 4' }, lawyer.token);
    expect(rej.body.data).toEqual({ rejected: true, stage: 'legal', status: 'rejected' });
    const status = await req('GET', `/v1/objects/contracts/${c.id}/workflow-status`);
    expect(status.body.data.status).toBe('rejected');
    expect(status.body.data.history.at(-1)).toMatchObject({ action: 'rejected', comment: 'Missing clause 4' });
    const ev = (await eventsOf(t, tenant.tenantId, 'workflow.rejected')).find((e) => e.resourceId === c.id);
    expect(ev?.data).toMatchObject({ reason: 'Missing clause 4', stage: 'legal' });
  });

  it('needs distinct approvals where a stage asks for several; the submitter cannot approve', async () => {
    await defineType(t, tenant.token, 'budgets');
    await req('POST', '/v1/object-types/budgets/workflows', { name: 'Board', stages: [{ name: 'board', required_approvals: 2 }] });
    const b = await createObject(t, tenant.token, 'budgets', {});
    await req('POST', `/v1/objects/budgets/${b.id}/submit-for-review`);
    expect((await req('POST', `/v1/objects/budgets/${b.id}/approve`)).status).toBe(403); // the submitter
    const one = await req('POST', `/v1/objects/budgets/${b.id}/approve`, {}, writer.token);
    expect(one.body.data).toMatchObject({ status: 'in_review', approvals: 1, required_approvals: 2, next_stage: null });
    expect((await req('POST', `/v1/objects/budgets/${b.id}/approve`, {}, writer.token)).status).toBe(409);
    const two = await req('POST', `/v1/objects/budgets/${b.id}/approve`, {}, admin2.token);
    expect(two.body.data.status).toBe('approved');
  });

  it('answers 409 without an enabled workflow and 404 for unknown records', async () => {
    await defineType(t, tenant.token, 'plain');
    const p = await createObject(t, tenant.token, 'plain', {});
    const res = await req('POST', `/v1/objects/plain/${p.id}/submit-for-review`);
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/no enabled workflow/);
    expect((await req('POST', '/v1/objects/contracts/obj_nope/submit-for-review')).status).toBe(404);
    expect((await req('GET', '/v1/objects/contracts/obj_nope/workflow-status')).status).toBe(404);
    const reader = await t.newKey(tenant.token, { scopes: ['read'] });
    expect((await req('POST', `/v1/objects/plain/${p.id}/submit-for-review`, {}, reader.token)).status).toBe(403);
  });

  it('holds changes for approval where governance requires it, and applies them once approved', async () => {
    const c = await createObject(t, tenant.token, 'contracts', { title: 'Supply', value: 100 });
    const gov = await req('PATCH', '/v1/governance', { approval_required_object_types: ['contracts'] });
    expect(gov.body.data.approval_required_object_types).toEqual([(await req('GET', '/v1/object-types/contracts')).body.data.id]);

    const held = await req('PATCH', `/v1/objects/contracts/${c.id}`, { properties: { value: 250 }, version: 1 });
    expect(held.status).toBe(202);
    expect(held.body.data).toMatchObject({ version: 1, properties: { value: 100 }, pending_approval: true, pending_changes: { value: 250 }, review: { status: 'in_review', stage: 'legal' } });
    expect((await req('GET', `/v1/objects/contracts/${c.id}`)).body.data.properties.value).toBe(100);
    expect((await req('PATCH', `/v1/objects/contracts/${c.id}`, { properties: { value: 300 } })).status).toBe(409);
    expect((await req('GET', `/v1/objects/contracts/${c.id}/workflow-status`)).body.data.pending_changes).toEqual({ value: 250 });

    await req('POST', `/v1/objects/contracts/${c.id}/approve`, {}, lawyer.token);
    expect((await req('GET', `/v1/objects/contracts/${c.id}`)).body.data.properties.value).toBe(100);
    await req('POST', `/v1/objects/contracts/${c.id}/approve`, {}, cfo.token);
    const applied = (await req('GET', `/v1/objects/contracts/${c.id}`)).body.data;
    expect(applied).toMatchObject({ version: 2, properties: { value: 250 }, updated_by: cfo.id });
    const ev = (await eventsOf(t, tenant.tenantId, 'object.updated')).find((e) => e.resourceId === c.id);
    expect(ev?.data).toMatchObject({ approved_via: expect.stringMatching(/^wf_/), changes: ['value'] });

    // A rejected change is dropped.
    await req('PATCH', `/v1/objects/contracts/${c.id}`, { properties: { title: 'Supply v2' } });
    await req('POST', `/v1/objects/contracts/${c.id}/reject`, { reason: 'no' }, lawyer.token);
    expect((await req('GET', `/v1/objects/contracts/${c.id}`)).body.data).toMatchObject({ version: 2, properties: { title: 'Supply' } });
    // Batches are held the same way.
    const batch = await req('POST', '/v1/objects/contracts/batch/update', { updates: [{ object_id: c.id, properties: { value: 1 } }] });
    expect(batch.body.data).toEqual([{ object_id: c.id, version: 2, pending_approval: true }]);
    await req('PATCH', '/v1/governance', { approval_required_object_types: [] });
  });

  it('deletes a workflow with records in review only when confirmed, cancelling them', async () => {
    await defineType(t, tenant.token, 'invoices');
    const wf = await req('POST', '/v1/object-types/invoices/workflows', { name: 'Pay', stages: [{ name: 'ap' }] });
    const inv = await createObject(t, tenant.token, 'invoices', {});
    await req('POST', `/v1/objects/invoices/${inv.id}/submit-for-review`);
    const ask = await req('DELETE', `/v1/object-types/invoices/workflows/${wf.body.data.id}`);
    expect(ask.status).toBe(409);
    expect(ask.body.error).toMatchObject({ code: 'DEPENDENCY_EXISTS', dependencies: [{ type: 'reviews', count: 1 }] });
    const done = await req('DELETE', `/v1/object-types/invoices/workflows/${wf.body.data.id}?force=true&confirm_token=${ask.body.error.confirm_token}`);
    expect(done.status).toBe(200);
    const [review] = await t.db.system.select().from(reviews).where(eq(reviews.objectId, inv.id));
    expect(review!.status).toBe('cancelled');
    expect((await req('GET', `/v1/objects/invoices/${inv.id}/workflow-status`)).body.data.status).toBe('cancelled');
    expect((await eventsOf(t, tenant.tenantId, 'workflow.cancelled')).some((e) => e.resourceId === inv.id)).toBe(true);
  });

  it('refuses to change stages while records are in review', async () => {
    const c = await createObject(t, tenant.token, 'contracts', { title: 'Busy' });
    await req('POST', `/v1/objects/contracts/${c.id}/submit-for-review`);
    const res = await req('PATCH', `/v1/object-types/contracts/workflows/${wfId}`, { stages: [{ name: 'only' }] });
    expect(res.status).toBe(409);
    expect((await req('PATCH', `/v1/object-types/contracts/workflows/${wfId}`, { name: 'Renamed ok' })).status).toBe(200);
  });

  it('lists the reviews waiting for a decision, only of records the caller may see', async () => {
    await defineType(t, tenant.token, 'briefs', { title: { data_type: 'string' } });
    expect((await req('POST', '/v1/object-types/briefs/workflows', { name: 'Brief review', stages: [{ name: 'desk', required_approvals: 2 }] })).status).toBe(201);
    const [a, b, c] = [await createObject(t, tenant.token, 'briefs', { title: 'A' }), await createObject(t, tenant.token, 'briefs', { title: 'B' }), await createObject(t, tenant.token, 'briefs', { title: 'C' })];
    for (const r of [a, b]) expect((await req('POST', `/v1/objects/briefs/${r.id}/submit-for-review`)).status).toBe(200);
    expect((await req('POST', `/v1/objects/briefs/${a.id}/approve`, {}, admin2.token)).status).toBe(200);
    const list = await req('GET', '/v1/object-types/briefs/reviews');
    expect(list.status).toBe(200);
    expect(list.body.data.total).toBe(2);
    expect(list.body.data.reviews.map((r: { object_id: string }) => r.object_id)).toEqual([a.id, b.id]);
    expect(list.body.data.reviews[0]).toMatchObject({ status: 'in_review', workflow: 'Brief review', stage: 'desk', stage_index: 0, required_approvals: 2, record: { id: a.id, properties: { title: 'A' } } });
    expect(list.body.data.reviews[0].approvals).toHaveLength(1);
    const paged = await req('GET', '/v1/object-types/briefs/reviews?limit=1&offset=1');
    expect(paged.body.data).toMatchObject({ total: 2, reviews: [{ object_id: b.id }] });
    expect((await req('POST', `/v1/objects/briefs/${b.id}/reject`, { reason: 'no' }, admin2.token)).status).toBe(200);
    expect((await req('GET', '/v1/object-types/briefs/reviews?status=rejected')).body.data.reviews.map((r: { object_id: string }) => r.object_id)).toEqual([b.id]);
    expect((await req('GET', '/v1/object-types/briefs/reviews?status=none')).status).toBe(400);
    expect((await req('GET', '/v1/object-types/briefs/reviews')).body.data.reviews.some((r: { object_id: string }) => r.object_id === c.id)).toBe(false);
    // A user under a select policy sees (and counts) only the records the policy lets them see.
    expect((await req('POST', '/v1/object-types/briefs/policies', { name: 'only B', action: 'select', condition_json: { property: 'title', op: 'eq', value: 'B' } })).status).toBe(201);
    expect((await req('POST', `/v1/objects/briefs/${b.id}/submit-for-review`)).status).toBe(200);
    const seen = await req('GET', '/v1/object-types/briefs/reviews', undefined, lawyer.token);
    expect(seen.body.data).toMatchObject({ total: 1, reviews: [{ object_id: b.id }] });
    expect((await req('GET', '/v1/object-types/briefs/reviews', undefined, other.token)).status).toBe(404);
  });

  it('is 404 for another tenant, and changes nothing', async () => {
    const c = await createObject(t, tenant.token, 'contracts', { title: 'Theirs not' });
    await req('POST', `/v1/objects/contracts/${c.id}/submit-for-review`);
    const typeId = (await req('GET', '/v1/object-types/contracts')).body.data.id;
    for (const [m, p] of [
      ['POST', `/v1/objects/contracts/${c.id}/approve`],
      ['POST', `/v1/objects/contracts/${c.id}/reject`],
      ['POST', `/v1/objects/contracts/${c.id}/submit-for-review`],
      ['GET', `/v1/objects/contracts/${c.id}/workflow-status`],
      ['GET', `/v1/object-types/${typeId}/workflows`],
      ['PATCH', `/v1/object-types/${typeId}/workflows/${wfId}`],
      ['DELETE', `/v1/object-types/${typeId}/workflows/${wfId}`],
    ] as const) {
      const res = await req(m, p, m === 'PATCH' ? { enabled: false } : m === 'POST' ? {} : undefined, other.token);
      expect(res.status, `${m} ${p}`).toBe(404);
    }
    const [row] = await t.db.system.select().from(workflows).where(eq(workflows.id, wfId));
    expect(row!.enabled).toBe(true);
    expect((await req('GET', `/v1/objects/contracts/${c.id}/workflow-status`)).body.data.status).toBe('in_review');
  });
});

describe('events', () => {
  it('are all in the event catalog, with the declared payloads', async () => {
    const { count, problems } = await uncatalogedEvents(t, [tenant.tenantId, other.tenantId]);
    expect(count).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});
