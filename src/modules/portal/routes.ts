import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../../core/http/context.ts';
import { jsonBody, jsonResponse, ok } from '../../core/http/envelope.ts';
import { ApiError } from '../../core/http/errors.ts';
import { createRouter, defineRoute, errorResponse } from '../../core/http/route.ts';
import {
  AuthSessionSchema,
  DeviceToken,
  Email,
  flowOf,
  flows,
  MessageSchema,
  Metadata,
  Password,
  Phone,
  portalTenantsByEmail,
  publicTenant,
  RedirectTo,
  SignInResultSchema,
  tenantOfLinkToken,
  Turnstile,
  VerificationRequiredSchema,
} from '../auth/index.ts';
import { tenantsByIds } from '../tenants/index.ts';

/**
 * The tenant's own customers sign in to its portal here: identities separate from the tenant's app users
 * (same email may be both), with the auth config's `portal.default_role`, and access tokens whose
 * audience is `plinth:portal`. No key is needed: the tenant comes from `tenant_id` in the body, the
 * `tenant` query parameter, the X-Tenant-Id header or a publishable key, and tokens from emails name it.
 */
const PUBLIC = { kind: 'public' } as const;
const TAGS = ['Portal Auth'];
/** Every route but identify runs in the portal's flow context, which refuses a disabled portal. */
const PORTAL_OFF = { 403: errorResponse('The portal is disabled for this tenant') } as const;
const CAPTCHA_DOWN = { 503: errorResponse('The captcha verifier could not be reached') } as const;
const TenantId = z.string().max(64).optional().openapi({ description: 'Tenant id or slug (or use ?tenant=, X-Tenant-Id or a publishable key)' });

const identify = defineRoute(PUBLIC, {
  method: 'post',
  path: '/v1/auth/portal-identify',
  tags: TAGS,
  summary: 'Identify tenant by email',
  description: 'The tenants where the email has a portal identity, so a portal login page can ask for the right one. Rate-limited per address.',
  request: { body: jsonBody(z.object({ email: Email })) },
  responses: {
    200: jsonResponse(
      z.object({ tenant_id: z.string().nullable(), multiple_tenants: z.boolean(), tenants: z.array(z.object({ id: z.string(), name: z.string() })) }),
      'The tenants (tenant_id is set when there is exactly one)',
    ),
  },
});

const signup = defineRoute(PUBLIC, {
  method: 'post',
  path: '/v1/auth/portal-signup',
  tags: TAGS,
  summary: 'Portal signup',
  description: 'Creates a portal identity with email and password and sends a verification email; answers with portal tokens (or `email_verification_required`, as POST /v1/auth/signup).',
  request: {
    body: jsonBody(
      z.object({ email: Email, password: Password, phone: Phone.optional(), user_metadata: Metadata.optional(), redirect_to: RedirectTo, turnstile_token: Turnstile, tenant_id: TenantId }),
    ),
  },
  responses: {
    201: jsonResponse(z.union([AuthSessionSchema, VerificationRequiredSchema]), 'Signed up'),
    400: errorResponse('Invalid input, or turnstile_token missing or refused when the tenant enables captcha'),
    403: errorResponse('The portal or signups are disabled for this tenant'),
    ...CAPTCHA_DOWN,
    404: errorResponse('No such tenant'),
    409: errorResponse('The email already has a portal identity (only when emails need no verification)'),
  },
});

const login = defineRoute(PUBLIC, {
  method: 'post',
  path: '/v1/auth/portal-login',
  tags: TAGS,
  summary: 'Portal login',
  description: 'Email, password and tenant. Same throttling and anti-enumeration as POST /v1/auth/login; answers with portal tokens or an MFA challenge.',
  request: { body: jsonBody(z.object({ email: Email, password: Password, tenant_id: TenantId, turnstile_token: Turnstile, device_token: DeviceToken })) },
  responses: {
    ...PORTAL_OFF,
    ...CAPTCHA_DOWN,
    200: jsonResponse(SignInResultSchema, 'Tokens or an MFA challenge'),
    400: errorResponse('turnstile_token missing or refused (when the tenant enables captcha)'),
    401: errorResponse('Invalid email or password'),
    404: errorResponse('No such tenant'),
    429: errorResponse('Too many failed attempts; see Retry-After'),
  },
});

const forgot = defineRoute(PUBLIC, {
  method: 'post',
  path: '/v1/auth/portal-forgot-password',
  tags: TAGS,
  summary: 'Portal password reset request',
  description: 'Sends a reset email to a portal identity. Always the same answer.',
  request: { body: jsonBody(z.object({ email: Email, redirect_to: RedirectTo, turnstile_token: Turnstile, tenant_id: TenantId })) },
  responses: {
    ...PORTAL_OFF,
    ...CAPTCHA_DOWN,
    200: jsonResponse(MessageSchema, 'Sent if the address has a portal identity'),
    400: errorResponse('turnstile_token missing or refused (when the tenant enables captcha)'),
    404: errorResponse('No such tenant'),
  },
});

const reset = defineRoute(PUBLIC, {
  method: 'post',
  path: '/v1/auth/portal-reset-password',
  tags: TAGS,
  summary: 'Portal password reset',
  description: 'Sets a new password with the emailed token (which names its tenant) and ends every portal session of the identity.',
  request: { body: jsonBody(z.object({ token: z.string().min(1).max(200), password: Password })) },
  responses: { ...PORTAL_OFF, 200: jsonResponse(MessageSchema, 'Password changed'), 401: errorResponse('Invalid, used or expired token') },
});

const magic = defineRoute(PUBLIC, {
  method: 'post',
  path: '/v1/auth/portal-magic-link',
  tags: TAGS,
  summary: 'Portal send magic link',
  description: 'Sends a passwordless sign-in link to a portal identity (creating it on first use when signups are open). Always the same answer.',
  request: { body: jsonBody(z.object({ email: Email, redirect_to: RedirectTo, turnstile_token: Turnstile, tenant_id: TenantId })) },
  responses: { ...PORTAL_OFF, ...CAPTCHA_DOWN, 200: jsonResponse(MessageSchema, 'Sent if allowed'), 400: errorResponse('turnstile_token missing or refused (when the tenant enables captcha)'), 404: errorResponse('No such tenant') },
});

const magicVerify = defineRoute(PUBLIC, {
  method: 'post',
  path: '/v1/auth/portal-magic-link-verify',
  tags: TAGS,
  summary: 'Portal verify magic link',
  description: 'Exchanges a portal magic-link token (it names its tenant) for portal tokens or an MFA challenge.',
  request: { body: jsonBody(z.object({ token: z.string().min(1).max(200) })) },
  responses: { ...PORTAL_OFF, 200: jsonResponse(SignInResultSchema, 'Signed in'), 401: errorResponse('Invalid, used or expired token') },
});

const otpSend = defineRoute(PUBLIC, {
  method: 'post',
  path: '/v1/auth/portal-otp-send',
  tags: TAGS,
  summary: 'Portal send OTP',
  description: 'Sends a 6-digit SMS code to a portal identity\'s phone. Always the same answer.',
  request: { body: jsonBody(z.object({ phone: Phone, tenant_id: TenantId })) },
  responses: { ...PORTAL_OFF, 200: jsonResponse(MessageSchema, 'Sent if allowed'), 404: errorResponse('No such tenant') },
});

const otpVerify = defineRoute(PUBLIC, {
  method: 'post',
  path: '/v1/auth/portal-otp-verify',
  tags: TAGS,
  summary: 'Portal verify OTP',
  description: 'Checks the SMS code (5 attempts) and signs the portal identity in.',
  request: { body: jsonBody(z.object({ phone: Phone, code: z.string().regex(/^\d{6}$/, 'Six digits'), tenant_id: TenantId })) },
  responses: { ...PORTAL_OFF, 200: jsonResponse(SignInResultSchema, 'Signed in'), 401: errorResponse('Wrong or expired code'), 404: errorResponse('No such tenant') },
});

const verifyEmail = defineRoute(PUBLIC, {
  method: 'post',
  path: '/v1/auth/portal-verify-email',
  tags: TAGS,
  summary: 'Portal verify email',
  description: 'Verifies a portal identity\'s email with the emailed token (which names its tenant).',
  request: { body: jsonBody(z.object({ token: z.string().min(1).max(200) })) },
  responses: { ...PORTAL_OFF, 200: jsonResponse(MessageSchema.extend({ verified: z.literal(true) }), 'Verified'), 401: errorResponse('Invalid, used or expired token') },
});

async function portalFlow(c: Context<AppEnv>, tenantRef?: string | null) {
  return flowOf(c, 'portal', await publicTenant(c, tenantRef));
}

/** A token from an email names its tenant; one that does not is no token of ours. */
async function tokenFlow(c: Context<AppEnv>, token: string, purposes: Parameters<typeof tenantOfLinkToken>[1], failure: string) {
  const tenantId = tenantOfLinkToken(token, purposes);
  if (!tenantId) throw new ApiError('UNAUTHORIZED', failure);
  return flowOf(c, 'portal', await publicTenant(c, tenantId).catch(() => {
    throw new ApiError('UNAUTHORIZED', failure);
  }));
}

export function portalRoutes() {
  const app = createRouter();

  app.openapi(identify, async (c) => {
    const kernel = c.get('kernel');
    const ids = await portalTenantsByEmail(kernel, c.req.valid('json').email);
    const tenants = (await tenantsByIds(kernel, ids)).map((t) => ({ id: t.id, name: t.settings.branding?.brand_name ?? t.name }));
    return c.json(ok(c, { tenant_id: tenants.length === 1 ? tenants[0]!.id : null, multiple_tenants: tenants.length > 1, tenants }), 200);
  });

  app.openapi(signup, async (c) => {
    const { tenant_id, ...input } = c.req.valid('json');
    return c.json(ok(c, await flows.signup(await portalFlow(c, tenant_id), input)), 201);
  });

  app.openapi(login, async (c) => {
    const { tenant_id, ...input } = c.req.valid('json');
    return c.json(ok(c, await flows.login(await portalFlow(c, tenant_id), input)), 200);
  });

  app.openapi(forgot, async (c) => {
    const { tenant_id, ...input } = c.req.valid('json');
    return c.json(ok(c, await flows.forgotPassword(await portalFlow(c, tenant_id), input)), 200);
  });

  app.openapi(reset, async (c) => {
    const input = c.req.valid('json');
    const failure = 'The reset token is invalid, used or expired';
    await flows.resetPassword(await tokenFlow(c, input.token, ['password_reset'], failure), input);
    return c.json(ok(c, { message: 'Your password has been changed; sign in with the new one.' }), 200);
  });

  app.openapi(magic, async (c) => {
    const { tenant_id, ...input } = c.req.valid('json');
    return c.json(ok(c, await flows.sendMagicLink(await portalFlow(c, tenant_id), input)), 200);
  });

  app.openapi(magicVerify, async (c) => {
    const { token } = c.req.valid('json');
    const flow = await tokenFlow(c, token, ['magic_link'], 'The magic link is invalid, used or expired');
    return c.json(ok(c, (await flows.verifyMagicLink(flow, token)).result), 200);
  });

  app.openapi(otpSend, async (c) => {
    const { tenant_id, ...input } = c.req.valid('json');
    return c.json(ok(c, await flows.sendSmsOtp(await portalFlow(c, tenant_id), input)), 200);
  });

  app.openapi(otpVerify, async (c) => {
    const { tenant_id, ...input } = c.req.valid('json');
    return c.json(ok(c, await flows.verifySmsOtp(await portalFlow(c, tenant_id), input)), 200);
  });

  app.openapi(verifyEmail, async (c) => {
    const { token } = c.req.valid('json');
    const flow = await tokenFlow(c, token, ['email_verification', 'email_change'], 'The verification token is invalid, used or expired');
    await flows.verifyEmail(flow, token);
    return c.json(ok(c, { verified: true as const, message: 'Your email address is verified.' }), 200);
  });

  return app;
}
