import { defineModule } from '../../core/module.ts';
import { rolesRoutes } from './routes.ts';

export {
  assignRole,
  countUserRoles,
  effectivePermissions,
  findRole,
  listUserRoles,
  primaryRoleNames,
  removeAllRoles,
  removeRole,
  requireRole,
  requireRoleName,
  roleDto,
  setPrimaryRole,
  usersWithRoleSql,
  type Role,
} from './service.ts';
export { BUILTIN_ROLES, scopesOf } from './permissions.ts';
export { RoleSchema, RoleParams } from './routes.ts';

export const rolesModule = defineModule({ name: 'roles', routes: () => rolesRoutes() });
