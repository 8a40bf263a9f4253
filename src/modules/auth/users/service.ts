import { and, count, desc, eq, ilike, inArray, isNotNull, or, sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import type { Db } from '../../../core/db/client.ts';
import { confirmDeletion, type Dependency } from '../../../core/http/dependencies.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { countUserRoles, findRole, primaryRoleNames, removeAllRoles, requireRole, setPrimaryRole, usersWithRoleSql } from '../../roles/index.ts';
import { passwordPolicy } from '../config/governance.ts';
import { getAuthConfig } from '../config/service.ts';
import { forgetDevices } from '../flows/devices.ts';
import { revokeUserSessions } from '../sessions/service.ts';
import { mfaFactors, oneTimeTokens, passkeys, recoveryCodes, refreshTokens, sessions, userIdentities, users, type Audience } from '../tables.ts';
import { checkPassword, hashPassword } from './passwords.ts';
import { assertUnique, getUser, insertUser, invalidateIdentity, normalizeEmail, toUserDto, updateUserRow, userDto } from './store.ts';

/** The admin side of users (/v1/users): list, create, update, ban and delete, ending sessions where it must. */

// ---- admin --------------------------------------------------------------------------------------

export interface ListUsersQuery {
  limit: number;
  offset: number;
  search?: string;
  role?: string;
  audience?: Audience;
}

export async function listUsers(ctx: TenantContext, query: ListUsersQuery) {
  const filters: (SQL | undefined)[] = [eq(users.tenantId, ctx.tenantId)];
  if (query.audience) filters.push(eq(users.audience, query.audience));
  if (query.search) {
    const pattern = `%${query.search.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
    filters.push(or(ilike(users.email, pattern), ilike(users.phone, pattern), eq(users.id, query.search)));
  }
  if (query.role) {
    const role = await findRole(ctx, query.role);
    if (!role) return { users: [], total: 0 };
    filters.push(inArray(users.id, usersWithRoleSql(ctx.tenantId, role.id)));
  }
  const where = and(...filters);
  const [rows, [total]] = await Promise.all([
    ctx.db.select().from(users).where(where).orderBy(desc(users.id)).limit(query.limit).offset(query.offset),
    ctx.db.select({ n: count() }).from(users).where(where),
  ]);
  const roles = await primaryRoleNames(ctx, rows.map((r) => r.id));
  return { users: rows.map((r) => userDto(r, roles.get(r.id) ?? null)), total: total?.n ?? 0 };
}

export interface AdminCreateUserInput {
  email?: string;
  password?: string;
  phone?: string;
  role?: string;
  email_verified?: boolean;
  phone_verified?: boolean;
  user_metadata?: Record<string, unknown>;
  audience?: Audience;
}

export async function adminCreateUser(ctx: TenantContext, input: AdminCreateUserInput) {
  if (!input.email && !input.phone) throw new ApiError('VALIDATION_ERROR', 'body: an email or a phone is required', { details: { field: 'email' } });
  const config = await getAuthConfig(ctx);
  const audience = input.audience ?? 'app';
  let passwordHash: string | null = null;
  if (input.password) {
    checkPassword(input.password, await passwordPolicy(ctx, config), input.email);
    passwordHash = await hashPassword(ctx.kernel.config, input.password);
  }
  const user = await insertUser(ctx, {
    audience,
    email: input.email,
    phone: input.phone,
    passwordHash,
    role: input.role,
    defaultRole: audience === 'portal' ? config.portal.default_role : config.default_role,
    emailVerified: input.email_verified,
    phoneVerified: input.phone_verified,
    userMetadata: input.user_metadata,
    via: 'admin',
  });
  return toUserDto(ctx, user);
}

export interface AdminUpdateUserInput {
  email?: string;
  phone?: string | null;
  role?: string | null;
  banned?: boolean;
  ban_reason?: string | null;
  email_verified?: boolean;
  phone_verified?: boolean;
  user_metadata?: Record<string, unknown>;
  password?: string;
}

export async function adminUpdateUser(ctx: TenantContext, userId: string, input: AdminUpdateUserInput) {
  const current = await getUser(ctx, userId, { lock: true });
  const email = input.email !== undefined ? normalizeEmail(input.email) : undefined;
  await assertUnique(ctx, current.audience, email, input.phone, userId);
  const patch: Partial<typeof users.$inferInsert> = {};
  const changes: string[] = [];
  const now = new Date();
  if (email !== undefined && email !== current.email) {
    patch.email = email;
    patch.emailVerifiedAt = input.email_verified ? now : null;
    changes.push('email');
  }
  if (input.email_verified !== undefined && (input.email_verified !== (current.emailVerifiedAt !== null) || patch.email)) {
    patch.emailVerifiedAt = input.email_verified ? (current.emailVerifiedAt ?? now) : null;
    changes.push('email_verified');
  }
  if (input.phone !== undefined && input.phone !== current.phone) {
    patch.phone = input.phone;
    patch.phoneVerifiedAt = input.phone && input.phone_verified ? now : null;
    changes.push('phone');
  }
  if (input.phone_verified !== undefined && input.phone_verified !== (current.phoneVerifiedAt !== null)) {
    patch.phoneVerifiedAt = input.phone_verified ? now : null;
    changes.push('phone_verified');
  }
  if (input.user_metadata !== undefined) {
    patch.userMetadata = input.user_metadata;
    changes.push('user_metadata');
  }
  let endSessions: string | null = null;
  if (input.password !== undefined) {
    const config = await getAuthConfig(ctx);
    checkPassword(input.password, await passwordPolicy(ctx, config), email ?? current.email);
    patch.passwordHash = await hashPassword(ctx.kernel.config, input.password);
    patch.passwordChangedAt = now;
    changes.push('password');
    endSessions = 'password_changed';
  }
  if (input.role !== undefined) {
    await setPrimaryRole(ctx, userId, input.role === null ? null : await requireRole(ctx, input.role, 'role'));
    changes.push('role');
  }
  let banned = false;
  if (input.banned !== undefined && input.banned !== (current.bannedAt !== null)) {
    patch.bannedAt = input.banned ? now : null;
    patch.banReason = input.banned ? (input.ban_reason ?? null) : null;
    changes.push('banned');
    banned = input.banned;
    if (banned) endSessions = 'banned';
  } else if (input.ban_reason !== undefined && current.bannedAt) {
    patch.banReason = input.ban_reason;
    changes.push('ban_reason');
  }
  const row = await updateUserRow(ctx, userId, patch, banned ? changes.filter((c) => c !== 'banned') : changes);
  if (banned) {
    await ctx.emit({ type: 'user.banned', resourceType: 'user', resourceId: userId, data: { reason: row.banReason } });
  }
  if (endSessions) await revokeUserSessions(ctx, userId, endSessions);
  invalidateIdentity(ctx);
  return toUserDto(ctx, row);
}

/** Other modules' records that belong to a user (issue 4's data, 5's notifications) plug in here from app.ts. */
export interface UserLifecycleHooks {
  /** Counted for the 409 DEPENDENCY_EXISTS answer of DELETE /v1/users/:id. */
  dependencies?: ((ctx: TenantContext, userId: string) => Promise<Dependency[]>)[];
  /** Runs in the deleting transaction after the user's own records are gone. */
  onDelete?: ((ctx: TenantContext, userId: string) => Promise<void>)[];
}

export async function deleteUser(ctx: TenantContext, userId: string, query: { force?: boolean; confirm_token?: string }, hooks: UserLifecycleHooks = {}) {
  const user = await getUser(ctx, userId, { lock: true });
  const [factors] = await ctx.db
    .select({ n: count() })
    .from(mfaFactors)
    .where(and(eq(mfaFactors.tenantId, ctx.tenantId), eq(mfaFactors.userId, userId), isNotNull(mfaFactors.verifiedAt)));
  const [keys] = await ctx.db
    .select({ n: count() })
    .from(passkeys)
    .where(and(eq(passkeys.tenantId, ctx.tenantId), eq(passkeys.userId, userId)));
  const [links] = await ctx.db
    .select({ n: count() })
    .from(userIdentities)
    .where(and(eq(userIdentities.tenantId, ctx.tenantId), eq(userIdentities.userId, userId)));
  const deps: Dependency[] = [
    { type: 'mfa_factors', count: factors?.n ?? 0, label: 'MFA factors' },
    { type: 'passkeys', count: keys?.n ?? 0, label: 'Passkeys' },
    { type: 'identities', count: links?.n ?? 0, label: 'Linked OAuth/SAML identities' },
    { type: 'custom_roles', count: await countUserRoles(ctx, userId, true), label: 'Custom role assignments' },
  ];
  for (const more of hooks.dependencies ?? []) deps.push(...(await more(ctx, userId)));
  const { cascaded } = await confirmDeletion(ctx, { type: 'user', id: userId }, deps, query);

  await revokeUserSessions(ctx, userId, 'user_deleted');
  const ownSessions = and(eq(sessions.tenantId, ctx.tenantId), eq(sessions.userId, userId));
  const sessionIds = ctx.db.select({ id: sessions.id }).from(sessions).where(ownSessions);
  await ctx.db.delete(refreshTokens).where(and(eq(refreshTokens.tenantId, ctx.tenantId), inArray(refreshTokens.sessionId, sessionIds)));
  await ctx.db.delete(sessions).where(ownSessions);
  await ctx.db.delete(mfaFactors).where(and(eq(mfaFactors.tenantId, ctx.tenantId), eq(mfaFactors.userId, userId)));
  await ctx.db.delete(recoveryCodes).where(and(eq(recoveryCodes.tenantId, ctx.tenantId), eq(recoveryCodes.userId, userId)));
  await ctx.db.delete(passkeys).where(and(eq(passkeys.tenantId, ctx.tenantId), eq(passkeys.userId, userId)));
  await ctx.db.delete(userIdentities).where(and(eq(userIdentities.tenantId, ctx.tenantId), eq(userIdentities.userId, userId)));
  await ctx.db.delete(oneTimeTokens).where(and(eq(oneTimeTokens.tenantId, ctx.tenantId), eq(oneTimeTokens.userId, userId)));
  await forgetDevices(ctx, userId);
  await removeAllRoles(ctx, userId);
  for (const hook of hooks.onDelete ?? []) await hook(ctx, userId);
  await ctx.db.delete(users).where(and(eq(users.tenantId, ctx.tenantId), eq(users.id, userId)));
  await ctx.emit({ type: 'user.deleted', resourceType: 'user', resourceId: userId, data: { email: user.email, cascaded } });
  invalidateIdentity(ctx);
  return { user_id: userId, deleted: true as const };
}

/** Tenants where `email` has an identity (for POST /v1/tenants/lookup and portal-identify); system-level. */
export async function tenantIdsByEmail(db: Db, email: string, audience?: Audience): Promise<string[]> {
  const rows = await db
    .selectDistinct({ tenantId: users.tenantId })
    .from(users)
    .where(and(eq(users.email, normalizeEmail(email)), audience ? eq(users.audience, audience) : undefined, sql`${users.bannedAt} is null`));
  return rows.map((r) => r.tenantId);
}
