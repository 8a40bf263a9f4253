import { z } from '@hono/zod-openapi';
import { ForceDeleteQuery } from '../../core/http/dependencies.ts';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../core/http/envelope.ts';
import { createRouter, defineRoute, idParam } from '../../core/http/route.ts';
import { tenantWork } from '../../core/http/work.ts';
import { PERMISSION_PATTERN } from './permissions.ts';
import { createRole, deleteRole, getRole, listRoles, setPermissions, updateRole } from './service.ts';

export const RoleSchema = z
  .object({
    id: z.string().openapi({ example: 'role_01jh3x2k7d9f8g6h5j4k3m2n1p', description: 'Built-in roles have their name as id' }),
    name: z.string(),
    description: z.string().nullable(),
    permissions: z.array(z.string()).openapi({ description: 'Permissions granted by this role itself' }),
    effective_permissions: z.array(z.string()).openapi({ description: 'With the permissions inherited from the parent chain' }),
    parent_role_id: z.string().nullable(),
    built_in: z.boolean(),
    created_at: IsoDate.nullable(),
    updated_at: IsoDate.nullable(),
  })
  .openapi('Role');

export const RoleWithCountSchema = RoleSchema.extend({ user_count: z.number().int() }).openapi('RoleWithUserCount');

export const Permission = z
  .string()
  .regex(PERMISSION_PATTERN, 'A scope (read, write, schema, files, auth, ai, *) or <area>:<action>, e.g. objects:read')
  .openapi({ example: 'invoices:read' });

const RoleName = z.string().trim().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/, 'Letters, digits, space, _ . - only');
export const RoleParams = idParam('role_id');

const MANAGE = { kind: 'tenant', scope: '*' } as const;
const TAGS = ['Roles'];
const PERMISSIONS_NOTE =
  'A permission is a kernel scope or `<area>:<action>`; a user\'s access token gets the scopes its roles\' permissions map to (`x:read` -> `read`, `x:write|create|update|delete` -> `write`, `files:*`/`schema:*`/`ai:*`/`auth:*` -> that scope).';

const list = defineRoute(MANAGE, {
  method: 'get',
  path: '/v1/roles',
  tags: TAGS,
  summary: 'List roles',
  description: 'The built-in roles (admin, member, viewer) and the tenant\'s custom roles, each with the number of users holding it.',
  responses: { 200: jsonResponse(z.array(RoleWithCountSchema), 'The roles') },
});

const create = defineRoute(MANAGE, {
  method: 'post',
  path: '/v1/roles',
  tags: TAGS,
  summary: 'Create role',
  description: `Creates a custom role, optionally inheriting from \`parent_role_id\`. ${PERMISSIONS_NOTE}`,
  request: {
    body: jsonBody(
      z.object({
        name: RoleName,
        description: z.string().max(500).nullable().optional(),
        parent_role_id: z.string().max(64).nullable().optional(),
        permissions: z.array(Permission).max(200).optional(),
      }),
    ),
  },
  responses: { 201: jsonResponse(RoleWithCountSchema, 'The role') },
});

const get = defineRoute(MANAGE, {
  method: 'get',
  path: '/v1/roles/{role_id}',
  tags: TAGS,
  summary: 'Get role',
  request: { params: RoleParams },
  responses: { 200: jsonResponse(RoleWithCountSchema, 'The role') },
});

const update = defineRoute(MANAGE, {
  method: 'patch',
  path: '/v1/roles/{role_id}',
  tags: TAGS,
  summary: 'Update role',
  description: 'Renames a custom role or changes its description or parent. Built-in roles answer 403.',
  request: {
    params: RoleParams,
    body: jsonBody(
      z.object({
        name: RoleName.optional(),
        description: z.string().max(500).nullable().optional(),
        parent_role_id: z.string().max(64).nullable().optional(),
      }),
    ),
  },
  responses: { 200: jsonResponse(RoleWithCountSchema, 'The updated role') },
});

const remove = defineRoute(MANAGE, {
  method: 'delete',
  path: '/v1/roles/{role_id}',
  tags: TAGS,
  summary: 'Delete role',
  description:
    'Deletes a custom role. While users hold it or roles inherit from it the answer is 409 DEPENDENCY_EXISTS with a `confirm_token`; `?force=true&confirm_token=` removes the assignments (the users keep their other roles) and detaches the child roles.',
  request: { params: RoleParams, query: ForceDeleteQuery },
  responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), 'The role is gone') },
});

const permissions = defineRoute(MANAGE, {
  method: 'put',
  path: '/v1/roles/{role_id}/permissions',
  tags: TAGS,
  summary: 'Assign permissions to role',
  description: `Replaces the permissions of a custom role. Access tokens of its users get the new scopes on their next request. ${PERMISSIONS_NOTE}`,
  request: { params: RoleParams, body: jsonBody(z.object({ permissions: z.array(Permission).max(200) })) },
  responses: { 200: jsonResponse(RoleWithCountSchema, 'The role with its new permissions') },
});

export function rolesRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listRoles(ctx))), 200));
  app.openapi(create, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => createRole(ctx, c.req.valid('json')))), 201));
  app.openapi(get, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getRole(ctx, c.req.valid('param').role_id))), 200));
  app.openapi(update, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => updateRole(ctx, c.req.valid('param').role_id, c.req.valid('json')))), 200),
  );
  app.openapi(remove, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => deleteRole(ctx, c.req.valid('param').role_id, c.req.valid('query')))), 200),
  );
  app.openapi(permissions, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => setPermissions(ctx, c.req.valid('param').role_id, c.req.valid('json').permissions))), 200),
  );
  return app;
}
