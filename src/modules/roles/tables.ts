import { sql } from 'drizzle-orm';
import { boolean, index, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { createdAt, idColumn, tenantIdColumn, updatedAt } from '../../core/db/columns.ts';

/** Custom roles of a tenant. The built-in roles (admin, member, viewer) are not rows; see permissions.ts. */
export const roles = pgTable(
  'roles',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    name: text('name').notNull(),
    description: text('description'),
    permissions: text('permissions').array().notNull().default([]),
    /** Inherits the parent's permissions (a built-in role id or a custom role's). */
    parentRoleId: text('parent_role_id'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('roles_tenant_name_idx').on(t.tenantId, sql`lower(${t.name})`), index('roles_parent_idx').on(t.tenantId, t.parentRoleId)],
);

/**
 * Which users hold which roles. One assignment per user may be primary: the `role` shown on the user.
 * A user's permissions are the union of all their roles' (and those roles' parents').
 */
export const userRoles = pgTable(
  'user_roles',
  {
    tenantId: tenantIdColumn(),
    userId: text('user_id').notNull(),
    roleId: text('role_id').notNull(),
    isPrimary: boolean('is_primary').notNull().default(false),
    assignedBy: text('assigned_by'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.userId, t.roleId] }),
    uniqueIndex('user_roles_primary_idx').on(t.tenantId, t.userId).where(sql`${t.isPrimary}`),
    index('user_roles_role_idx').on(t.tenantId, t.roleId),
  ],
);

export type RoleRow = typeof roles.$inferSelect;
export type UserRoleRow = typeof userRoles.$inferSelect;
