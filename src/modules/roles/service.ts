import { and, asc, count, eq, inArray, sql } from 'drizzle-orm';
import { IDENTITY_INVALIDATE_CHANNEL } from '../../core/auth/principal.ts';
import type { TenantContext } from '../../core/context.ts';
import type { Db } from '../../core/db/client.ts';
import { confirmDeletion } from '../../core/http/dependencies.ts';
import { ApiError, notFound, referenceNotFound } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import { BUILTIN_ROLES, BUILTIN_ROLE_IDS, builtinRole, ROLELESS_NAMES, type BuiltinRole } from './permissions.ts';
import { roles, userRoles, type RoleRow } from './tables.ts';

/** A role as services see it: built-in or custom. */
export interface Role {
  id: string;
  name: string;
  description: string | null;
  permissions: string[];
  parentRoleId: string | null;
  builtIn: boolean;
  createdAt: Date | null;
  updatedAt: Date | null;
}

const fromBuiltin = (r: BuiltinRole): Role => ({
  id: r.id,
  name: r.name,
  description: r.description,
  permissions: [...r.permissions],
  parentRoleId: null,
  builtIn: true,
  createdAt: null,
  updatedAt: null,
});

const fromRow = (r: RoleRow): Role => ({
  id: r.id,
  name: r.name,
  description: r.description,
  permissions: r.permissions,
  parentRoleId: r.parentRoleId,
  builtIn: false,
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
});

/** Every role's permissions with its ancestors' folded in; a broken or cyclic chain stops where it breaks. */
function effectiveOf(role: Role, byId: Map<string, Role>): string[] {
  const out = new Set<string>();
  const seen = new Set<string>();
  for (let r: Role | undefined = role; r && !seen.has(r.id); r = r.parentRoleId ? byId.get(r.parentRoleId) : undefined) {
    seen.add(r.id);
    for (const p of r.permissions) out.add(p);
  }
  return [...out].sort();
}

export function roleDto(role: Role, byId?: Map<string, Role>) {
  return {
    id: role.id,
    name: role.name,
    description: role.description,
    permissions: role.permissions,
    effective_permissions: byId ? effectiveOf(role, byId) : role.permissions,
    parent_role_id: role.parentRoleId,
    built_in: role.builtIn,
    created_at: role.createdAt?.toISOString() ?? null,
    updated_at: role.updatedAt?.toISOString() ?? null,
  };
}

function invalidate(ctx: TenantContext) {
  ctx.afterCommit(() => ctx.kernel.bus.publish(IDENTITY_INVALIDATE_CHANNEL, ctx.tenantId));
}

async function allRoles(db: Db, tenantId: string): Promise<Map<string, Role>> {
  const rows = await db.select().from(roles).where(eq(roles.tenantId, tenantId)).orderBy(asc(roles.id));
  const map = new Map<string, Role>();
  for (const r of BUILTIN_ROLES) map.set(r.id, fromBuiltin(r));
  for (const r of rows) map.set(r.id, fromRow(r));
  return map;
}

/** A role by id (`role_...`, or `admin`/`member`/`viewer`) or by name, case-insensitively. */
export async function findRole(ctx: TenantContext, ref: string): Promise<Role | undefined> {
  const builtin = builtinRole(ref);
  if (builtin) return fromBuiltin(builtin);
  const [row] = await ctx.db
    .select()
    .from(roles)
    .where(and(eq(roles.tenantId, ctx.tenantId), ref.startsWith('role_') ? eq(roles.id, ref) : sql`lower(${roles.name}) = ${ref.toLowerCase()}`));
  return row ? fromRow(row) : undefined;
}

/** The role `ref` names; `field`: the body field it came from, named by the 404. */
export async function requireRole(ctx: TenantContext, ref: string, field?: string): Promise<Role> {
  const role = await findRole(ctx, ref);
  if (!role) throw field ? referenceNotFound(field, `Role '${ref}' not found`) : new ApiError('NOT_FOUND', `Role '${ref}' not found`);
  return role;
}

/**
 * The name a user's role is matched by (policies, approvers, masks), for a role given by id or name:
 * a role of this tenant, or `authenticated`/`anonymous`, what a user without a role is.
 */
export async function requireRoleName(ctx: TenantContext, ref: string, field: string): Promise<string> {
  if (ROLELESS_NAMES.includes(ref)) return ref;
  return (await requireRole(ctx, ref, field)).name;
}

export async function listRoles(ctx: TenantContext) {
  const byId = await allRoles(ctx.db, ctx.tenantId);
  const counts = await ctx.db
    .select({ roleId: userRoles.roleId, n: count() })
    .from(userRoles)
    .where(eq(userRoles.tenantId, ctx.tenantId))
    .groupBy(userRoles.roleId);
  const countOf = new Map(counts.map((c) => [c.roleId, c.n]));
  return [...byId.values()].map((r) => ({ ...roleDto(r, byId), user_count: countOf.get(r.id) ?? 0 }));
}

export async function getRole(ctx: TenantContext, roleId: string) {
  const byId = await allRoles(ctx.db, ctx.tenantId);
  const role = byId.get(roleId) ?? [...byId.values()].find((r) => r.name.toLowerCase() === roleId.toLowerCase());
  if (!role) throw notFound('Role');
  const [n] = await ctx.db
    .select({ n: count() })
    .from(userRoles)
    .where(and(eq(userRoles.tenantId, ctx.tenantId), eq(userRoles.roleId, role.id)));
  return { ...roleDto(role, byId), user_count: n?.n ?? 0 };
}

async function assertNameFree(ctx: TenantContext, name: string, exceptId?: string) {
  if (builtinRole(name)) throw new ApiError('ALREADY_EXISTS', `'${name}' is the name of a built-in role`, { details: { field: 'name' } });
  if (ROLELESS_NAMES.includes(name.toLowerCase())) throw new ApiError('ALREADY_EXISTS', `'${name}' is what a user without a role is called`, { details: { field: 'name' } });
  const existing = await findRole(ctx, name);
  if (existing && existing.id !== exceptId) throw new ApiError('ALREADY_EXISTS', `A role named '${name}' already exists`, { details: { field: 'name' } });
}

/** The parent must exist and must not have `roleId` among its ancestors (no cycles). */
async function checkParent(ctx: TenantContext, parentId: string | null | undefined, roleId?: string): Promise<string | null> {
  if (!parentId) return null;
  const byId = await allRoles(ctx.db, ctx.tenantId);
  const parent = byId.get(parentId);
  if (!parent) throw referenceNotFound('parent_role_id', `Role '${parentId}' not found`);
  const seen = new Set<string>();
  for (let r: Role | undefined = parent; r && !seen.has(r.id); r = r.parentRoleId ? byId.get(r.parentRoleId) : undefined) {
    if (r.id === roleId) throw new ApiError('VALIDATION_ERROR', 'parent_role_id: a role cannot inherit from itself or its descendants', { details: { field: 'parent_role_id' } });
    seen.add(r.id);
  }
  return parent.id;
}

export interface CreateRoleInput {
  name: string;
  description?: string | null;
  parent_role_id?: string | null;
  permissions?: string[];
}

export async function createRole(ctx: TenantContext, input: CreateRoleInput) {
  await assertNameFree(ctx, input.name);
  const parentRoleId = await checkParent(ctx, input.parent_role_id);
  const [row] = await ctx.db
    .insert(roles)
    .values({
      id: newId('role'),
      tenantId: ctx.tenantId,
      name: input.name,
      description: input.description ?? null,
      permissions: [...new Set(input.permissions ?? [])],
      parentRoleId,
    })
    .returning();
  await ctx.audit({ action: 'role.created', resourceType: 'role', resourceId: row!.id, metadata: { name: row!.name } });
  return getRole(ctx, row!.id);
}

async function lockCustomRole(ctx: TenantContext, roleId: string): Promise<RoleRow> {
  if (BUILTIN_ROLE_IDS.has(roleId)) throw new ApiError('FORBIDDEN', `'${roleId}' is a built-in role and cannot be changed`);
  const [row] = await ctx.db
    .select()
    .from(roles)
    .where(and(eq(roles.tenantId, ctx.tenantId), eq(roles.id, roleId)))
    .for('update');
  if (!row) throw notFound('Role');
  return row;
}

export async function updateRole(ctx: TenantContext, roleId: string, input: { name?: string; description?: string | null; parent_role_id?: string | null }) {
  const current = await lockCustomRole(ctx, roleId);
  if (input.name !== undefined && input.name.toLowerCase() !== current.name.toLowerCase()) await assertNameFree(ctx, input.name, roleId);
  const parentRoleId = input.parent_role_id !== undefined ? await checkParent(ctx, input.parent_role_id, roleId) : current.parentRoleId;
  await ctx.db
    .update(roles)
    .set({
      name: input.name ?? current.name,
      description: input.description !== undefined ? input.description : current.description,
      parentRoleId,
      updatedAt: new Date(),
    })
    .where(eq(roles.id, roleId));
  await ctx.audit({ action: 'role.updated', resourceType: 'role', resourceId: roleId, metadata: { changes: Object.keys(input) } });
  if (parentRoleId !== current.parentRoleId) invalidate(ctx);
  return getRole(ctx, roleId);
}

export async function setPermissions(ctx: TenantContext, roleId: string, permissions: string[]) {
  await lockCustomRole(ctx, roleId);
  await ctx.db
    .update(roles)
    .set({ permissions: [...new Set(permissions)], updatedAt: new Date() })
    .where(eq(roles.id, roleId));
  await ctx.audit({ action: 'role.permissions_set', resourceType: 'role', resourceId: roleId, metadata: { permissions } });
  invalidate(ctx);
  return getRole(ctx, roleId);
}

export async function deleteRole(ctx: TenantContext, roleId: string, query: { force?: boolean; confirm_token?: string }) {
  const current = await lockCustomRole(ctx, roleId);
  const [assigned] = await ctx.db
    .select({ n: count() })
    .from(userRoles)
    .where(and(eq(userRoles.tenantId, ctx.tenantId), eq(userRoles.roleId, roleId)));
  const [children] = await ctx.db
    .select({ n: count() })
    .from(roles)
    .where(and(eq(roles.tenantId, ctx.tenantId), eq(roles.parentRoleId, roleId)));
  await confirmDeletion(
    ctx,
    { type: 'role', id: roleId },
    [
      { type: 'user_roles', count: assigned?.n ?? 0, label: 'Users holding the role' },
      { type: 'roles', count: children?.n ?? 0, label: 'Roles inheriting from it' },
    ],
    query,
  );
  const holders = await ctx.db
    .select({ userId: userRoles.userId })
    .from(userRoles)
    .where(and(eq(userRoles.tenantId, ctx.tenantId), eq(userRoles.roleId, roleId), eq(userRoles.isPrimary, true)));
  await ctx.db.delete(userRoles).where(and(eq(userRoles.tenantId, ctx.tenantId), eq(userRoles.roleId, roleId)));
  for (const { userId } of holders) await promotePrimary(ctx, userId);
  await ctx.db
    .update(roles)
    .set({ parentRoleId: null, updatedAt: new Date() })
    .where(and(eq(roles.tenantId, ctx.tenantId), eq(roles.parentRoleId, roleId)));
  await ctx.db.delete(roles).where(eq(roles.id, roleId));
  await ctx.audit({ action: 'role.deleted', resourceType: 'role', resourceId: roleId, metadata: { name: current.name } });
  invalidate(ctx);
  return { id: roleId, deleted: true as const };
}

// ---- assignments -------------------------------------------------------------------------------

/** When a user loses the primary role, their oldest remaining role becomes primary. */
async function promotePrimary(ctx: TenantContext, userId: string) {
  const [next] = await ctx.db
    .select()
    .from(userRoles)
    .where(and(eq(userRoles.tenantId, ctx.tenantId), eq(userRoles.userId, userId)))
    .orderBy(asc(userRoles.createdAt))
    .limit(1);
  if (next) {
    await ctx.db
      .update(userRoles)
      .set({ isPrimary: true })
      .where(and(eq(userRoles.tenantId, ctx.tenantId), eq(userRoles.userId, userId), eq(userRoles.roleId, next.roleId)));
  }
}

/** Makes `role` the user's primary role (null removes the primary assignment). */
export async function setPrimaryRole(ctx: TenantContext, userId: string, role: Role | null) {
  const where = and(eq(userRoles.tenantId, ctx.tenantId), eq(userRoles.userId, userId));
  await ctx.db.delete(userRoles).where(and(where, eq(userRoles.isPrimary, true)));
  if (role) {
    await ctx.db.delete(userRoles).where(and(where, eq(userRoles.roleId, role.id)));
    await ctx.db.insert(userRoles).values({ tenantId: ctx.tenantId, userId, roleId: role.id, isPrimary: true, assignedBy: ctx.actor.id });
  } else {
    await promotePrimary(ctx, userId);
  }
  invalidate(ctx);
}

export async function assignRole(ctx: TenantContext, userId: string, role: Role) {
  const existing = await ctx.db
    .select()
    .from(userRoles)
    .where(and(eq(userRoles.tenantId, ctx.tenantId), eq(userRoles.userId, userId)));
  const already = existing.find((r) => r.roleId === role.id);
  if (!already) {
    await ctx.db.insert(userRoles).values({
      tenantId: ctx.tenantId,
      userId,
      roleId: role.id,
      isPrimary: existing.length === 0,
      assignedBy: ctx.actor.id,
    });
    await ctx.audit({ action: 'role.assigned', resourceType: 'user', resourceId: userId, metadata: { role_id: role.id } });
    invalidate(ctx);
  }
  return { user_id: userId, role_id: role.id, role_name: role.name, assigned: true as const, already_assigned: Boolean(already) };
}

export async function removeRole(ctx: TenantContext, userId: string, roleId: string) {
  const [row] = await ctx.db
    .delete(userRoles)
    .where(and(eq(userRoles.tenantId, ctx.tenantId), eq(userRoles.userId, userId), eq(userRoles.roleId, roleId)))
    .returning();
  if (!row) throw new ApiError('NOT_FOUND', 'The user does not hold this role');
  if (row.isPrimary) await promotePrimary(ctx, userId);
  await ctx.audit({ action: 'role.removed', resourceType: 'user', resourceId: userId, metadata: { role_id: roleId } });
  invalidate(ctx);
  return { user_id: userId, role_id: roleId, removed: true as const };
}

export async function removeAllRoles(ctx: TenantContext, userId: string) {
  await ctx.db.delete(userRoles).where(and(eq(userRoles.tenantId, ctx.tenantId), eq(userRoles.userId, userId)));
}

export async function listUserRoles(ctx: TenantContext, userId: string) {
  const byId = await allRoles(ctx.db, ctx.tenantId);
  const rows = await ctx.db
    .select()
    .from(userRoles)
    .where(and(eq(userRoles.tenantId, ctx.tenantId), eq(userRoles.userId, userId)))
    .orderBy(asc(userRoles.createdAt));
  return rows
    .filter((r) => byId.has(r.roleId))
    .sort((a, b) => Number(b.isPrimary) - Number(a.isPrimary))
    .map((r) => ({ ...roleDto(byId.get(r.roleId)!, byId), primary: r.isPrimary, assigned_at: r.createdAt.toISOString() }));
}

/** Primary role names of many users (for user lists). */
export async function primaryRoleNames(ctx: TenantContext, userIds: string[]): Promise<Map<string, string>> {
  if (userIds.length === 0) return new Map();
  const rows = await ctx.db
    .select({ userId: userRoles.userId, roleId: userRoles.roleId })
    .from(userRoles)
    .where(and(eq(userRoles.tenantId, ctx.tenantId), inArray(userRoles.userId, userIds), eq(userRoles.isPrimary, true)));
  const custom = rows.filter((r) => !BUILTIN_ROLE_IDS.has(r.roleId)).map((r) => r.roleId);
  const names = new Map<string, string>(BUILTIN_ROLES.map((r) => [r.id, r.name]));
  if (custom.length) {
    for (const r of await ctx.db.select({ id: roles.id, name: roles.name }).from(roles).where(and(eq(roles.tenantId, ctx.tenantId), inArray(roles.id, custom)))) {
      names.set(r.id, r.name);
    }
  }
  return new Map(rows.filter((r) => names.has(r.roleId)).map((r) => [r.userId, names.get(r.roleId)!]));
}

/** Subquery of the ids of users holding `roleId`; for filtering user lists. */
export function usersWithRoleSql(tenantId: string, roleId: string) {
  return sql`(select ${userRoles.userId} from ${userRoles} where ${userRoles.tenantId} = ${tenantId} and ${userRoles.roleId} = ${roleId})`;
}

export async function countUserRoles(ctx: TenantContext, userId: string, customOnly: boolean): Promise<number> {
  const rows = await ctx.db
    .select({ roleId: userRoles.roleId })
    .from(userRoles)
    .where(and(eq(userRoles.tenantId, ctx.tenantId), eq(userRoles.userId, userId)));
  return rows.filter((r) => !customOnly || !BUILTIN_ROLE_IDS.has(r.roleId)).length;
}

/**
 * What a user may do: the permissions of all their roles and those roles' ancestors, and the name of
 * the primary role. Takes a tenant-scoped `db` so the access-token resolver can call it outside a request.
 */
export async function effectivePermissions(
  db: Db,
  tenantId: string,
  userId: string,
): Promise<{ permissions: string[]; primary: string | null; roles: string[] }> {
  const assigned = await db
    .select()
    .from(userRoles)
    .where(and(eq(userRoles.tenantId, tenantId), eq(userRoles.userId, userId)));
  if (assigned.length === 0) return { permissions: [], primary: null, roles: [] };
  const byId = assigned.every((a) => BUILTIN_ROLE_IDS.has(a.roleId))
    ? new Map(BUILTIN_ROLES.map((r) => [r.id, fromBuiltin(r)]))
    : await allRoles(db, tenantId);
  const permissions = new Set<string>();
  let primary: string | null = null;
  const names: string[] = [];
  for (const a of assigned) {
    const role = byId.get(a.roleId);
    if (!role) continue;
    for (const p of effectiveOf(role, byId)) permissions.add(p);
    if (a.isPrimary) primary = role.name;
    else names.push(role.name);
  }
  return { permissions: [...permissions].sort(), primary, roles: primary ? [primary, ...names] : names };
}
