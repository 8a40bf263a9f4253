import { z } from '@hono/zod-openapi';
import { ForceDeleteQuery } from '../../../core/http/dependencies.ts';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { referenceNotFound } from '../../../core/http/errors.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { createRouter, defineRoute, errorResponse, idParam, offsetPage } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { assignRole, listUserRoles, removeRole, requireRole, RoleParams, RoleSchema } from '../../roles/index.ts';
import { listFactors } from '../mfa/service.ts';
import { Email, FactorSchema, Metadata, Password, Phone, UserSchema } from '../schemas.ts';
import { adminCreateUser, adminUpdateUser, deleteUser, listUsers, type UserLifecycleHooks } from './service.ts';
import { findUser, getUser, toUserDto } from './store.ts';

const MANAGE = { kind: 'tenant', scope: '*' } as const;
const TAGS = ['Users'];
const UserParams = idParam('user_id');

const list = defineRoute(MANAGE, {
  method: 'get',
  path: '/v1/users',
  tags: TAGS,
  summary: 'List users',
  description: 'The tenant\'s users, newest first. `search` matches email, phone (substring) or id; `role` is a role id or name; `audience` separates app users from portal identities.',
  request: {
    query: offsetQuery({ limit: 50, max: 200 }).extend({
      search: z.string().trim().min(1).max(320).optional(),
      role: z.string().max(64).optional(),
      audience: z.enum(['app', 'portal']).optional(),
    }),
  },
  responses: { 200: jsonResponse(offsetPage('users', UserSchema), 'A page of users') },
});

const create = defineRoute(MANAGE, {
  method: 'post',
  path: '/v1/users',
  tags: TAGS,
  summary: 'Create user',
  description: 'Creates a user (email or phone required; password optional, checked against the tenant\'s policy). `role` defaults to the auth config\'s default_role (portal.default_role for portal identities).',
  request: {
    body: jsonBody(
      z.object({
        email: Email.optional(),
        password: Password.optional(),
        phone: Phone.optional(),
        role: z.string().max(64).optional(),
        email_verified: z.boolean().optional(),
        phone_verified: z.boolean().optional(),
        user_metadata: Metadata.optional(),
        audience: z.enum(['app', 'portal']).optional(),
      }),
    ),
  },
  responses: {
    201: jsonResponse(UserSchema, 'The user'),
    404: errorResponse('The role does not exist'),
    409: errorResponse('The email or phone is taken'),
  },
});

const get = defineRoute(MANAGE, {
  method: 'get',
  path: '/v1/users/{user_id}',
  tags: TAGS,
  summary: 'Get user',
  request: { params: UserParams },
  responses: { 200: jsonResponse(UserSchema, 'The user') },
});

const update = defineRoute(MANAGE, {
  method: 'patch',
  path: '/v1/users/{user_id}',
  tags: TAGS,
  summary: 'Update user',
  description:
    'Changes a user. `banned: true` (with `ban_reason`) ends every session at once and refuses sign-in; `banned: false` lifts it. A new `password` ends every session. `role` replaces the primary role (null removes it).',
  request: {
    params: UserParams,
    body: jsonBody(
      z.object({
        email: Email.optional(),
        phone: Phone.nullable().optional(),
        role: z.string().max(64).nullable().optional(),
        banned: z.boolean().optional(),
        ban_reason: z.string().max(500).nullable().optional(),
        email_verified: z.boolean().optional(),
        phone_verified: z.boolean().optional(),
        user_metadata: Metadata.optional(),
        password: Password.optional(),
      }),
    ),
  },
  responses: { 200: jsonResponse(UserSchema, 'The updated user'), 409: errorResponse('The email or phone is taken') },
});

const remove = defineRoute(MANAGE, {
  method: 'delete',
  path: '/v1/users/{user_id}',
  tags: TAGS,
  summary: 'Delete user',
  description:
    'Deletes a user and ends their sessions. While they have MFA factors, passkeys, linked identities, custom role assignments (or records of other modules) the answer is 409 DEPENDENCY_EXISTS with counts and a single-use `confirm_token` (5 minutes); `?force=true&confirm_token=` deletes them too.',
  request: { params: UserParams, query: ForceDeleteQuery },
  responses: {
    200: jsonResponse(z.object({ user_id: z.string(), deleted: z.literal(true) }), 'Deleted'),
    409: errorResponse('Dependency exists: dependent records must be removed first, or confirmed with confirm_token'),
  },
});

const mfa = defineRoute(MANAGE, {
  method: 'get',
  path: '/v1/users/{user_id}/mfa',
  tags: TAGS,
  summary: 'List user MFA factors',
  request: { params: UserParams },
  responses: { 200: jsonResponse(z.array(FactorSchema), 'The user\'s factors (no secrets)') },
});

const RolesTags = ['Roles'];
const UserRoleSchema = RoleSchema.extend({ primary: z.boolean(), assigned_at: z.string() }).openapi('UserRole');

const userRoles = defineRoute(MANAGE, {
  method: 'get',
  path: '/v1/users/{user_id}/roles',
  tags: RolesTags,
  summary: 'List user roles',
  description: 'The roles a user holds, the primary one first.',
  request: { params: UserParams },
  responses: { 200: jsonResponse(z.array(UserRoleSchema), 'The roles') },
});

const assign = defineRoute(MANAGE, {
  method: 'post',
  path: '/v1/roles/assign',
  tags: RolesTags,
  summary: 'Assign role to user',
  description: 'Gives a user a role (by id or name) in addition to their others; a user\'s first role becomes primary. Their access tokens get the new scopes on the next request. Assigning a held role changes nothing.',
  request: { body: jsonBody(z.object({ user_id: z.string().min(1).max(64), role_id: z.string().min(1).max(64) })) },
  responses: {
    200: jsonResponse(z.object({ user_id: z.string(), role_id: z.string(), role_name: z.string(), assigned: z.literal(true), already_assigned: z.boolean() }), 'Assigned'),
    404: errorResponse('No such user or role'),
  },
});

const unassign = defineRoute(MANAGE, {
  method: 'delete',
  path: '/v1/roles/{role_id}/users/{user_id}',
  tags: RolesTags,
  summary: 'Remove role from user',
  description: 'Takes a role from a user; when it was the primary one, their oldest remaining role becomes primary.',
  request: { params: RoleParams.merge(UserParams) },
  responses: { 200: jsonResponse(z.object({ user_id: z.string(), role_id: z.string(), removed: z.literal(true) }), 'Removed'), 404: errorResponse('No such user, or the user does not hold the role') },
});

export function usersRoutes(hooks: UserLifecycleHooks = {}) {
  const app = createRouter();
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listUsers(ctx, c.req.valid('query')))), 200));
  app.openapi(create, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => adminCreateUser(ctx, c.req.valid('json')))), 201));
  app.openapi(get, async (c) => c.json(ok(c, await tenantWork(c, async (ctx) => toUserDto(ctx, await getUser(ctx, c.req.valid('param').user_id)))), 200));
  app.openapi(update, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => adminUpdateUser(ctx, c.req.valid('param').user_id, c.req.valid('json')))), 200),
  );
  app.openapi(remove, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => deleteUser(ctx, c.req.valid('param').user_id, c.req.valid('query'), hooks))), 200),
  );
  app.openapi(mfa, async (c) =>
    c.json(ok(c, await tenantWork(c, async (ctx) => listFactors(ctx, (await getUser(ctx, c.req.valid('param').user_id)).id))), 200),
  );
  app.openapi(userRoles, async (c) =>
    c.json(ok(c, await tenantWork(c, async (ctx) => listUserRoles(ctx, (await getUser(ctx, c.req.valid('param').user_id)).id))), 200),
  );
  app.openapi(assign, async (c) => {
    const { user_id, role_id } = c.req.valid('json');
    const data = await tenantWork(c, async (ctx) => {
      const user = await findUser(ctx, user_id);
      if (!user) throw referenceNotFound('user_id', `User '${user_id}' not found`);
      return assignRole(ctx, user.id, await requireRole(ctx, role_id, 'role_id'));
    });
    return c.json(ok(c, data), 200);
  });
  app.openapi(unassign, async (c) => {
    const { user_id, role_id } = c.req.valid('param');
    const data = await tenantWork(c, async (ctx) => {
      const user = await getUser(ctx, user_id);
      const role = await requireRole(ctx, role_id);
      return removeRole(ctx, user.id, role.id);
    });
    return c.json(ok(c, data), 200);
  });
  return app;
}
