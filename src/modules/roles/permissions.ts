import type { Scope } from '../../core/auth/principal.ts';

/**
 * Permissions are what roles grant. A permission is a kernel scope (`read`, `write`, `schema`, `files`,
 * `auth`, `ai`, `*`) or `<area>:<action>` (`objects:read`, `invoices:delete`, `files:*`). Routes check
 * scopes, so every permission maps onto scopes; the raw permissions stay on the user principal for
 * modules that want finer checks.
 */
export const PERMISSION_PATTERN = /^(\*|[a-z][a-z0-9_.-]{0,63}(:([a-z]{1,32}|\*))?)$/;

const SCOPE_NAMES = new Set<string>(['read', 'write', 'schema', 'files', 'auth', 'ai', '*']);
/** Areas that have a scope of their own: any action on them needs that scope. */
const SCOPED_AREAS = new Set<string>(['schema', 'files', 'ai', 'auth']);
const WRITE_ACTIONS = new Set<string>(['write', 'create', 'update', 'delete']);

export function scopesOf(permissions: readonly string[]): Set<Scope> {
  const scopes = new Set<Scope>();
  for (const permission of permissions) {
    if (SCOPE_NAMES.has(permission)) {
      scopes.add(permission as Scope);
      continue;
    }
    const [area, action] = permission.split(':') as [string, string | undefined];
    if (SCOPED_AREAS.has(area)) scopes.add(area as Scope);
    else if (action === 'read') scopes.add('read');
    else if (action && WRITE_ACTIONS.has(action)) scopes.add('write');
    else if (action === '*' || action === 'manage') {
      scopes.add('read');
      scopes.add('write');
    }
  }
  return scopes;
}

export interface BuiltinRole {
  id: string;
  name: string;
  description: string;
  permissions: string[];
}

/** Every tenant has these; they cannot be changed or deleted. Their ids are their names. */
export const BUILTIN_ROLES: readonly BuiltinRole[] = [
  { id: 'admin', name: 'admin', description: 'Everything, including users, roles, keys and settings', permissions: ['*'] },
  { id: 'member', name: 'member', description: 'Reads and writes data, files and AI', permissions: ['read', 'write', 'files', 'ai'] },
  { id: 'viewer', name: 'viewer', description: 'Reads data', permissions: ['read'] },
];

export const BUILTIN_ROLE_IDS = new Set(BUILTIN_ROLES.map((r) => r.id));

/** The role name of a user who holds no role (an anonymous sign-in or not): no role has these names. */
export const ROLELESS_NAMES: readonly string[] = ['authenticated', 'anonymous'];

export function builtinRole(idOrName: string): BuiltinRole | undefined {
  const key = idOrName.toLowerCase();
  return BUILTIN_ROLES.find((r) => r.id === key);
}
