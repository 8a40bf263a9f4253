import { and, asc, count, eq, isNotNull, isNull, lt, or } from 'drizzle-orm';
import { generateSecret, generateURI, verify as verifyTotp } from 'otplib';
import type QRCode from 'qrcode';
import { lazyRequire } from '../../../core/lazy.ts';
import type { UserPrincipal } from '../../../core/auth/principal.ts';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { getTenant } from '../../tenants/index.ts';
import { getAuthConfig } from '../config/service.ts';
import { runtime } from '../runtime.ts';
import { raiseSession } from '../sessions/service.ts';
import { mfaFactors, recoveryCodes, type Audience, type MfaFactorRow, type UserRow } from '../tables.ts';
import { normalizeRecoveryCode, recoveryCode, sha256, tenantOfToken, tenantToken } from '../tokens.ts';
import { getUser } from '../users/store.ts';

const qrcode = lazyRequire<typeof QRCode>('qrcode');

const MAX_FACTORS = 10;
const RECOVERY_CODES = 10;
const TICKET_TTL_MS = 5 * 60_000;
export const TICKET_PREFIX = 'mt';

export function factorDto(row: MfaFactorRow) {
  return {
    id: row.id,
    type: row.type,
    friendly_name: row.friendlyName,
    status: row.verifiedAt ? ('verified' as const) : ('unverified' as const),
    created_at: row.createdAt.toISOString(),
    verified_at: row.verifiedAt?.toISOString() ?? null,
    last_used_at: row.lastUsedAt?.toISOString() ?? null,
  };
}

export async function listFactors(ctx: TenantContext, userId: string) {
  const rows = await ctx.db
    .select()
    .from(mfaFactors)
    .where(and(eq(mfaFactors.tenantId, ctx.tenantId), eq(mfaFactors.userId, userId)))
    .orderBy(asc(mfaFactors.createdAt));
  return rows.map(factorDto);
}

export async function verifiedFactors(ctx: TenantContext, userId: string) {
  return ctx.db
    .select()
    .from(mfaFactors)
    .where(and(eq(mfaFactors.tenantId, ctx.tenantId), eq(mfaFactors.userId, userId), isNotNull(mfaFactors.verifiedAt)));
}

async function getFactor(ctx: TenantContext, userId: string, factorId: string): Promise<MfaFactorRow> {
  const [row] = await ctx.db
    .select()
    .from(mfaFactors)
    .where(and(eq(mfaFactors.tenantId, ctx.tenantId), eq(mfaFactors.userId, userId), eq(mfaFactors.id, factorId)))
    .for('update');
  if (!row) throw notFound('MFA factor');
  return row;
}

export async function enrollTotp(ctx: TenantContext, user: UserRow, friendlyName: string | undefined) {
  if (user.isAnonymous) throw new ApiError('FORBIDDEN', 'Anonymous users cannot enroll MFA; link an email first');
  // Abandoned enrollments (never verified, older than an hour) are cleared so they do not pile up.
  await ctx.db
    .delete(mfaFactors)
    .where(and(eq(mfaFactors.tenantId, ctx.tenantId), eq(mfaFactors.userId, user.id), isNull(mfaFactors.verifiedAt), lt(mfaFactors.createdAt, new Date(Date.now() - 3_600_000))));
  const existing = await listFactors(ctx, user.id);
  if (existing.length >= MAX_FACTORS) throw new ApiError('CONFLICT', `A user may have at most ${MAX_FACTORS} MFA factors`);
  if (friendlyName && existing.some((f) => f.friendly_name === friendlyName)) {
    throw new ApiError('ALREADY_EXISTS', `An MFA factor named '${friendlyName}' already exists`, { details: { field: 'friendly_name' } });
  }
  const config = await getAuthConfig(ctx);
  const tenant = await getTenant(ctx.db, ctx.tenantId);
  const issuer = config.mfa.issuer ?? tenant.settings.branding?.brand_name ?? tenant.name;
  const secret = generateSecret();
  const [row] = await ctx.db
    .insert(mfaFactors)
    .values({
      id: newId('mfa'),
      tenantId: ctx.tenantId,
      userId: user.id,
      type: 'totp',
      friendlyName: friendlyName ?? null,
      secret: ctx.kernel.secrets.seal(secret),
    })
    .returning();
  const uri = generateURI({ issuer, label: user.email ?? user.phone ?? user.id, secret });
  const qr = await qrcode().toString(uri, { type: 'svg', margin: 1 });
  await ctx.audit({ action: 'mfa.enroll_started', resourceType: 'mfa_factor', resourceId: row!.id });
  return {
    factor_id: row!.id,
    type: 'totp' as const,
    friendly_name: row!.friendlyName,
    totp: { secret, uri, qr_uri: `data:image/svg+xml;base64,${Buffer.from(qr).toString('base64')}` },
  };
}

/**
 * Checks a TOTP code: the current step and one on either side (clock drift), never a step at or before
 * the last one accepted (a code works once). The accepted step is stored with a guarded update, so two
 * requests racing with the same code cannot both pass.
 */
async function checkCode(ctx: TenantContext, factor: MfaFactorRow, code: string): Promise<boolean> {
  const secret = ctx.kernel.secrets.open(factor.secret);
  const result = await verifyTotp({
    secret,
    token: code,
    epochTolerance: 30,
    ...(factor.lastUsedStep !== null ? { afterTimeStep: factor.lastUsedStep } : {}),
  }).catch(() => ({ valid: false as const }));
  if (!result.valid) return false;
  const step = (result as { timeStep: number }).timeStep;
  const [updated] = await ctx.db
    .update(mfaFactors)
    .set({ lastUsedStep: step, lastUsedAt: new Date() })
    .where(and(eq(mfaFactors.id, factor.id), or(isNull(mfaFactors.lastUsedStep), lt(mfaFactors.lastUsedStep, step))))
    .returning({ id: mfaFactors.id });
  return Boolean(updated);
}

export type CodeOutcome<T> = { ok: true; value: T } | { ok: false; message: string };

/** A failed code counts toward the lock; answers the message for the caller to throw after commit. */
async function failure(kernel: Kernel, userId: string, message: string): Promise<{ ok: false; message: string }> {
  const locked = await runtime(kernel).throttles.mfaFailed(userId);
  return { ok: false, message: locked ? `${message}; too many failures, MFA is locked for 15 minutes` : message };
}

export async function verifyEnrollment(ctx: TenantContext, principal: UserPrincipal, factorId: string, code: string): Promise<CodeOutcome<{ verified: true; factor_id: string; recovery_codes?: string[] }>> {
  await runtime(ctx.kernel).throttles.checkMfa(principal.id);
  const factor = await getFactor(ctx, principal.id, factorId);
  if (factor.verifiedAt) throw new ApiError('CONFLICT', 'This factor is already verified');
  if (!(await checkCode(ctx, factor, code))) return failure(ctx.kernel, principal.id, 'Invalid verification code');
  await runtime(ctx.kernel).throttles.mfaSucceeded(principal.id);
  await ctx.db.update(mfaFactors).set({ verifiedAt: new Date() }).where(eq(mfaFactors.id, factor.id));
  const [others] = await ctx.db
    .select({ n: count() })
    .from(recoveryCodes)
    .where(and(eq(recoveryCodes.tenantId, ctx.tenantId), eq(recoveryCodes.userId, principal.id), isNull(recoveryCodes.usedAt)));
  let codes: string[] | undefined;
  if ((others?.n ?? 0) === 0) codes = await newRecoveryCodes(ctx, principal.id);
  await ctx.emit({ type: 'mfa.enrolled', resourceType: 'mfa_factor', resourceId: factor.id, data: { user_id: principal.id, type: factor.type } });
  // Proving possession of the new factor is a second factor for this session.
  if (principal.sessionId) await raiseSession(ctx, principal.sessionId, 'totp');
  return { ok: true, value: { verified: true, factor_id: factor.id, ...(codes ? { recovery_codes: codes } : {}) } };
}

async function newRecoveryCodes(ctx: TenantContext, userId: string): Promise<string[]> {
  await ctx.db.delete(recoveryCodes).where(and(eq(recoveryCodes.tenantId, ctx.tenantId), eq(recoveryCodes.userId, userId)));
  const codes = Array.from({ length: RECOVERY_CODES }, recoveryCode);
  await ctx.db.insert(recoveryCodes).values(
    codes.map((code) => ({ id: newId('rc'), tenantId: ctx.tenantId, userId, codeHash: sha256(normalizeRecoveryCode(code)) })),
  );
  return codes;
}

/** Step-up: a signed-in user proves a second factor; the session becomes aal2. */
export async function challenge(ctx: TenantContext, principal: UserPrincipal, factorId: string, code: string): Promise<CodeOutcome<{ user_id: string; verified: true }>> {
  await runtime(ctx.kernel).throttles.checkMfa(principal.id);
  const factor = await getFactor(ctx, principal.id, factorId);
  if (!factor.verifiedAt) throw new ApiError('CONFLICT', 'This factor is not verified yet; use POST /v1/auth/mfa/verify');
  if (!(await checkCode(ctx, factor, code))) return failure(ctx.kernel, principal.id, 'Invalid verification code');
  await runtime(ctx.kernel).throttles.mfaSucceeded(principal.id);
  if (principal.sessionId) await raiseSession(ctx, principal.sessionId, 'totp');
  return { ok: true, value: { user_id: principal.id, verified: true } };
}

export async function unenroll(ctx: TenantContext, principal: UserPrincipal, factorId: string) {
  const factor = await getFactor(ctx, principal.id, factorId);
  if (factor.verifiedAt && principal.aal !== 'aal2') {
    throw new ApiError('FORBIDDEN', 'Removing a verified factor needs a session verified with a second factor: POST /v1/auth/mfa/challenge first');
  }
  await ctx.db.delete(mfaFactors).where(eq(mfaFactors.id, factor.id));
  if ((await verifiedFactors(ctx, principal.id)).length === 0) {
    await ctx.db.delete(recoveryCodes).where(and(eq(recoveryCodes.tenantId, ctx.tenantId), eq(recoveryCodes.userId, principal.id)));
  }
  await ctx.audit({ action: 'mfa.unenrolled', resourceType: 'mfa_factor', resourceId: factor.id, metadata: { user_id: principal.id } });
  return { unenrolled: true as const, factor_id: factor.id };
}

// ---- MFA-gated sign-in --------------------------------------------------------------------------

interface Ticket {
  tenantId: string;
  userId: string;
  audience: Audience;
  amr: string[];
}

/** After a first factor, a user with a verified factor gets a ticket (5 minutes) instead of tokens. */
export async function mfaTicket(ctx: TenantContext, user: UserRow, amr: string[]) {
  const ticket = tenantToken(TICKET_PREFIX, ctx.tenantId);
  const value: Ticket = { tenantId: ctx.tenantId, userId: user.id, audience: user.audience, amr };
  await ctx.kernel.kv.set(`mfa-ticket:${sha256(ticket)}`, JSON.stringify(value), TICKET_TTL_MS);
  const factors = await verifiedFactors(ctx, user.id);
  return {
    mfa_required: true as const,
    mfa_ticket: ticket,
    expires_in: TICKET_TTL_MS / 1000,
    user_id: user.id,
    factors: factors.map((f) => ({ id: f.id, type: f.type, friendly_name: f.friendlyName })),
  };
}

export async function readTicket(kernel: Kernel, ticket: string): Promise<Ticket | null> {
  if (!tenantOfToken(TICKET_PREFIX, ticket)) return null;
  const raw = await kernel.kv.get(`mfa-ticket:${sha256(ticket)}`);
  return raw ? (JSON.parse(raw) as Ticket) : null;
}

/** Spends the ticket; false when another request spent it first. */
export async function spendTicket(kernel: Kernel, ticket: string): Promise<boolean> {
  return (await kernel.kv.take(`mfa-ticket:${sha256(ticket)}`)) !== null;
}

/** Checks a TOTP code for the ticket's user; the caller starts the session. */
export async function completeWithTotp(ctx: TenantContext, ticket: Ticket, factorId: string, code: string): Promise<CodeOutcome<UserRow>> {
  await runtime(ctx.kernel).throttles.checkMfa(ticket.userId);
  const user = await getUser(ctx, ticket.userId);
  if (user.bannedAt) throw new ApiError('FORBIDDEN', 'This account is banned');
  const [factor] = await ctx.db
    .select()
    .from(mfaFactors)
    .where(and(eq(mfaFactors.tenantId, ctx.tenantId), eq(mfaFactors.userId, user.id), eq(mfaFactors.id, factorId), isNotNull(mfaFactors.verifiedAt)))
    .for('update');
  if (!factor) throw new ApiError('NOT_FOUND', 'MFA factor not found');
  if (!(await checkCode(ctx, factor, code))) return failure(ctx.kernel, user.id, 'Invalid verification code');
  await runtime(ctx.kernel).throttles.mfaSucceeded(user.id);
  return { ok: true, value: user };
}

export async function completeWithRecoveryCode(ctx: TenantContext, ticket: Ticket, code: string): Promise<CodeOutcome<{ user: UserRow; remaining: number }>> {
  await runtime(ctx.kernel).throttles.checkMfa(ticket.userId);
  const user = await getUser(ctx, ticket.userId);
  if (user.bannedAt) throw new ApiError('FORBIDDEN', 'This account is banned');
  const [used] = await ctx.db
    .update(recoveryCodes)
    .set({ usedAt: new Date() })
    .where(
      and(
        eq(recoveryCodes.tenantId, ctx.tenantId),
        eq(recoveryCodes.userId, user.id),
        eq(recoveryCodes.codeHash, sha256(normalizeRecoveryCode(code))),
        isNull(recoveryCodes.usedAt),
      ),
    )
    .returning({ id: recoveryCodes.id });
  if (!used) return failure(ctx.kernel, user.id, 'Invalid recovery code');
  await runtime(ctx.kernel).throttles.mfaSucceeded(user.id);
  const [left] = await ctx.db
    .select({ n: count() })
    .from(recoveryCodes)
    .where(and(eq(recoveryCodes.tenantId, ctx.tenantId), eq(recoveryCodes.userId, user.id), isNull(recoveryCodes.usedAt)));
  await ctx.audit({ action: 'mfa.recovery_code_used', resourceType: 'user', resourceId: user.id, metadata: { remaining: left?.n ?? 0 } });
  return { ok: true, value: { user, remaining: left?.n ?? 0 } };
}
