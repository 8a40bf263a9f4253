import { and, desc, eq, gt, isNull } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { newId } from '../../../core/http/ids.ts';
import { oneTimeTokens, type Audience, type OneTimePurpose } from '../tables.ts';
import { numericCode, sha256, tenantOfToken, tenantToken } from '../tokens.ts';

/** Token prefixes by purpose: a token of one kind is never accepted as another. */
export const TOKEN_PREFIX: Record<Exclude<OneTimePurpose, 'sms_otp'>, string> = {
  email_verification: 'ev',
  password_reset: 'pr',
  magic_link: 'ml',
  email_change: 'ec',
};

export const TOKEN_TTL_MINUTES: Record<OneTimePurpose, number> = {
  email_verification: 24 * 60,
  password_reset: 60,
  magic_link: 15,
  email_change: 24 * 60,
  sms_otp: 10,
};

/** Wrong guesses a short code allows before it is void. */
export const CODE_ATTEMPTS = 5;

export interface IssueInput {
  purpose: Exclude<OneTimePurpose, 'sms_otp'>;
  audience: Audience;
  userId: string | null;
  target: string;
  redirectTo?: string | null;
}

/** A link token; earlier unused tokens of the same purpose for the same address stop working. */
export async function issueLinkToken(ctx: TenantContext, input: IssueInput): Promise<string> {
  await voidTokens(ctx, input.purpose, input.audience, input.target);
  const token = tenantToken(TOKEN_PREFIX[input.purpose], ctx.tenantId);
  await ctx.db.insert(oneTimeTokens).values({
    id: newId('ott'),
    tenantId: ctx.tenantId,
    audience: input.audience,
    purpose: input.purpose,
    userId: input.userId,
    target: input.target,
    tokenHash: sha256(token),
    redirectTo: input.redirectTo ?? null,
    expiresAt: new Date(Date.now() + TOKEN_TTL_MINUTES[input.purpose] * 60_000),
  });
  return token;
}

async function voidTokens(ctx: TenantContext, purpose: OneTimePurpose, audience: Audience, target: string) {
  await ctx.db
    .update(oneTimeTokens)
    .set({ consumedAt: new Date() })
    .where(
      and(
        eq(oneTimeTokens.tenantId, ctx.tenantId),
        eq(oneTimeTokens.purpose, purpose),
        eq(oneTimeTokens.audience, audience),
        eq(oneTimeTokens.target, target),
        isNull(oneTimeTokens.consumedAt),
      ),
    );
}

/** The tenant a link token belongs to (any purpose), or null for something that is no token of ours. */
export function tenantOfLinkToken(token: string, purposes: (keyof typeof TOKEN_PREFIX)[] = Object.keys(TOKEN_PREFIX) as (keyof typeof TOKEN_PREFIX)[]) {
  return tenantOfToken(purposes.map((p) => TOKEN_PREFIX[p]), token);
}

/** Spends a link token: the row when it is valid, unused and unexpired; null otherwise. */
/** `audience` null accepts a token of either audience (links followed in a browser, which says nothing of it). */
export async function consumeLinkToken(ctx: TenantContext, purposes: (keyof typeof TOKEN_PREFIX)[], audience: Audience | null, token: string) {
  if (tenantOfLinkToken(token, purposes) !== ctx.tenantId) return null;
  const [row] = await ctx.db
    .update(oneTimeTokens)
    .set({ consumedAt: new Date() })
    .where(
      and(
        eq(oneTimeTokens.tenantId, ctx.tenantId),
        eq(oneTimeTokens.tokenHash, sha256(token)),
        audience ? eq(oneTimeTokens.audience, audience) : undefined,
        isNull(oneTimeTokens.consumedAt),
        gt(oneTimeTokens.expiresAt, new Date()),
      ),
    )
    .returning();
  return row && purposes.includes(row.purpose as keyof typeof TOKEN_PREFIX) ? row : null;
}

/** A 6-digit SMS code for `phone`; earlier codes for it stop working. */
export async function issueSmsCode(ctx: TenantContext, audience: Audience, phone: string, userId: string | null): Promise<string> {
  await voidTokens(ctx, 'sms_otp', audience, phone);
  const code = numericCode(6);
  const id = newId('ott');
  await ctx.db.insert(oneTimeTokens).values({
    id,
    tenantId: ctx.tenantId,
    audience,
    purpose: 'sms_otp',
    userId,
    target: phone,
    // Codes repeat; salting with the row id keeps stored hashes unique and unlinkable.
    tokenHash: sha256(`${id}:${code}`),
    expiresAt: new Date(Date.now() + TOKEN_TTL_MINUTES.sms_otp * 60_000),
  });
  return code;
}

/**
 * Checks the latest live SMS code of `phone`. A wrong code uses up one of CODE_ATTEMPTS; the code is
 * void after the last. The attempt must be recorded even though the request fails, so this answers an
 * outcome rather than throwing.
 */
export async function consumeSmsCode(ctx: TenantContext, audience: Audience, phone: string, code: string) {
  const [row] = await ctx.db
    .select()
    .from(oneTimeTokens)
    .where(
      and(
        eq(oneTimeTokens.tenantId, ctx.tenantId),
        eq(oneTimeTokens.purpose, 'sms_otp'),
        eq(oneTimeTokens.audience, audience),
        eq(oneTimeTokens.target, phone),
        isNull(oneTimeTokens.consumedAt),
        gt(oneTimeTokens.expiresAt, new Date()),
      ),
    )
    .orderBy(desc(oneTimeTokens.createdAt))
    .limit(1)
    .for('update');
  if (!row) return null;
  if (sha256(`${row.id}:${code}`) !== row.tokenHash) {
    const attempts = row.attempts + 1;
    await ctx.db
      .update(oneTimeTokens)
      .set({ attempts, consumedAt: attempts >= CODE_ATTEMPTS ? new Date() : null })
      .where(eq(oneTimeTokens.id, row.id));
    return null;
  }
  await ctx.db.update(oneTimeTokens).set({ consumedAt: new Date() }).where(eq(oneTimeTokens.id, row.id));
  return row;
}
