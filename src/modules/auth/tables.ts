import { sql } from 'drizzle-orm';
import { bigint, boolean, index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { createdAt, idColumn, tenantIdColumn, timestamptz, updatedAt } from '../../core/db/columns.ts';

export type Audience = 'app' | 'portal';

/**
 * A tenant's identities: its users (`app`) and, separately, its customers' portal identities
 * (`portal`). An email or phone is unique per tenant and audience; the same email may exist in many tenants.
 */
export const users = pgTable(
  'users',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    audience: text('audience', { enum: ['app', 'portal'] }).notNull().default('app'),
    /** Lower-cased. */
    email: text('email'),
    /** E.164. */
    phone: text('phone'),
    /** argon2id; null for users who sign in without a password (magic link, OTP, OAuth, SAML, anonymous). */
    passwordHash: text('password_hash'),
    emailVerifiedAt: timestamptz('email_verified_at'),
    phoneVerifiedAt: timestamptz('phone_verified_at'),
    isAnonymous: boolean('is_anonymous').notNull().default(false),
    bannedAt: timestamptz('banned_at'),
    banReason: text('ban_reason'),
    userMetadata: jsonb('user_metadata').$type<Record<string, unknown>>().notNull().default({}),
    lastSignInAt: timestamptz('last_sign_in_at'),
    passwordChangedAt: timestamptz('password_changed_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('users_tenant_email_idx').on(t.tenantId, t.audience, t.email).where(sql`${t.email} is not null`),
    uniqueIndex('users_tenant_phone_idx').on(t.tenantId, t.audience, t.phone).where(sql`${t.phone} is not null`),
    index('users_email_idx').on(t.email),
  ],
);

/** One login: a refresh-token family. Revoking it ends every token of the family and the access tokens with it. */
export const sessions = pgTable(
  'sessions',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    userId: text('user_id').notNull(),
    audience: text('audience', { enum: ['app', 'portal'] }).notNull(),
    aal: text('aal', { enum: ['aal1', 'aal2'] }).notNull().default('aal1'),
    /** How the user authenticated: password, magic_link, otp, oauth, saml, passkey, anonymous, totp, recovery_code. */
    amr: text('amr').array().notNull().default([]),
    ip: text('ip'),
    userAgent: text('user_agent'),
    createdAt: createdAt(),
    lastActiveAt: timestamptz('last_active_at').notNull().defaultNow(),
    /** Absolute end of the session; refreshing does not extend it. */
    expiresAt: timestamptz('expires_at').notNull(),
    revokedAt: timestamptz('revoked_at'),
    revokedReason: text('revoked_reason'),
  },
  (t) => [index('sessions_user_idx').on(t.tenantId, t.userId)],
);

/**
 * Devices that signed in to an account with its password (OWASP's device cookie): a later sign-in that
 * presents the device's token (SHA-256 here) is judged by that device's own failures, so guesses spread
 * over many addresses cannot lock the owner out of a device they already use.
 */
export const authDevices = pgTable(
  'auth_devices',
  {
    id: text('id').notNull(),
    tenantId: tenantIdColumn(),
    userId: text('user_id').notNull(),
    tokenHash: text('token_hash').notNull(),
    createdAt: createdAt(),
    lastUsedAt: timestamptz('last_used_at').notNull().defaultNow(),
    /** Moved forward on every sign-in from the device. */
    expiresAt: timestamptz('expires_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    uniqueIndex('auth_devices_token_idx').on(t.tenantId, t.tokenHash),
    index('auth_devices_user_idx').on(t.tenantId, t.userId, t.lastUsedAt),
  ],
);

/** Refresh tokens (SHA-256 only). Each is used once; presenting a used one again revokes its session. */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    sessionId: text('session_id').notNull(),
    tokenHash: text('token_hash').notNull().unique(),
    createdAt: createdAt(),
    usedAt: timestamptz('used_at'),
    /**
     * The token this one was rotated into, sealed under a key derived from this token itself: only a caller
     * presenting this token can read it, which lets a retry inside the reuse interval get the same answer.
     */
    nextSealed: text('next_sealed'),
    expiresAt: timestamptz('expires_at').notNull(),
  },
  (t) => [index('refresh_tokens_session_idx').on(t.tenantId, t.sessionId)],
);

export type OneTimePurpose = 'email_verification' | 'password_reset' | 'magic_link' | 'sms_otp' | 'email_change';

/** Single-use secrets sent by mail or SMS (SHA-256 only), with an attempt budget for short codes. */
export const oneTimeTokens = pgTable(
  'one_time_tokens',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    audience: text('audience', { enum: ['app', 'portal'] }).notNull(),
    purpose: text('purpose').$type<OneTimePurpose>().notNull(),
    userId: text('user_id'),
    /** The email or phone it was sent to. */
    target: text('target').notNull(),
    tokenHash: text('token_hash').notNull(),
    redirectTo: text('redirect_to'),
    attempts: integer('attempts').notNull().default(0),
    expiresAt: timestamptz('expires_at').notNull(),
    consumedAt: timestamptz('consumed_at'),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('one_time_tokens_hash_idx').on(t.tenantId, t.tokenHash),
    index('one_time_tokens_target_idx').on(t.tenantId, t.purpose, t.target),
  ],
);

export const mfaFactors = pgTable(
  'mfa_factors',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    userId: text('user_id').notNull(),
    type: text('type', { enum: ['totp'] }).notNull().default('totp'),
    friendlyName: text('friendly_name'),
    /** Base32 TOTP secret, sealed with PLINTH_ENCRYPTION_KEY when it is set. */
    secret: text('secret').notNull(),
    verifiedAt: timestamptz('verified_at'),
    /** The last TOTP time step accepted: a code of that step or earlier is refused (no replays). */
    lastUsedStep: bigint('last_used_step', { mode: 'number' }),
    lastUsedAt: timestamptz('last_used_at'),
    createdAt: createdAt(),
  },
  (t) => [index('mfa_factors_user_idx').on(t.tenantId, t.userId)],
);

export const recoveryCodes = pgTable(
  'recovery_codes',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    userId: text('user_id').notNull(),
    codeHash: text('code_hash').notNull(),
    usedAt: timestamptz('used_at'),
    createdAt: createdAt(),
  },
  (t) => [index('recovery_codes_user_idx').on(t.tenantId, t.userId)],
);

export const passkeys = pgTable(
  'passkeys',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    userId: text('user_id').notNull(),
    /** base64url credential id from the authenticator. */
    credentialId: text('credential_id').notNull(),
    /** base64url COSE public key. */
    publicKey: text('public_key').notNull(),
    counter: bigint('counter', { mode: 'number' }).notNull().default(0),
    transports: text('transports').array().notNull().default([]),
    deviceType: text('device_type'),
    backedUp: boolean('backed_up').notNull().default(false),
    aaguid: text('aaguid'),
    friendlyName: text('friendly_name'),
    createdAt: createdAt(),
    lastUsedAt: timestamptz('last_used_at'),
  },
  (t) => [uniqueIndex('passkeys_credential_idx').on(t.tenantId, t.credentialId), index('passkeys_user_idx').on(t.tenantId, t.userId)],
);

/** Links to external identities (OAuth providers, SAML IdPs): `provider` + `subject` find the user again. */
export const userIdentities = pgTable(
  'user_identities',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    userId: text('user_id').notNull(),
    provider: text('provider').notNull(),
    subject: text('subject').notNull(),
    email: text('email'),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
    lastSignInAt: timestamptz('last_sign_in_at'),
  },
  (t) => [uniqueIndex('user_identities_subject_idx').on(t.tenantId, t.provider, t.subject), index('user_identities_user_idx').on(t.tenantId, t.userId)],
);

/** Per-tenant auth configuration (GET/POST /v1/auth-config). Secrets live in `secrets`, sealed when a key is set. */
export const authConfigs = pgTable(
  'auth_configs',
  {
    tenantId: tenantIdColumn(),
    config: jsonb('config').$type<Record<string, unknown>>().notNull().default({}),
    secrets: jsonb('secrets').$type<Record<string, string>>().notNull().default({}),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId] })],
);

/** SMS the platform sends: the outbox provider stores them here (read them in development and tests). */
export const smsOutbox = pgTable(
  'sms_outbox',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    to: text('to').notNull(),
    body: text('body').notNull(),
    template: text('template'),
    status: text('status', { enum: ['stored', 'sent', 'failed'] }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('sms_outbox_tenant_to_idx').on(t.tenantId, t.to)],
);

/**
 * The deployment's JWT signing keys (not tenant data: no tenant_id, so no request role can read them).
 * A new key is made every JWT_KEY_ROTATION_DAYS; retired keys verify until the last token they signed expires.
 */
export const signingKeys = pgTable('signing_keys', {
  kid: text('kid').primaryKey(),
  alg: text('alg').notNull(),
  publicJwk: jsonb('public_jwk').$type<Record<string, unknown>>().notNull(),
  /** The private JWK as JSON, sealed with PLINTH_ENCRYPTION_KEY when `encrypted`. */
  privateJwk: text('private_jwk').notNull(),
  encrypted: boolean('encrypted').notNull(),
  createdAt: createdAt(),
  retiredAt: timestamptz('retired_at'),
  expiresAt: timestamptz('expires_at'),
});

export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type MfaFactorRow = typeof mfaFactors.$inferSelect;
export type PasskeyRow = typeof passkeys.$inferSelect;
export type RefreshTokenRow = typeof refreshTokens.$inferSelect;

/**
 * Service-account tokens: JWTs (audience `plinth:service-account`) that act for the tenant with the
 * scopes they were issued with. The token itself is never stored; its `jti` is the row, so a token can
 * be listed, and revoked before it expires.
 */
export const serviceAccountTokens = pgTable(
  'service_account_tokens',
  {
    tenantId: tenantIdColumn(),
    jti: text('jti').notNull(),
    account: text('account').notNull(),
    scopes: text('scopes').array().notNull(),
    /** Who issued it: `api_key:<id>` or `user:<id>`. */
    issuedBy: text('issued_by').notNull(),
    /** `issue` (a key or admin) or `browser` (a signed-in user's session). */
    origin: text('origin', { enum: ['issue', 'browser'] }).notNull(),
    fingerprint: text('fingerprint'),
    reason: text('reason'),
    issuedAt: createdAt(),
    expiresAt: timestamptz('expires_at').notNull(),
    revokedAt: timestamptz('revoked_at'),
    revokeReason: text('revoke_reason'),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.jti] }), index('service_account_tokens_account_idx').on(t.tenantId, t.account, t.issuedAt)],
);

/** Invitations to sign up to a tenant (needed when its signup policy is invite_only or approval). Token: SHA-256 only. */
export const signupInvites = pgTable(
  'signup_invites',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    tokenHash: text('token_hash').notNull(),
    /** The last characters of the token, to tell invites apart in a list. */
    tokenHint: text('token_hint').notNull(),
    /** Only this address may redeem it, when set (lower-cased). */
    email: text('email'),
    note: text('note'),
    maxRedemptions: integer('max_redemptions').notNull().default(1),
    redeemedCount: integer('redeemed_count').notNull().default(0),
    createdBy: text('created_by'),
    signupRequestId: text('signup_request_id'),
    createdAt: createdAt(),
    expiresAt: timestamptz('expires_at'),
    revokedAt: timestamptz('revoked_at'),
    lastRedeemedAt: timestamptz('last_redeemed_at'),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), uniqueIndex('signup_invites_token_idx').on(t.tenantId, t.tokenHash)],
);

/** Requests for access to a tenant whose signup policy is `approval`; approving one issues an invite. */
export const signupRequests = pgTable(
  'signup_requests',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    email: text('email').notNull(),
    fullName: text('full_name'),
    organization: text('organization'),
    message: text('message'),
    status: text('status', { enum: ['pending', 'approved', 'rejected'] }).notNull().default('pending'),
    ip: text('ip'),
    userAgent: text('user_agent'),
    decidedBy: text('decided_by'),
    decidedAt: timestamptz('decided_at'),
    decisionReason: text('decision_reason'),
    inviteId: text('invite_id'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('signup_requests_status_idx').on(t.tenantId, t.status, t.createdAt)],
);

export type ServiceAccountTokenRow = typeof serviceAccountTokens.$inferSelect;
export type SignupInviteRow = typeof signupInvites.$inferSelect;
export type SignupRequestRow = typeof signupRequests.$inferSelect;
