import { and, eq } from 'drizzle-orm';
import { IDENTITY_INVALIDATE_CHANNEL } from '../../../core/auth/principal.ts';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { findRole, primaryRoleNames, requireRole, setPrimaryRole } from '../../roles/index.ts';
import { users, type Audience, type UserRow } from '../tables.ts';

/**
 * User rows: finding, creating and changing them, and their DTO. Every part of identity (sign-in
 * flows, sessions, MFA, passkeys, SSO, the admin routes) builds on these; they depend on no part.
 */

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function userDto(row: UserRow, role: string | null) {
  return {
    id: row.id,
    email: row.email,
    phone: row.phone,
    role: role ?? (row.isAnonymous ? 'anonymous' : 'authenticated'),
    audience: row.audience,
    email_verified: row.emailVerifiedAt !== null,
    phone_verified: row.phoneVerifiedAt !== null,
    is_anonymous: row.isAnonymous,
    banned: row.bannedAt !== null,
    ban_reason: row.banReason,
    banned_at: iso(row.bannedAt),
    user_metadata: row.userMetadata,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    last_sign_in_at: iso(row.lastSignInAt),
  };
}

export type UserDto = ReturnType<typeof userDto>;

export async function toUserDto(ctx: TenantContext, row: UserRow): Promise<UserDto> {
  const roles = await primaryRoleNames(ctx, [row.id]);
  return userDto(row, roles.get(row.id) ?? null);
}

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

export function invalidateIdentity(ctx: TenantContext) {
  ctx.afterCommit(() => ctx.kernel.bus.publish(IDENTITY_INVALIDATE_CHANNEL, ctx.tenantId));
}

export async function findUserByEmail(ctx: TenantContext, audience: Audience, email: string): Promise<UserRow | undefined> {
  const [row] = await ctx.db
    .select()
    .from(users)
    .where(and(eq(users.tenantId, ctx.tenantId), eq(users.audience, audience), eq(users.email, normalizeEmail(email))));
  return row;
}

export async function findUserByPhone(ctx: TenantContext, audience: Audience, phone: string): Promise<UserRow | undefined> {
  const [row] = await ctx.db
    .select()
    .from(users)
    .where(and(eq(users.tenantId, ctx.tenantId), eq(users.audience, audience), eq(users.phone, phone)));
  return row;
}

export async function findUser(ctx: TenantContext, userId: string): Promise<UserRow | undefined> {
  const [row] = await ctx.db
    .select()
    .from(users)
    .where(and(eq(users.tenantId, ctx.tenantId), eq(users.id, userId)));
  return row;
}

export async function getUser(ctx: TenantContext, userId: string, options: { lock?: boolean } = {}): Promise<UserRow> {
  const query = ctx.db
    .select()
    .from(users)
    .where(and(eq(users.tenantId, ctx.tenantId), eq(users.id, userId)));
  const [row] = options.lock ? await query.for('update') : await query;
  if (!row) throw notFound('User');
  return row;
}

/** 409 naming the field when another identity of the audience has the email or phone. */
export async function assertUnique(ctx: TenantContext, audience: Audience, email: string | null | undefined, phone: string | null | undefined, exceptId?: string) {
  if (email) {
    const existing = await findUserByEmail(ctx, audience, email);
    if (existing && existing.id !== exceptId) throw new ApiError('ALREADY_EXISTS', 'A user with this email already exists', { details: { field: 'email' } });
  }
  if (phone) {
    const existing = await findUserByPhone(ctx, audience, phone);
    if (existing && existing.id !== exceptId) throw new ApiError('ALREADY_EXISTS', 'A user with this phone number already exists', { details: { field: 'phone' } });
  }
}

export interface NewUser {
  audience: Audience;
  email?: string | null;
  phone?: string | null;
  /** An argon2 hash (use hashPassword); raw passwords never reach this function. */
  passwordHash?: string | null;
  /** A role the caller named: it must exist (404 naming `role`). */
  role?: string | null;
  /**
   * The auth config's default role, given when `role` is not. One deleted since it was configured is
   * skipped (and logged): a signup does not fail on the tenant's configuration, and gets less, never more.
   */
  defaultRole?: string | null;
  emailVerified?: boolean;
  phoneVerified?: boolean;
  isAnonymous?: boolean;
  userMetadata?: Record<string, unknown>;
  /** What created it, for the event: admin, signup, oauth, saml, magic_link, otp, anonymous. */
  via: string;
}

export async function insertUser(ctx: TenantContext, input: NewUser): Promise<UserRow> {
  const email = input.email ? normalizeEmail(input.email) : null;
  await assertUnique(ctx, input.audience, email, input.phone);
  let role = input.role ? await requireRole(ctx, input.role, 'role') : null;
  if (!input.role && input.defaultRole) {
    role = (await findRole(ctx, input.defaultRole)) ?? null;
    if (!role) ctx.kernel.log.warn({ tenantId: ctx.tenantId, defaultRole: input.defaultRole }, 'the auth config\'s default role no longer exists; the new user gets none');
  }
  const now = new Date();
  const [row] = await ctx.db
    .insert(users)
    .values({
      id: newId('usr'),
      tenantId: ctx.tenantId,
      audience: input.audience,
      email,
      phone: input.phone ?? null,
      passwordHash: input.passwordHash ?? null,
      emailVerifiedAt: input.emailVerified ? now : null,
      phoneVerifiedAt: input.phoneVerified ? now : null,
      isAnonymous: input.isAnonymous ?? false,
      userMetadata: input.userMetadata ?? {},
      passwordChangedAt: input.passwordHash ? now : null,
    })
    .returning();
  const user = row!;
  if (role) await setPrimaryRole(ctx, user.id, role);
  await ctx.emit({
    type: 'user.created',
    resourceType: 'user',
    resourceId: user.id,
    data: { email: user.email, audience: user.audience, role: role?.name ?? null, via: input.via },
  });
  return user;
}

export async function updateUserRow(ctx: TenantContext, userId: string, patch: Partial<typeof users.$inferInsert>, changes: string[]): Promise<UserRow> {
  const [row] = await ctx.db
    .update(users)
    .set({ ...patch, updatedAt: new Date() })
    .where(and(eq(users.tenantId, ctx.tenantId), eq(users.id, userId)))
    .returning();
  if (!row) throw notFound('User');
  if (changes.length) await ctx.emit({ type: 'user.updated', resourceType: 'user', resourceId: userId, data: { changes } });
  return row;
}

/** Records a sign-in; not an event (sign-ins are frequent and in the audit log). */
export async function touchSignIn(ctx: TenantContext, userId: string) {
  await ctx.db.update(users).set({ lastSignInAt: new Date() }).where(and(eq(users.tenantId, ctx.tenantId), eq(users.id, userId)));
}
