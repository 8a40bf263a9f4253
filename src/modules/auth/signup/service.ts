import { and, count, desc, eq, gt, isNull, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { signupInvites, signupRequests, type SignupInviteRow, type SignupRequestRow } from '../tables.ts';
import { sha256, tenantOfToken, tenantToken } from '../tokens.ts';
import { normalizeEmail } from '../users/store.ts';

/**
 * Invites and access requests: who may sign up to a tenant whose signup policy is not `open`. An
 * invite is a secret (SHA-256 stored) redeemable a number of times until it expires or is revoked;
 * approving an access request issues an invite for the requester's address and mails it.
 */

export const INVITE_PREFIX = 'inv';

export type InviteStatus = 'active' | 'revoked' | 'expired' | 'exhausted';

export function inviteStatus(row: SignupInviteRow, now: number): InviteStatus {
  if (row.revokedAt) return 'revoked';
  if (row.redeemedCount >= row.maxRedemptions) return 'exhausted';
  if (row.expiresAt && row.expiresAt.getTime() <= now) return 'expired';
  return 'active';
}

export interface InviteInput {
  email?: string | null;
  note?: string | null;
  max_redemptions?: number;
  expires_in_hours?: number | null;
  signup_request_id?: string | null;
}

export async function issueInvite(ctx: TenantContext, input: InviteInput): Promise<{ row: SignupInviteRow; token: string }> {
  const token = tenantToken(INVITE_PREFIX, ctx.tenantId);
  const now = ctx.kernel.clock.now();
  const [row] = await ctx.db
    .insert(signupInvites)
    .values({
      tenantId: ctx.tenantId,
      id: newId('inv'),
      tokenHash: sha256(token),
      tokenHint: token.slice(-4),
      email: input.email ? normalizeEmail(input.email) : null,
      note: input.note ?? null,
      maxRedemptions: input.max_redemptions ?? 1,
      createdBy: ctx.actor.id,
      signupRequestId: input.signup_request_id ?? null,
      createdAt: new Date(now),
      expiresAt: input.expires_in_hours ? new Date(now + input.expires_in_hours * 3_600_000) : null,
    })
    .returning();
  await ctx.audit({ action: 'signup_invite.issued', resourceType: 'signup_invite', resourceId: row!.id, metadata: { email: row!.email } });
  return { row: row!, token };
}

export async function listInvites(ctx: TenantContext, query: { status?: InviteStatus; email?: string; limit: number; offset: number }) {
  const now = new Date(ctx.kernel.clock.now());
  const filters: (SQL | undefined)[] = [eq(signupInvites.tenantId, ctx.tenantId)];
  if (query.email) filters.push(eq(signupInvites.email, normalizeEmail(query.email)));
  const notExpired = or(isNull(signupInvites.expiresAt), gt(signupInvites.expiresAt, now));
  const notExhausted = lt(signupInvites.redeemedCount, signupInvites.maxRedemptions);
  if (query.status === 'active') filters.push(isNull(signupInvites.revokedAt), notExhausted, notExpired);
  if (query.status === 'revoked') filters.push(sql`${signupInvites.revokedAt} is not null`);
  if (query.status === 'exhausted') filters.push(isNull(signupInvites.revokedAt), sql`${signupInvites.redeemedCount} >= ${signupInvites.maxRedemptions}`);
  if (query.status === 'expired') filters.push(isNull(signupInvites.revokedAt), notExhausted, lte(signupInvites.expiresAt, now));
  const where = and(...filters);
  const [rows, [total]] = await Promise.all([
    ctx.db.select().from(signupInvites).where(where).orderBy(desc(signupInvites.createdAt), desc(signupInvites.id)).limit(query.limit).offset(query.offset),
    ctx.db.select({ n: count() }).from(signupInvites).where(where),
  ]);
  return { rows, total: total?.n ?? 0 };
}

export async function revokeInvite(ctx: TenantContext, id: string): Promise<SignupInviteRow> {
  const [row] = await ctx.db
    .select()
    .from(signupInvites)
    .where(and(eq(signupInvites.tenantId, ctx.tenantId), eq(signupInvites.id, id)))
    .for('update');
  if (!row) throw notFound('Invite');
  if (row.revokedAt) return row;
  const [updated] = await ctx.db
    .update(signupInvites)
    .set({ revokedAt: new Date(ctx.kernel.clock.now()) })
    .where(and(eq(signupInvites.tenantId, ctx.tenantId), eq(signupInvites.id, id)))
    .returning();
  await ctx.audit({ action: 'signup_invite.revoked', resourceType: 'signup_invite', resourceId: id });
  return updated!;
}

/** The tenant an invite token belongs to, or null for anything that is no invite token. */
export const tenantOfInvite = (token: string) => tenantOfToken(INVITE_PREFIX, token);

/**
 * Spends one redemption of an invite for `email`; a concurrent redemption of the last use finds none
 * left. Refused: unknown, revoked, expired, used up, or meant for another address (all one 403, so the
 * answer tells nothing about other people's invites).
 */
export async function claimInvite(ctx: TenantContext, token: string, email: string): Promise<SignupInviteRow> {
  const refused = new ApiError('FORBIDDEN', 'The invite token is invalid, revoked, expired or used up, or was issued for another address');
  if (tenantOfInvite(token) !== ctx.tenantId) throw refused;
  const now = new Date(ctx.kernel.clock.now());
  const [row] = await ctx.db
    .update(signupInvites)
    .set({ redeemedCount: sql`${signupInvites.redeemedCount} + 1`, lastRedeemedAt: now })
    .where(
      and(
        eq(signupInvites.tenantId, ctx.tenantId),
        eq(signupInvites.tokenHash, sha256(token)),
        isNull(signupInvites.revokedAt),
        lt(signupInvites.redeemedCount, signupInvites.maxRedemptions),
        or(isNull(signupInvites.expiresAt), gt(signupInvites.expiresAt, now)),
        or(isNull(signupInvites.email), eq(signupInvites.email, normalizeEmail(email))),
      ),
    )
    .returning();
  if (!row) throw refused;
  return row;
}

/** Gives back a redemption whose signup then failed. */
export async function releaseInvite(ctx: TenantContext, id: string): Promise<void> {
  await ctx.db
    .update(signupInvites)
    .set({ redeemedCount: sql`greatest(${signupInvites.redeemedCount} - 1, 0)` })
    .where(and(eq(signupInvites.tenantId, ctx.tenantId), eq(signupInvites.id, id)));
}

// ---- access requests --------------------------------------------------------------------------

export interface AccessRequestInput {
  email: string;
  full_name?: string | null;
  organization?: string | null;
  message?: string | null;
}

/** At most this many pending requests per address: more would only flood the admins. */
const PENDING_PER_EMAIL = 1;

export async function submitAccessRequest(ctx: TenantContext, input: AccessRequestInput): Promise<SignupRequestRow> {
  const email = normalizeEmail(input.email);
  const [pending] = await ctx.db
    .select({ n: count() })
    .from(signupRequests)
    .where(and(eq(signupRequests.tenantId, ctx.tenantId), eq(signupRequests.email, email), eq(signupRequests.status, 'pending')));
  if ((pending?.n ?? 0) >= PENDING_PER_EMAIL) {
    throw new ApiError('CONFLICT', 'A request for this address is already waiting for a decision');
  }
  const [row] = await ctx.db
    .insert(signupRequests)
    .values({
      tenantId: ctx.tenantId,
      id: newId('sreq'),
      email,
      fullName: input.full_name ?? null,
      organization: input.organization ?? null,
      message: input.message ?? null,
      ip: ctx.ip ?? null,
      userAgent: ctx.userAgent?.slice(0, 500) ?? null,
      createdAt: new Date(ctx.kernel.clock.now()),
    })
    .returning();
  await ctx.audit({ action: 'signup_request.submitted', resourceType: 'signup_request', resourceId: row!.id, metadata: { email } });
  return row!;
}

export async function listAccessRequests(ctx: TenantContext, query: { status?: SignupRequestRow['status']; limit: number; offset: number }) {
  const where = and(eq(signupRequests.tenantId, ctx.tenantId), query.status ? eq(signupRequests.status, query.status) : undefined);
  const [rows, [total]] = await Promise.all([
    ctx.db.select().from(signupRequests).where(where).orderBy(desc(signupRequests.createdAt), desc(signupRequests.id)).limit(query.limit).offset(query.offset),
    ctx.db.select({ n: count() }).from(signupRequests).where(where),
  ]);
  return { rows, total: total?.n ?? 0 };
}

async function pendingRequest(ctx: TenantContext, id: string): Promise<SignupRequestRow> {
  const [row] = await ctx.db
    .select()
    .from(signupRequests)
    .where(and(eq(signupRequests.tenantId, ctx.tenantId), eq(signupRequests.id, id)))
    .for('update');
  if (!row) throw notFound('Signup request');
  if (row.status !== 'pending') throw new ApiError('CONFLICT', `This request was already ${row.status}`);
  return row;
}

/**
 * Approves a pending request: an invite for the requester's address (single use) is issued and mailed
 * with the token, all in one transaction.
 */
export async function approveAccessRequest(ctx: TenantContext, id: string, input: { note?: string | null; invite_expires_in_hours?: number | null }) {
  const request = await pendingRequest(ctx, id);
  const invite = await issueInvite(ctx, {
    email: request.email,
    note: input.note ?? `Approved access request ${request.id}`,
    max_redemptions: 1,
    expires_in_hours: input.invite_expires_in_hours ?? 24 * 7,
    signup_request_id: request.id,
  });
  const [row] = await ctx.db
    .update(signupRequests)
    .set({ status: 'approved', decidedBy: ctx.actor.id, decidedAt: new Date(ctx.kernel.clock.now()), decisionReason: input.note ?? null, inviteId: invite.row.id })
    .where(and(eq(signupRequests.tenantId, ctx.tenantId), eq(signupRequests.id, id)))
    .returning();
  await ctx.kernel.mail.queue(ctx, {
    to: request.email,
    subject: 'Your access request was approved',
    text: `Your request for access was approved. Register with this invite token:\n\n${invite.token}\n\nIt works once${invite.row.expiresAt ? ` and expires at ${invite.row.expiresAt.toISOString()}` : ''}.`,
    template: 'signup_request_approved',
    metadata: { signup_request_id: id, invite_id: invite.row.id },
  });
  await ctx.audit({ action: 'signup_request.approved', resourceType: 'signup_request', resourceId: id, metadata: { invite_id: invite.row.id } });
  return { request: row!, invite: invite.row, token: invite.token };
}

export async function rejectAccessRequest(ctx: TenantContext, id: string, input: { reason?: string | null; notify_requester?: boolean }) {
  const request = await pendingRequest(ctx, id);
  const [row] = await ctx.db
    .update(signupRequests)
    .set({ status: 'rejected', decidedBy: ctx.actor.id, decidedAt: new Date(ctx.kernel.clock.now()), decisionReason: input.reason ?? null })
    .where(and(eq(signupRequests.tenantId, ctx.tenantId), eq(signupRequests.id, id)))
    .returning();
  if (input.notify_requester) {
    await ctx.kernel.mail.queue(ctx, {
      to: request.email,
      subject: 'Your access request',
      text: `Your request for access was not approved.${input.reason ? `\n\nReason: ${input.reason}` : ''}`,
      template: 'signup_request_rejected',
      metadata: { signup_request_id: id },
    });
  }
  await ctx.audit({ action: 'signup_request.rejected', resourceType: 'signup_request', resourceId: id, metadata: { reason: input.reason ?? null } });
  return row!;
}
