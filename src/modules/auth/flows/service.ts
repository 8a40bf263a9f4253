import type { TenantContext } from '../../../core/context.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { gateSession, passwordPolicy, passwordPolicyOf } from '../config/governance.ts';
import { checkRedirect, getAuthConfig, type AuthConfig } from '../config/service.ts';
import { mfaTicket, verifiedFactors } from '../mfa/service.ts';
import { runtime } from '../runtime.ts';
import { revokeUserSessions, startSession, type AuthSession } from '../sessions/service.ts';
import type { Audience, UserRow } from '../tables.ts';
import { checkPassword, hashPassword, verifyPassword } from '../users/passwords.ts';
import { findUser, findUserByEmail, findUserByPhone, insertUser, normalizeEmail, updateUserRow } from '../users/store.ts';
import { requireCaptcha } from './captcha.ts';
import type { FlowContext } from './context.ts';
import { knownDevice, rememberDevice } from './devices.ts';
import { sendAuthMail, sendOtpSms } from './messages.ts';
import { consumeLinkToken, consumeSmsCode, issueLinkToken, issueSmsCode, TOKEN_TTL_MINUTES } from './one-time.ts';

export type { FlowContext, Work } from './context.ts';

export type SignInResult = AuthSession | Awaited<ReturnType<typeof mfaTicket>>;

const GENERIC_SENT = 'If the address belongs to an account, a message is on its way.';

function methodEnabled(config: AuthConfig, audience: Audience, method: keyof AuthConfig['methods']) {
  if (audience === 'portal') {
    if (!config.portal.enabled) throw new ApiError('FORBIDDEN', 'The portal is disabled for this tenant');
    return;
  }
  if (!config.methods[method]) throw new ApiError('FORBIDDEN', `Sign-in method '${method}' is disabled for this tenant`);
}

function signupAllowed(config: AuthConfig, audience: Audience) {
  if (!config.signup_enabled) throw new ApiError('FORBIDDEN', 'Signups are disabled for this tenant');
  methodEnabled(config, audience, 'email_password');
}

const siteUrl = (config: AuthConfig, audience: Audience) => (audience === 'portal' ? (config.portal.site_url ?? config.site_url) : config.site_url);

/** A link to `base` carrying the token and its type. */
function linkTo(base: string, token: string, type: string): string {
  const url = new URL(base);
  url.searchParams.set('token', token);
  url.searchParams.set('type', type);
  return url.toString();
}

function defaultRole(config: AuthConfig, audience: Audience) {
  return audience === 'portal' ? config.portal.default_role : config.default_role;
}

/**
 * After a first factor: a user with a verified TOTP factor gets an MFA ticket, everyone else a session.
 * Banned users and (when the tenant requires it) unverified emails stop here.
 */
export async function afterFirstFactor(ctx: TenantContext, user: UserRow, amr: string[], config: AuthConfig): Promise<SignInResult> {
  // Before the MFA ticket too: a ticket is half a session.
  const governance = await gateSession(ctx, user.audience);
  if (user.bannedAt) throw new ApiError('FORBIDDEN', 'This account is banned');
  if (config.require_email_verification && user.email && !user.emailVerifiedAt && !amr.includes('magic_link')) {
    throw new ApiError('FORBIDDEN', 'Verify your email address before signing in; a new link can be requested with POST /v1/auth/verify/resend');
  }
  if ((await verifiedFactors(ctx, user.id)).length > 0) return mfaTicket(ctx, user, amr);
  return startSession(ctx, user, { amr }, config, governance);
}

export interface SignupInput {
  email: string;
  password: string;
  phone?: string;
  user_metadata?: Record<string, unknown>;
  redirect_to?: string;
  turnstile_token?: string;
}

export type SignupResult = AuthSession | { email_verification_required: true; email: string; message: string };

/**
 * Email + password signup. The verification mail is always sent. When the tenant requires verified
 * emails, the answer is the same whether or not the address already had an account (that account's
 * owner gets a "you already have an account" mail instead), so signup cannot be used to find accounts.
 * Without that requirement the caller gets tokens at once, and an existing address is a 409.
 */
export async function signup(flow: FlowContext, input: SignupInput): Promise<SignupResult> {
  const { config, governance } = await flow.work(async (ctx) => ({ config: await getAuthConfig(ctx), governance: await gateSession(ctx, flow.audience) }));
  signupAllowed(config, flow.audience);
  // Before argon2 and any write: a bot without a solved challenge costs nothing.
  await requireCaptcha(flow, input.turnstile_token);
  const email = normalizeEmail(input.email);
  checkPassword(input.password, passwordPolicyOf(config, governance), email);
  const redirectTo = checkRedirect(config, input.redirect_to, [siteUrl(config, flow.audience)]);
  const passwordHash = await hashPassword(flow.kernel.config, input.password);
  const throttles = runtime(flow.kernel).throttles;
  return flow.work(async (ctx) => {
    const existing = await findUserByEmail(ctx, flow.audience, email);
    if (existing) {
      if (!config.require_email_verification) throw new ApiError('ALREADY_EXISTS', 'A user with this email already exists', { details: { field: 'email' } });
      if (await throttles.maySend(`${ctx.tenantId}:${email}`)) await sendAuthMail(ctx, config, 'existing_account', email, {});
      return { email_verification_required: true as const, email, message: 'Check your email to confirm your address.' };
    }
    const user = await insertUser(ctx, {
      audience: flow.audience,
      email,
      phone: input.phone,
      passwordHash,
      defaultRole: defaultRole(config, flow.audience),
      userMetadata: input.user_metadata,
      via: 'signup',
    });
    await sendVerification(ctx, config, flow, user, redirectTo);
    if (config.require_email_verification) {
      return { email_verification_required: true as const, email, message: 'Check your email to confirm your address.' };
    }
    return startSession(ctx, user, { amr: ['password'] }, config, governance);
  });
}

export async function sendVerification(ctx: TenantContext, config: AuthConfig, flow: FlowContext, user: UserRow, redirectTo: string | null) {
  if (!user.email) return;
  const token = await issueLinkToken(ctx, { purpose: 'email_verification', audience: flow.audience, userId: user.id, target: user.email, redirectTo });
  await sendAuthMail(ctx, config, 'verification', user.email, {
    link: linkTo(flow.verifyUrl, token, 'signup'),
    token,
    expires_minutes: TOKEN_TTL_MINUTES.email_verification,
  });
}

/**
 * Email + password sign-in. Unknown email, no password and wrong password answer the same 401 after
 * the same argon2 work; failures lock the account for the calling address (and spraying addresses),
 * and for new devices once they come from everywhere; never for a device that signed in before and
 * presents its `device_token` (answered on every successful sign-in).
 */
export async function login(
  flow: FlowContext,
  input: { email: string; password: string; turnstile_token?: string; device_token?: string },
): Promise<SignInResult & { device_token: string }> {
  const email = normalizeEmail(input.email);
  const throttles = runtime(flow.kernel).throttles;
  const account = `${flow.tenantId}:${flow.audience}:${email}`;
  const presented = input.device_token;
  const device = presented ? await flow.work((ctx) => knownDevice(ctx, presented, flow.audience, email)) : null;
  await throttles.checkLogin(account, flow.ip, device?.id);
  // After the lockout check (a locked caller costs no verifier call), before the password (a refused
  // challenge is no failed guess).
  await requireCaptcha(flow, input.turnstile_token);
  // The allowlist is checked before the password, so a caller outside it learns nothing about the password.
  const { config, user } = await flow.work(async (ctx) => {
    await gateSession(ctx, flow.audience);
    return { config: await getAuthConfig(ctx), user: await findUserByEmail(ctx, flow.audience, email) };
  });
  methodEnabled(config, flow.audience, 'email_password');
  const { ok, rehash } = await verifyPassword(flow.kernel.config, user?.passwordHash, input.password);
  if (!ok || !user) {
    await throttles.loginFailed(account, flow.ip, device?.id);
    throw new ApiError('UNAUTHORIZED', 'Invalid email or password');
  }
  await throttles.loginSucceeded(account, flow.ip, device?.id);
  const newHash = rehash ? await hashPassword(flow.kernel.config, input.password) : null;
  return flow.work(async (ctx) => {
    if (newHash) await updateUserRow(ctx, user.id, { passwordHash: newHash }, []);
    const result = await afterFirstFactor(ctx, user, ['password'], config);
    // Only once the sign-in goes ahead (not banned, verified...): the device is then one the owner uses.
    return { ...result, device_token: await rememberDevice(ctx, user.id, device) };
  });
}

/** Verifies an email from the link or code of a verification mail (or confirms an email change). */
export async function verifyEmail(flow: FlowContext, token: string, options: { anyAudience?: boolean } = {}) {
  return flow.work(async (ctx) => {
    const config = await getAuthConfig(ctx);
    const row = await consumeLinkToken(ctx, ['email_verification', 'email_change'], options.anyAudience ? null : flow.audience, token);
    if (!row?.userId) throw new ApiError('UNAUTHORIZED', 'The verification token is invalid, used or expired');
    const user = await findUser(ctx, row.userId);
    if (!user) throw new ApiError('UNAUTHORIZED', 'The verification token is invalid, used or expired');
    if (row.purpose === 'email_change') {
      const taken = await findUserByEmail(ctx, user.audience, row.target);
      if (taken && taken.id !== user.id) throw new ApiError('ALREADY_EXISTS', 'Another account uses this email now');
      await updateUserRow(ctx, user.id, { email: row.target, emailVerifiedAt: new Date() }, ['email']);
    } else if (user.email === row.target && !user.emailVerifiedAt) {
      await updateUserRow(ctx, user.id, { emailVerifiedAt: new Date() }, ['email_verified']);
    }
    return { verified: true as const, user_id: user.id, email: row.target, redirect_to: row.redirectTo ?? siteUrl(config, row.audience) };
  });
}

export async function resendVerification(flow: FlowContext, input: { email: string; redirect_to?: string }) {
  const config = await flow.work(getAuthConfig);
  const redirectTo = checkRedirect(config, input.redirect_to, [siteUrl(config, flow.audience)]);
  const email = normalizeEmail(input.email);
  const throttles = runtime(flow.kernel).throttles;
  await flow.work(async (ctx) => {
    const user = await findUserByEmail(ctx, flow.audience, email);
    if (!user || user.emailVerifiedAt || !(await throttles.maySend(`${ctx.tenantId}:${email}`))) return;
    await sendVerification(ctx, config, flow, user, redirectTo);
  });
  return { message: GENERIC_SENT };
}

/** Always the same answer: whether the address has an account is not revealed. */
export async function forgotPassword(flow: FlowContext, input: { email: string; redirect_to?: string; turnstile_token?: string }) {
  const config = await flow.work(getAuthConfig);
  methodEnabled(config, flow.audience, 'email_password');
  await requireCaptcha(flow, input.turnstile_token);
  const redirectTo = checkRedirect(config, input.redirect_to, [siteUrl(config, flow.audience)]);
  const email = normalizeEmail(input.email);
  const throttles = runtime(flow.kernel).throttles;
  await flow.work(async (ctx) => {
    const user = await findUserByEmail(ctx, flow.audience, email);
    if (!user || user.bannedAt || !(await throttles.maySend(`${ctx.tenantId}:${email}`))) return;
    const token = await issueLinkToken(ctx, { purpose: 'password_reset', audience: flow.audience, userId: user.id, target: email, redirectTo });
    const base = redirectTo ?? siteUrl(config, flow.audience);
    await sendAuthMail(ctx, config, 'password_reset', email, {
      link: base ? linkTo(base, token, 'recovery') : '',
      token,
      expires_minutes: TOKEN_TTL_MINUTES.password_reset,
    });
  });
  return { message: GENERIC_SENT };
}

/** Sets a new password from a reset token; every session of the user ends. */
export async function resetPassword(flow: FlowContext, input: { token: string; password: string }) {
  const policy = await flow.work(async (ctx) => passwordPolicy(ctx, await getAuthConfig(ctx)));
  checkPassword(input.password, policy);
  const hash = await hashPassword(flow.kernel.config, input.password);
  return flow.work(async (ctx) => {
    const row = await consumeLinkToken(ctx, ['password_reset'], flow.audience, input.token);
    const user = row?.userId ? await findUser(ctx, row.userId) : undefined;
    if (!row || !user) throw new ApiError('UNAUTHORIZED', 'The reset token is invalid, used or expired');
    checkPassword(input.password, policy, user.email);
    const now = new Date();
    await updateUserRow(
      ctx,
      user.id,
      // Following the emailed link proved the address.
      { passwordHash: hash, passwordChangedAt: now, emailVerifiedAt: user.emailVerifiedAt ?? (user.email === row.target ? now : null) },
      ['password'],
    );
    const revoked = await revokeUserSessions(ctx, user.id, 'password_reset');
    return { password_reset: true as const, sessions_revoked: revoked };
  });
}

export async function sendMagicLink(flow: FlowContext, input: { email: string; redirect_to?: string; turnstile_token?: string }) {
  const config = await flow.work(getAuthConfig);
  methodEnabled(config, flow.audience, 'magic_link');
  await requireCaptcha(flow, input.turnstile_token);
  const redirectTo = checkRedirect(config, input.redirect_to, [siteUrl(config, flow.audience)]);
  const email = normalizeEmail(input.email);
  const throttles = runtime(flow.kernel).throttles;
  await flow.work(async (ctx) => {
    const user = await findUserByEmail(ctx, flow.audience, email);
    // Unknown addresses get a link only when signing up is allowed (the link creates the account).
    if ((!user && !config.signup_enabled) || user?.bannedAt) return;
    if (!(await throttles.maySend(`${ctx.tenantId}:${email}`))) return;
    const token = await issueLinkToken(ctx, { purpose: 'magic_link', audience: flow.audience, userId: user?.id ?? null, target: email, redirectTo });
    await sendAuthMail(ctx, config, 'magic_link', email, { link: linkTo(flow.verifyUrl, token, 'magiclink'), token, expires_minutes: TOKEN_TTL_MINUTES.magic_link });
  });
  return { message: GENERIC_SENT };
}

/** Exchanges a magic-link token for a session (or an MFA ticket); creates the account on first use. */
export async function verifyMagicLink(flow: FlowContext, token: string, options: { anyAudience?: boolean } = {}): Promise<{ result: SignInResult; redirectTo: string | null }> {
  return flow.work(async (ctx) => {
    const config = await getAuthConfig(ctx);
    const row = await consumeLinkToken(ctx, ['magic_link'], options.anyAudience ? null : flow.audience, token);
    if (!row) throw new ApiError('UNAUTHORIZED', 'The magic link is invalid, used or expired');
    const audience = row.audience;
    let user = row.userId ? await findUser(ctx, row.userId) : await findUserByEmail(ctx, audience, row.target);
    if (!user) {
      if (!config.signup_enabled) throw new ApiError('FORBIDDEN', 'Signups are disabled for this tenant');
      user = await insertUser(ctx, { audience, email: row.target, emailVerified: true, defaultRole: defaultRole(config, audience), via: 'magic_link' });
    } else if (!user.emailVerifiedAt && user.email === row.target) {
      user = await updateUserRow(ctx, user.id, { emailVerifiedAt: new Date() }, ['email_verified']);
    }
    return { result: await afterFirstFactor(ctx, user, ['magic_link'], config), redirectTo: row.redirectTo ?? siteUrl(config, audience) };
  });
}

export async function sendSmsOtp(flow: FlowContext, input: { phone: string }) {
  const config = await flow.work(getAuthConfig);
  methodEnabled(config, flow.audience, 'phone_otp');
  const throttles = runtime(flow.kernel).throttles;
  await flow.work(async (ctx) => {
    const user = await findUserByPhone(ctx, flow.audience, input.phone);
    if ((!user && !config.signup_enabled) || user?.bannedAt) return;
    if (!(await throttles.maySend(`${ctx.tenantId}:${input.phone}`))) return;
    const code = await issueSmsCode(ctx, flow.audience, input.phone, user?.id ?? null);
    await sendOtpSms(ctx, config, input.phone, code, TOKEN_TTL_MINUTES.sms_otp, runtime(flow.kernel).sms);
  });
  return { message: 'If the number can receive codes, one is on its way.' };
}

export async function verifySmsOtp(flow: FlowContext, input: { phone: string; code: string }): Promise<SignInResult> {
  const outcome = await flow.work(async (ctx) => {
    const config = await getAuthConfig(ctx);
    methodEnabled(config, flow.audience, 'phone_otp');
    // Before the code is checked: outside the allowlist no guess is counted or answered.
    await gateSession(ctx, flow.audience);
    const row = await consumeSmsCode(ctx, flow.audience, input.phone, input.code);
    if (!row) return null; // the failed attempt must commit
    let user = await findUserByPhone(ctx, flow.audience, input.phone);
    if (!user) {
      if (!config.signup_enabled) throw new ApiError('FORBIDDEN', 'Signups are disabled for this tenant');
      user = await insertUser(ctx, { audience: flow.audience, phone: input.phone, phoneVerified: true, defaultRole: defaultRole(config, flow.audience), via: 'otp' });
    } else if (!user.phoneVerifiedAt) {
      user = await updateUserRow(ctx, user.id, { phoneVerifiedAt: new Date() }, ['phone_verified']);
    }
    return afterFirstFactor(ctx, user, ['otp'], config);
  });
  if (!outcome) throw new ApiError('UNAUTHORIZED', 'The code is invalid or expired');
  return outcome;
}

export async function anonymousSignIn(flow: FlowContext) {
  return flow.work(async (ctx) => {
    const config = await getAuthConfig(ctx);
    if (!config.methods.anonymous) throw new ApiError('FORBIDDEN', 'Anonymous sign-ins are disabled for this tenant');
    const user = await insertUser(ctx, { audience: 'app', isAnonymous: true, via: 'anonymous' });
    return startSession(ctx, user, { amr: ['anonymous'] }, config);
  });
}

