import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInTenant, type TenantContext } from '../context.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { confirmDeletion } from './dependencies.ts';
import { ApiError } from './errors.ts';

let t: TestPlatform;
let tenantId: string;
let otherTenantId: string;
beforeAll(async () => {
  t = await testPlatform();
  tenantId = (await t.newTenant()).tenantId;
  otherTenantId = (await t.newTenant()).tenantId;
});
afterAll(() => t?.close());

const inTenant = <T>(id: string, fn: (ctx: TenantContext) => Promise<T>) =>
  runInTenant(t.kernel, { tenantId: id, actor: { type: 'system', id: null }, requestId: null }, fn);
const deps = [{ type: 'objects', count: 12, label: 'Objects' }];
const refusal = (p: Promise<unknown>) => p.then(() => null, (e: ApiError) => e);

describe('confirmDeletion', () => {
  it('lets a delete without dependents through', async () => {
    expect(await inTenant(tenantId, (ctx) => confirmDeletion(ctx, { type: 'object_type', id: 'ot_1' }, [{ type: 'objects', count: 0, label: 'Objects' }], {}))).toEqual({ cascaded: false });
  });

  it('answers 409 with counts and a single-use token that confirms a forced delete once', async () => {
    const first = await refusal(inTenant(tenantId, (ctx) => confirmDeletion(ctx, { type: 'object_type', id: 'ot_1' }, deps, {})));
    expect(first).toBeInstanceOf(ApiError);
    expect(first!.code).toBe('DEPENDENCY_EXISTS');
    const body = first!.toJSON() as { dependencies: unknown; confirm_token: string };
    expect(body.dependencies).toEqual(deps);
    const token = body.confirm_token;

    const ok = await inTenant(tenantId, (ctx) => confirmDeletion(ctx, { type: 'object_type', id: 'ot_1' }, deps, { force: true, confirm_token: token }));
    expect(ok).toEqual({ cascaded: true });
    const reused = await refusal(inTenant(tenantId, (ctx) => confirmDeletion(ctx, { type: 'object_type', id: 'ot_1' }, deps, { force: true, confirm_token: token })));
    expect(reused!.code).toBe('DEPENDENCY_EXISTS');
  });

  it('binds the token to its tenant and record', async () => {
    const issued = await refusal(inTenant(tenantId, (ctx) => confirmDeletion(ctx, { type: 'object_type', id: 'ot_2' }, deps, {})));
    const token = (issued!.toJSON() as { confirm_token: string }).confirm_token;
    const otherRecord = await refusal(inTenant(tenantId, (ctx) => confirmDeletion(ctx, { type: 'object_type', id: 'ot_3' }, deps, { force: true, confirm_token: token })));
    expect(otherRecord!.code).toBe('DEPENDENCY_EXISTS');
    const issued2 = await refusal(inTenant(tenantId, (ctx) => confirmDeletion(ctx, { type: 'object_type', id: 'ot_2' }, deps, {})));
    const token2 = (issued2!.toJSON() as { confirm_token: string }).confirm_token;
    const otherTenant = await refusal(inTenant(otherTenantId, (ctx) => confirmDeletion(ctx, { type: 'object_type', id: 'ot_2' }, deps, { force: true, confirm_token: token2 })));
    expect(otherTenant!.code).toBe('DEPENDENCY_EXISTS');
  });
});
