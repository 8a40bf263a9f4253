import { and, desc, eq, inArray, lt } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { newId } from '../../../core/http/ids.ts';
import { authDevices, users, type Audience } from '../tables.ts';
import { sha256, tenantOfToken, tenantToken } from '../tokens.ts';

export const DEVICE_TOKEN_PREFIX = 'dv';
const DEVICE_TTL_MS = 90 * 86_400_000;
/** Devices remembered per user; signing in from more forgets the least recently used. */
const MAX_DEVICES_PER_USER = 20;

export interface KnownDevice {
  id: string;
  token: string;
}

/**
 * The device a sign-in presents, when its token is live and was issued to the account signing in
 * (tenant, audience and email): a token of another account, or of this account under an old email,
 * is no device of this one.
 */
export async function knownDevice(ctx: TenantContext, token: string, audience: Audience, email: string): Promise<KnownDevice | null> {
  if (tenantOfToken(DEVICE_TOKEN_PREFIX, token) !== ctx.tenantId) return null;
  const [row] = await ctx.db
    .select({ id: authDevices.id, expiresAt: authDevices.expiresAt, email: users.email, audience: users.audience })
    .from(authDevices)
    .innerJoin(users, and(eq(users.tenantId, authDevices.tenantId), eq(users.id, authDevices.userId)))
    .where(and(eq(authDevices.tenantId, ctx.tenantId), eq(authDevices.tokenHash, sha256(token))));
  if (!row || row.expiresAt.getTime() <= Date.now() || row.email !== email || row.audience !== audience) return null;
  return { id: row.id, token };
}

/**
 * After a correct password: the token this device presents from now on. A known device keeps its
 * token (its life moves forward); any other gets a new one.
 */
export async function rememberDevice(ctx: TenantContext, userId: string, device: KnownDevice | null): Promise<string> {
  const now = new Date();
  const expiresAt = new Date(now.getTime() + DEVICE_TTL_MS);
  if (device) {
    await ctx.db
      .update(authDevices)
      .set({ lastUsedAt: now, expiresAt })
      .where(and(eq(authDevices.tenantId, ctx.tenantId), eq(authDevices.id, device.id)));
    return device.token;
  }
  const token = tenantToken(DEVICE_TOKEN_PREFIX, ctx.tenantId);
  await ctx.db.insert(authDevices).values({ id: newId('dev'), tenantId: ctx.tenantId, userId, tokenHash: sha256(token), lastUsedAt: now, expiresAt });
  const mine = and(eq(authDevices.tenantId, ctx.tenantId), eq(authDevices.userId, userId));
  await ctx.db.delete(authDevices).where(and(mine, lt(authDevices.expiresAt, now)));
  const beyond = await ctx.db
    .select({ id: authDevices.id })
    .from(authDevices)
    .where(mine)
    .orderBy(desc(authDevices.lastUsedAt))
    .offset(MAX_DEVICES_PER_USER);
  if (beyond.length) await ctx.db.delete(authDevices).where(and(mine, inArray(authDevices.id, beyond.map((b) => b.id))));
  return token;
}

export async function forgetDevices(ctx: TenantContext, userId: string): Promise<void> {
  await ctx.db.delete(authDevices).where(and(eq(authDevices.tenantId, ctx.tenantId), eq(authDevices.userId, userId)));
}
