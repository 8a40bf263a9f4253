import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { and, asc, eq, or } from 'drizzle-orm';
import type { UserPrincipal } from '../../../core/auth/principal.ts';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { lazyRequire } from '../../../core/lazy.ts';
import { newId } from '../../../core/http/ids.ts';
import { getTenant } from '../../tenants/index.ts';
import { getAuthConfig, type AuthConfig } from '../config/service.ts';
import { afterFirstFactor, type SignInResult } from '../flows/service.ts';
import { startSession } from '../sessions/service.ts';
import { passkeys, type PasskeyRow } from '../tables.ts';
import { getUser } from '../users/store.ts';

const webauthn = lazyRequire<typeof import('@simplewebauthn/server')>('@simplewebauthn/server');

const CHALLENGE_TTL_MS = 5 * 60_000;
const MAX_PASSKEYS = 20;

interface ChallengeState {
  tenantId: string;
  kind: 'register' | 'authenticate';
  userId: string | null;
}

export function passkeyDto(row: PasskeyRow) {
  return {
    id: row.id,
    user_id: row.userId,
    credential_id: row.credentialId,
    friendly_name: row.friendlyName,
    device_type: row.deviceType,
    backed_up: row.backedUp,
    created_at: row.createdAt.toISOString(),
    last_used_at: row.lastUsedAt?.toISOString() ?? null,
  };
}

/** The relying party: the tenant's configuration, else this server's PUBLIC_URL, else localhost. */
function relyingParty(ctx: TenantContext, config: AuthConfig, brand: string) {
  const publicUrl = ctx.kernel.config.PUBLIC_URL ? new URL(ctx.kernel.config.PUBLIC_URL) : null;
  const rpID = config.passkeys.rp_id ?? publicUrl?.hostname ?? 'localhost';
  const origins = config.passkeys.origins.length
    ? config.passkeys.origins.map((o) => new URL(o).origin)
    : [publicUrl?.origin ?? `http://localhost:${ctx.kernel.config.PORT}`];
  return { rpID, rpName: config.passkeys.rp_name ?? brand, origins };
}

async function setup(ctx: TenantContext) {
  const config = await getAuthConfig(ctx);
  if (!config.methods.passkeys) throw new ApiError('FORBIDDEN', 'Passkeys are disabled for this tenant');
  const tenant = await getTenant(ctx.db, ctx.tenantId);
  return { config, rp: relyingParty(ctx, config, tenant.settings.branding?.brand_name ?? tenant.name) };
}

const challengeKey = (challenge: string) => `webauthn:${challenge}`;

/**
 * A challenge is good once, for the tenant, ceremony and user it was issued for; taking it from the
 * store in the check makes a replayed response fail.
 */
function expectChallenge(ctx: TenantContext, kind: ChallengeState['kind'], userId: string | null) {
  return async (challenge: string) => {
    const raw = await ctx.kernel.kv.take(challengeKey(challenge));
    if (!raw) return false;
    const state = JSON.parse(raw) as ChallengeState;
    return state.tenantId === ctx.tenantId && state.kind === kind && (userId === null || state.userId === userId);
  };
}

function rejected(error: unknown): ApiError {
  const message = error instanceof Error ? error.message : 'verification failed';
  return new ApiError('UNAUTHORIZED', `Passkey verification failed: ${message}`);
}

export async function listPasskeys(ctx: TenantContext, userId: string) {
  const rows = await ctx.db
    .select()
    .from(passkeys)
    .where(and(eq(passkeys.tenantId, ctx.tenantId), eq(passkeys.userId, userId)))
    .orderBy(asc(passkeys.createdAt));
  return rows.map(passkeyDto);
}

export async function beginRegistration(ctx: TenantContext, principal: UserPrincipal) {
  const { rp } = await setup(ctx);
  const user = await getUser(ctx, principal.id);
  if (user.isAnonymous) throw new ApiError('FORBIDDEN', 'Anonymous users cannot register passkeys; link an email first');
  const existing = await ctx.db
    .select()
    .from(passkeys)
    .where(and(eq(passkeys.tenantId, ctx.tenantId), eq(passkeys.userId, user.id)));
  if (existing.length >= MAX_PASSKEYS) throw new ApiError('CONFLICT', `A user may have at most ${MAX_PASSKEYS} passkeys`);
  const options = await webauthn().generateRegistrationOptions({
    rpName: rp.rpName,
    rpID: rp.rpID,
    userName: user.email ?? user.phone ?? user.id,
    userID: new TextEncoder().encode(user.id),
    attestationType: 'none',
    excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    timeout: CHALLENGE_TTL_MS,
  });
  const state: ChallengeState = { tenantId: ctx.tenantId, kind: 'register', userId: user.id };
  await ctx.kernel.kv.set(challengeKey(options.challenge), JSON.stringify(state), CHALLENGE_TTL_MS);
  return { options };
}

export async function completeRegistration(ctx: TenantContext, principal: UserPrincipal, input: { credential: RegistrationResponseJSON; friendly_name?: string }) {
  const { rp } = await setup(ctx);
  let verification;
  try {
    verification = await webauthn().verifyRegistrationResponse({
      response: input.credential,
      expectedChallenge: expectChallenge(ctx, 'register', principal.id),
      expectedOrigin: rp.origins,
      expectedRPID: rp.rpID,
      requireUserVerification: false,
    });
  } catch (error) {
    throw rejected(error);
  }
  if (!verification.verified) throw new ApiError('UNAUTHORIZED', 'Passkey verification failed');
  const info = verification.registrationInfo;
  const [taken] = await ctx.db
    .select({ id: passkeys.id })
    .from(passkeys)
    .where(and(eq(passkeys.tenantId, ctx.tenantId), eq(passkeys.credentialId, info.credential.id)));
  if (taken) throw new ApiError('ALREADY_EXISTS', 'This passkey is already registered');
  const [row] = await ctx.db
    .insert(passkeys)
    .values({
      id: newId('pk'),
      tenantId: ctx.tenantId,
      userId: principal.id,
      credentialId: info.credential.id,
      publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      transports: info.credential.transports ?? [],
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      aaguid: info.aaguid,
      friendlyName: input.friendly_name ?? null,
    })
    .returning();
  await ctx.audit({ action: 'passkey.registered', resourceType: 'passkey', resourceId: row!.id, metadata: { user_id: principal.id } });
  return passkeyDto(row!);
}

export async function beginAuthentication(ctx: TenantContext) {
  const { rp } = await setup(ctx);
  // Discoverable credentials: the authenticator offers the user's passkeys; no email is asked first.
  const options = await webauthn().generateAuthenticationOptions({ rpID: rp.rpID, userVerification: 'preferred', timeout: CHALLENGE_TTL_MS });
  const state: ChallengeState = { tenantId: ctx.tenantId, kind: 'authenticate', userId: null };
  await ctx.kernel.kv.set(challengeKey(options.challenge), JSON.stringify(state), CHALLENGE_TTL_MS);
  return { options };
}

/**
 * Signs in with a passkey. The signature counter must grow (a cloned authenticator shows as a counter
 * going backwards and is refused). A user-verified passkey is two factors at once (possession and
 * PIN/biometric): the session is aal2 without a TOTP step.
 */
export async function completeAuthentication(ctx: TenantContext, input: { credential: AuthenticationResponseJSON }): Promise<SignInResult> {
  const { rp, config } = await setup(ctx);
  const [passkey] = await ctx.db
    .select()
    .from(passkeys)
    .where(and(eq(passkeys.tenantId, ctx.tenantId), eq(passkeys.credentialId, input.credential.id)))
    .for('update');
  if (!passkey) throw new ApiError('UNAUTHORIZED', 'Passkey verification failed: unknown credential');
  let verification;
  try {
    verification = await webauthn().verifyAuthenticationResponse({
      response: input.credential,
      expectedChallenge: expectChallenge(ctx, 'authenticate', null),
      expectedOrigin: rp.origins,
      expectedRPID: rp.rpID,
      credential: {
        id: passkey.credentialId,
        publicKey: new Uint8Array(Buffer.from(passkey.publicKey, 'base64url')),
        counter: passkey.counter,
        transports: passkey.transports,
      },
      requireUserVerification: false,
    });
  } catch (error) {
    throw rejected(error);
  }
  if (!verification.verified) throw new ApiError('UNAUTHORIZED', 'Passkey verification failed');
  const handle = input.credential.response.userHandle;
  if (handle && Buffer.from(handle, 'base64url').toString('utf8') !== passkey.userId) {
    throw new ApiError('UNAUTHORIZED', 'Passkey verification failed: user handle does not match');
  }
  await ctx.db
    .update(passkeys)
    .set({ counter: verification.authenticationInfo.newCounter, lastUsedAt: new Date() })
    .where(eq(passkeys.id, passkey.id));
  const user = await getUser(ctx, passkey.userId);
  if (verification.authenticationInfo.userVerified) {
    if (user.bannedAt) throw new ApiError('FORBIDDEN', 'This account is banned');
    return startSession(ctx, user, { amr: ['passkey'], aal: 'aal2' }, config);
  }
  return afterFirstFactor(ctx, user, ['passkey'], config);
}

export async function deletePasskey(ctx: TenantContext, principal: UserPrincipal, ref: string) {
  const [row] = await ctx.db
    .delete(passkeys)
    .where(and(eq(passkeys.tenantId, ctx.tenantId), eq(passkeys.userId, principal.id), or(eq(passkeys.id, ref), eq(passkeys.credentialId, ref))))
    .returning();
  if (!row) throw notFound('Passkey');
  await ctx.audit({ action: 'passkey.deleted', resourceType: 'passkey', resourceId: row.id, metadata: { user_id: principal.id } });
  return { deleted: true as const, id: row.id };
}
