import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { isTenantPrincipal } from '../../core/auth/guard.ts';
import { SCOPES, type TenantPrincipal } from '../../core/auth/principal.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { tenantWork } from '../../core/http/work.ts';
import {
  flowOf,
  flows,
  identityReady,
  identityWork,
  findUser,
  serviceAccounts,
  signup,
  startSession,
  adminCreateUser,
  verifyTurnstile,
  type ServiceAccountTokenRow,
  type SignupInviteRow,
  type SignupRequestRow,
} from '../../modules/auth/index.ts';
import { accountSettingsOf, createTenant, getTenant } from '../../modules/tenants/index.ts';
import { surfaceRoute } from '../surface.ts';
import { IdParam, NO_NUL, OPEN_ERRORS, text, sessionOut, success, SuccessResponse, TenantRef, tenantFor, UserSessionResponse } from './auth.ts';
import { authed, CONFLICT, DateTime, ERRORS, errorOf, json, NOT_FOUND, open, principalOf, PUBLIC_ERRORS } from './http.ts';

/**
 * Service accounts and signup of the agent service contract. Service-account tokens are JWTs with a
 * jti, scopes and an expiry, resolved by identity to a tenant principal holding those scopes (the
 * platform's scopes: read, write, files, ai, auth, schema, `*`). Signup follows the tenant's signup
 * policy (a tenant setting): `open`, `invite_only` (register needs an invite token) or `approval`
 * (request access; an admin's approval mails an invite). Managing all of it needs scope `*`.
 */

const TAGS = ['auth'];
const ADMIN = authed('*');

// ---------------------------------------------------------------- service accounts

const Scope = z.enum(SCOPES);
const AccountName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]*$/)
  .openapi({ description: 'Name of the service account (letters, digits and . _ : @ -)', example: 'analytics-batch' });
const Lifetime = z
  .number()
  .int()
  .min(1)
  .max(serviceAccounts.MAX_LIFETIME_MINUTES)
  .optional()
  .openapi({ description: `Minutes the token lives (1..${serviceAccounts.MAX_LIFETIME_MINUTES}); default 60` });

const ServiceAccountIssueRequest = z
  .object({
    account: AccountName,
    scopes: z.array(Scope).min(1).max(SCOPES.length).openapi({ example: ['read'] }),
    lifetime_minutes: Lifetime,
    fingerprint: text(200, 0).nullish().openapi({ description: 'Free text that identifies the machine or job the token is for' }),
  })
  .openapi('ServiceAccountIssueRequest');

const BrowserServiceAccountIssueRequest = ServiceAccountIssueRequest.extend({
  reason: text(500).openapi({ description: 'Why the token is issued; kept with it for audit', example: 'Nightly export job' }),
}).openapi('BrowserServiceAccountIssueRequest');

const ServiceAccountTokenResponse = z
  .object({
    refresh_token: z.string().openapi({ description: 'The token (a JWT): send it as `Authorization: Bearer <token>`. Shown once.' }),
    access_token: z.string().openapi({ description: 'The same token as `refresh_token`, under the name clients of access tokens read' }),
    token_type: z.literal('bearer'),
    jti: z.string(),
    account: z.string(),
    scopes: z.array(z.string()),
    tenant_id: z.string(),
    issued_at: DateTime,
    expires_at: DateTime,
  })
  .openapi('ServiceAccountTokenResponse');

const ServiceAccountTokenStatus = z.enum(['active', 'revoked', 'expired']).openapi('ServiceAccountTokenStatus');

const ServiceAccountTokenItem = z
  .object({
    jti: z.string(),
    account: z.string(),
    scopes: z.array(z.string()),
    tenant_id: z.string(),
    status: ServiceAccountTokenStatus,
    origin: z.enum(['issue', 'browser']).openapi({ description: '`browser`: issued from a signed-in user\'s session' }),
    issued_by: z.string().openapi({ description: '`api_key:<id>` or `user:<id>`' }),
    fingerprint: z.string().nullable(),
    reason: z.string().nullable(),
    issued_at: DateTime,
    expires_at: DateTime,
    revoked_at: DateTime.nullable(),
    revoke_reason: z.string().nullable(),
  })
  .openapi('ServiceAccountTokenItem');

const ServiceAccountTokenListResponse = z
  .object({ tokens: z.array(ServiceAccountTokenItem), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('ServiceAccountTokenListResponse');

const ServiceAccountTokenRevokeRequest = z
  .object({ reason: text(500).optional() })
  .openapi('ServiceAccountTokenRevokeRequest');

const NOT_FOR_SA = { 403: errorOf('Scope `*` missing, a requested scope the caller does not hold, or the caller is itself a service-account token') };

const issue = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/service-accounts/issue',
    operationId: 'issue_service_account_token',
    tags: TAGS,
    summary: 'Issue Service Account Token',
    description:
      'Issues a token for a service account of the caller\'s tenant, for machines. Needs scope `*` (an admin key, or an admin user); a service-account token cannot issue tokens. The token is a JWT with a `jti`, the given scopes and an expiry of at most 24 hours; revoke it by jti.',
    request: { body: { content: { 'application/json': { schema: ServiceAccountIssueRequest } }, required: true } },
    responses: { 201: json(ServiceAccountTokenResponse, 'The token (shown once)'), ...ERRORS, ...NOT_FOR_SA },
  },
  ADMIN,
);

const browserIssue = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/service-accounts/browser-issue',
    operationId: 'issue_service_account_token_from_browser',
    tags: TAGS,
    summary: 'Issue Service Account Token From Browser',
    description: 'As issue, from a signed-in user\'s session (a user access token of an admin); `reason` is kept with the token.',
    request: { body: { content: { 'application/json': { schema: BrowserServiceAccountIssueRequest } }, required: true } },
    responses: {
      201: json(ServiceAccountTokenResponse, 'The token (shown once)'),
      ...ERRORS,
      401: errorOf('Missing, invalid, expired or revoked token; or a token that is not a user\'s access token'),
      ...NOT_FOR_SA,
    },
  },
  ADMIN,
);

const listTokens = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/auth/service-accounts/tokens',
    operationId: 'list_service_account_tokens',
    tags: TAGS,
    summary: 'List Service Account Tokens',
    description: 'The tenant\'s service-account tokens, newest first (the tokens themselves are never stored).',
    request: {
      query: z.object({
        account: z.string().max(100).regex(NO_NUL).optional(),
        status: ServiceAccountTokenStatus.optional(),
        limit: z.coerce.number().int().min(1).max(100).default(50),
        offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
      }),
    },
    responses: { 200: json(ServiceAccountTokenListResponse, 'The tokens'), ...ERRORS },
  },
  ADMIN,
);

const JtiParams = z.object({ jti: IdParam('jti', 'sat_01jh3x2k7d9f8g6h5j4k3m2n1p') });

const revokeToken = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/service-accounts/tokens/{jti}/revoke',
    operationId: 'revoke_service_account_token',
    tags: TAGS,
    summary: 'Revoke Service Account Token',
    description: 'Revokes the token: its next request gets 401, in every process. Revoking a revoked token answers it unchanged.',
    request: { params: JtiParams, body: { content: { 'application/json': { schema: ServiceAccountTokenRevokeRequest } }, required: false } },
    responses: { 200: json(ServiceAccountTokenItem, 'The revoked token'), ...NOT_FOUND('The token'), ...ERRORS },
  },
  ADMIN,
);

// ---------------------------------------------------------------- signup

const SignupPolicy = z.enum(['open', 'invite_only', 'approval']);

const SignupAccessPolicyResponse = z
  .object({
    tenant_id: z.string(),
    policy: SignupPolicy,
    invite_required: z.boolean().openapi({ description: 'POST /auth/register needs `invite_token`' }),
    request_access_enabled: z.boolean().openapi({ description: 'POST /auth/request-access is taken' }),
  })
  .openapi('SignupAccessPolicyResponse');

const policyRoute = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/auth/signup-policy',
    operationId: 'get_signup_access_policy',
    tags: TAGS,
    summary: 'Get Signup Access Policy',
    description: 'How the tenant takes new users (a tenant setting, changed with PUT /tenants/settings). Name the tenant with `tenant_id`, X-Tenant-Id or a publishable key.',
    request: { query: z.object({ tenant_id: TenantRef.optional() }) },
    responses: {
      ...OPEN_ERRORS,
      200: json(SignupAccessPolicyResponse, 'The policy'), 400: errorOf('The tenant is not named'), ...NOT_FOUND('The tenant') },
  },
  open(),
);

const UserRegisterRequest = z
  .object({
    email: z.string().trim().email().max(254),
    password: z.string().min(1).max(1024),
    display_name: text(200).optional(),
    tenant_id: TenantRef.optional().openapi({ description: 'Join this tenant (id or slug); also named by an invite token, X-Tenant-Id or a publishable key' }),
    tenant_name: text(200).optional().openapi({ description: 'With no tenant named: create a tenant of this name, the new user its admin' }),
    invite_token: z.string().min(1).max(200).optional().openapi({ description: 'Required when the tenant\'s policy is invite_only or approval' }),
    captcha_token: z.string().min(1).max(4096).optional().openapi({ description: 'A Cloudflare Turnstile response; required to create a tenant (`tenant_name`) when the operator configures captcha for registration (REGISTER_TURNSTILE_SECRET_KEY)' }),
  })
  .openapi('UserRegisterRequest');

const UserRegisterResponse = z
  .object({
    user_id: z.string().nullable().openapi({ description: 'null while the e-mail address must be verified first (the answer is then the same for a taken address)' }),
    tenant_id: z.string(),
    tenant_slug: z.string(),
    email: z.string(),
    email_verification_required: z.boolean(),
    tenant_created: z.boolean(),
    session: UserSessionResponse.nullable().openapi({ description: 'Tokens, unless the e-mail address must be verified first' }),
  })
  .openapi('UserRegisterResponse');

/** New tenants per address per hour through register. */
export const TENANT_REGISTRATIONS_PER_HOUR = 5;

const register = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/register',
    operationId: 'register_tenant',
    tags: TAGS,
    summary: 'Register Tenant',
    description:
      `Signs up a user. With a tenant named (\`tenant_id\`, an invite token, X-Tenant-Id or a publishable key) the user joins it as its signup policy allows: \`open\` takes anyone, \`invite_only\` and \`approval\` need \`invite_token\` (single use unless issued for more; bound to its e-mail when it names one). With no tenant named and \`tenant_name\` given, a new tenant is created with the user as its admin (${TENANT_REGISTRATIONS_PER_HOUR} per address per hour).`,
    request: { body: { content: { 'application/json': { schema: UserRegisterRequest } }, required: true } },
    responses: {
      ...OPEN_ERRORS,
      201: json(UserRegisterResponse, 'Registered'),
      400: errorOf('No tenant named and no tenant_name'),
      403: errorOf('The tenant takes no signups of this kind (invite required, invalid or used invite, signups disabled)'),
      ...NOT_FOUND('The tenant'),
      ...CONFLICT('A user with this e-mail exists (when the tenant does not require verified addresses)'),
    },
  },
  open(),
);

const SignupRequestPublicRequest = z
  .object({
    email: z.string().trim().email().max(254),
    full_name: text(200).optional(),
    organization: text(200).optional(),
    message: text(2000).optional(),
    tenant_id: TenantRef.optional(),
  })
  .openapi('SignupRequestPublicRequest');

const requestAccess = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/request-access',
    operationId: 'submit_access_request',
    tags: TAGS,
    summary: 'Submit Access Request',
    description: 'Asks for access to a tenant whose policy is `approval`; an admin approves (an invite is mailed) or rejects it. A second request for an address still waiting gets the same answer and is not stored.',
    request: { body: { content: { 'application/json': { schema: SignupRequestPublicRequest } }, required: true } },
    responses: {
      ...OPEN_ERRORS,
      202: json(SuccessResponse, 'Received'),
      400: errorOf('The tenant is not named'),
      403: errorOf('The tenant does not take access requests (its policy is not approval)'),
      ...NOT_FOUND('The tenant'),
    },
  },
  open(),
);

const SignupRequestStatus = z.enum(['pending', 'approved', 'rejected']).openapi('SignupRequestStatus');
const SignupInviteStatus = z.enum(['active', 'revoked', 'expired', 'exhausted']).openapi('SignupInviteStatus');

const SignupRequestResponse = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    email: z.string(),
    full_name: z.string().nullable(),
    organization: z.string().nullable(),
    message: z.string().nullable(),
    status: SignupRequestStatus,
    decided_by: z.string().nullable(),
    decided_at: DateTime.nullable(),
    decision_reason: z.string().nullable(),
    invite_id: z.string().nullable(),
    created_at: DateTime,
  })
  .openapi('SignupRequestResponse');

const SignupRequestListResponse = z
  .object({ requests: z.array(SignupRequestResponse), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('SignupRequestListResponse');

const SignupInviteResponse = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    email: z.string().nullable(),
    note: z.string().nullable(),
    status: SignupInviteStatus,
    token_hint: z.string().openapi({ description: 'The last 4 characters of the token' }),
    max_redemptions: z.number().int(),
    redeemed_count: z.number().int(),
    created_by: z.string().nullable(),
    signup_request_id: z.string().nullable(),
    created_at: DateTime,
    expires_at: DateTime.nullable(),
    revoked_at: DateTime.nullable(),
    last_redeemed_at: DateTime.nullable(),
  })
  .openapi('SignupInviteResponse');

const SignupInviteListResponse = z
  .object({ invites: z.array(SignupInviteResponse), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('SignupInviteListResponse');

const SignupRequestDecisionResponse = z
  .object({
    request: SignupRequestResponse,
    invite: SignupInviteResponse.nullable(),
    invite_token: z.string().nullable().openapi({ description: 'On approval: the invite token (also mailed to the requester)' }),
  })
  .openapi('SignupRequestDecisionResponse');

const Paging = { limit: z.coerce.number().int().min(1).max(100).default(50), offset: z.coerce.number().int().min(0).max(1_000_000).default(0) };

const listRequests = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/auth/signup-requests',
    operationId: 'list_signup_requests',
    tags: TAGS,
    summary: 'List Signup Requests',
    description: 'The tenant\'s access requests, newest first.',
    request: { query: z.object({ status: SignupRequestStatus.optional(), ...Paging }) },
    responses: { 200: json(SignupRequestListResponse, 'The requests'), ...ERRORS },
  },
  ADMIN,
);

const RequestParams = z.object({ request_id: IdParam('request_id', 'sreq_01jh3x2k7d9f8g6h5j4k3m2n1p') });

const SignupRequestApprovalRequest = z
  .object({
    note: text(500).optional(),
    invite_expires_in_hours: z.number().int().min(1).max(24 * 90).optional().openapi({ description: 'Default 168 (7 days)' }),
  })
  .openapi('SignupRequestApprovalRequest');

const approve = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/signup-requests/{request_id}/approve',
    operationId: 'approve_signup_request',
    tags: TAGS,
    summary: 'Approve Signup Request',
    description: 'Approves a pending request: a single-use invite bound to the requester\'s address is issued and mailed to them.',
    request: { params: RequestParams, body: { content: { 'application/json': { schema: SignupRequestApprovalRequest } }, required: false } },
    responses: { 200: json(SignupRequestDecisionResponse, 'Approved'), ...NOT_FOUND('The request'), ...ERRORS, ...CONFLICT('The request was already decided') },
  },
  ADMIN,
);

const SignupRequestRejectionRequest = z
  .object({
    reason: text(500).optional(),
    notify_requester: z.boolean().optional().openapi({ description: 'Mail the requester the decision (default false)' }),
  })
  .openapi('SignupRequestRejectionRequest');

const reject = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/signup-requests/{request_id}/reject',
    operationId: 'reject_signup_request',
    tags: TAGS,
    summary: 'Reject Signup Request',
    description: 'Rejects a pending request.',
    request: { params: RequestParams, body: { content: { 'application/json': { schema: SignupRequestRejectionRequest } }, required: false } },
    responses: { 200: json(SignupRequestDecisionResponse, 'Rejected'), ...NOT_FOUND('The request'), ...ERRORS, ...CONFLICT('The request was already decided') },
  },
  ADMIN,
);

const listInvites = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/auth/invites',
    operationId: 'list_invites',
    tags: TAGS,
    summary: 'List Invites',
    description: 'The tenant\'s invites, newest first (the tokens themselves are never stored).',
    request: { query: z.object({ status: SignupInviteStatus.optional(), email: z.string().max(254).regex(NO_NUL).optional(), ...Paging }) },
    responses: { 200: json(SignupInviteListResponse, 'The invites'), ...ERRORS },
  },
  ADMIN,
);

const SignupInviteIssueRequest = z
  .object({
    email: z.string().trim().email().max(254).optional().openapi({ description: 'Only this address may redeem it; the token is mailed there unless send_email is false' }),
    note: text(500).optional(),
    max_redemptions: z.number().int().min(1).max(1000).optional().openapi({ description: 'Default 1' }),
    expires_in_hours: z.number().int().min(1).max(24 * 365).optional().openapi({ description: 'Default: never expires' }),
    send_email: z.boolean().optional(),
  })
  .openapi('SignupInviteIssueRequest');

const SignupInviteIssueResponse = z
  .object({ invite: SignupInviteResponse, invite_token: z.string().openapi({ description: 'Shown once' }) })
  .openapi('SignupInviteIssueResponse');

const createInvite = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/invites',
    operationId: 'issue_invite',
    tags: TAGS,
    summary: 'Issue Invite',
    description: 'Issues an invite token; with `email`, bound to that address and mailed there.',
    request: { body: { content: { 'application/json': { schema: SignupInviteIssueRequest } }, required: true } },
    responses: { 201: json(SignupInviteIssueResponse, 'The invite and its token (shown once)'), ...ERRORS },
  },
  ADMIN,
);

const InviteParams = z.object({ invite_id: IdParam('invite_id', 'inv_01jh3x2k7d9f8g6h5j4k3m2n1p') });

const revokeInvite = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/invites/{invite_id}/revoke',
    operationId: 'revoke_invite',
    tags: TAGS,
    summary: 'Revoke Invite',
    description: 'The invite stops working; revoking a revoked invite answers it unchanged.',
    request: { params: InviteParams },
    responses: { 200: json(SignupInviteResponse, 'The revoked invite'), ...NOT_FOUND('The invite'), ...ERRORS },
  },
  ADMIN,
);

// ---------------------------------------------------------------- handlers

const iso = (d: Date | null) => d?.toISOString() ?? null;

function tokenItem(row: ServiceAccountTokenRow, now: number) {
  return {
    jti: row.jti,
    account: row.account,
    scopes: row.scopes,
    tenant_id: row.tenantId,
    status: serviceAccounts.tokenStatus(row, now),
    origin: row.origin,
    issued_by: row.issuedBy,
    fingerprint: row.fingerprint,
    reason: row.reason,
    issued_at: row.issuedAt.toISOString(),
    expires_at: row.expiresAt.toISOString(),
    revoked_at: iso(row.revokedAt),
    revoke_reason: row.revokeReason,
  };
}

function inviteOut(row: SignupInviteRow, now: number) {
  return {
    id: row.id,
    tenant_id: row.tenantId,
    email: row.email,
    note: row.note,
    status: signup.inviteStatus(row, now),
    token_hint: row.tokenHint,
    max_redemptions: row.maxRedemptions,
    redeemed_count: row.redeemedCount,
    created_by: row.createdBy,
    signup_request_id: row.signupRequestId,
    created_at: row.createdAt.toISOString(),
    expires_at: iso(row.expiresAt),
    revoked_at: iso(row.revokedAt),
    last_redeemed_at: iso(row.lastRedeemedAt),
  };
}

function requestOut(row: SignupRequestRow) {
  return {
    id: row.id,
    tenant_id: row.tenantId,
    email: row.email,
    full_name: row.fullName,
    organization: row.organization,
    message: row.message,
    status: row.status,
    decided_by: row.decidedBy,
    decided_at: iso(row.decidedAt),
    decision_reason: row.decisionReason,
    invite_id: row.inviteId,
    created_at: row.createdAt.toISOString(),
  };
}

const now = (c: Context<AppEnv>) => c.get('kernel').clock.now();

function refuseServiceAccount(principal: TenantPrincipal) {
  if (serviceAccounts.isServiceAccount(principal)) throw new ApiError('FORBIDDEN', 'A service-account token cannot issue service-account tokens');
}

async function issueToken(c: Context<AppEnv>, principal: TenantPrincipal, input: serviceAccounts.IssueInput, origin: 'issue' | 'browser') {
  refuseServiceAccount(principal);
  const { token, row } = await identityWork(c, (ctx) => serviceAccounts.issueServiceAccountToken(ctx, principal, input, origin));
  return {
    refresh_token: token,
    access_token: token,
    token_type: 'bearer' as const,
    jti: row.jti,
    account: row.account,
    scopes: row.scopes,
    tenant_id: row.tenantId,
    issued_at: row.issuedAt.toISOString(),
    expires_at: row.expiresAt.toISOString(),
  };
}

async function policyOf(c: Context<AppEnv>, tenantId: string) {
  return accountSettingsOf(await getTenant(c.get('kernel').db.system, tenantId)).signup_policy;
}

export function accountsRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(issue, async (c) => c.json(await issueToken(c, principalOf(c), c.req.valid('json'), 'issue'), 201));

  app.openapi(browserIssue, async (c) => {
    const principal = principalOf(c);
    if (principal.kind !== 'user') throw new ApiError('UNAUTHORIZED', 'This route needs a signed-in user\'s access token');
    return c.json(await issueToken(c, principal, c.req.valid('json'), 'browser'), 201);
  });

  app.openapi(listTokens, async (c) => {
    const query = c.req.valid('query');
    const { rows, total } = await tenantWork(c, (ctx) => serviceAccounts.listServiceAccountTokens(ctx, query));
    const at = now(c);
    return c.json({ tokens: rows.map((r) => tokenItem(r, at)), total, limit: query.limit, offset: query.offset }, 200);
  });

  app.openapi(revokeToken, async (c) => {
    const { jti } = c.req.valid('param');
    const body = c.req.valid('json') ?? {};
    const { row } = await tenantWork(c, (ctx) => serviceAccounts.revokeServiceAccountToken(ctx, jti, body.reason ?? null));
    return c.json(tokenItem(row, now(c)), 200);
  });

  app.openapi(policyRoute, async (c) => {
    const tenantId = await tenantFor(c, c.req.valid('query').tenant_id);
    const policy = await policyOf(c, tenantId);
    return c.json({ tenant_id: tenantId, policy, invite_required: policy !== 'open', request_access_enabled: policy === 'approval' }, 200);
  });

  app.openapi(register, async (c) => {
    const body = c.req.valid('json');
    const kernel = c.get('kernel');
    const inviteTenant = body.invite_token ? signup.tenantOfInvite(body.invite_token) : null;
    const named = body.tenant_id ?? inviteTenant ?? c.req.header('x-tenant-id') ?? (isTenantPrincipal(c.get('principal')) ? undefined : null);
    if (named === null && body.tenant_name) {
      // A new tenant, its first user its admin.
      const rate = await kernel.rateLimits.consume(`register-tenant:${c.get('ip') ?? 'unknown'}`, TENANT_REGISTRATIONS_PER_HOUR, 'ast', 3600);
      if (!rate.allowed) throw new ApiError('RATE_LIMITED', 'Too many tenant registrations from this address; retry later', { headers: { 'Retry-After': String(rate.resetSeconds) } });
      const secret = kernel.config.REGISTER_TURNSTILE_SECRET_KEY;
      if (secret) await verifyTurnstile(kernel, { secret, token: body.captcha_token, ip: c.get('ip'), field: 'captcha_token' });
      await identityReady(kernel);
      const { tenant, provisioned } = await createTenant(
        kernel,
        { name: body.tenant_name, owner_email: body.email },
        { type: 'anonymous', id: null },
        async (ctx) => {
          const user = await adminCreateUser(ctx, { email: body.email, password: body.password, role: 'admin', ...(body.display_name ? { user_metadata: { name: body.display_name } } : {}) });
          const row = await findUser(ctx, user.id);
          return startSession(ctx, row!, { amr: ['password'] });
        },
        c.get('requestId'),
      );
      return c.json(
        {
          user_id: provisioned.user.id,
          tenant_id: tenant.id,
          tenant_slug: tenant.slug,
          email: provisioned.user.email ?? body.email,
          email_verification_required: false,
          tenant_created: true,
          session: sessionOut(provisioned, tenant.id),
        },
        201,
      );
    }
    const tenantId = await tenantFor(c, named ?? null);
    if (inviteTenant && inviteTenant !== tenantId) throw new ApiError('FORBIDDEN', 'The invite token is invalid, revoked, expired or used up, or was issued for another address');
    const tenant = await getTenant(kernel.db.system, tenantId);
    const policy = accountSettingsOf(tenant).signup_policy;
    if (policy !== 'open' && !body.invite_token) {
      throw new ApiError('FORBIDDEN', policy === 'approval' ? 'This tenant takes new users by approval: request access first (POST /api/v1/auth/request-access)' : 'This tenant takes new users by invitation only: invite_token is required');
    }
    const invite = body.invite_token ? await identityWork(c, (ctx) => signup.claimInvite(ctx, body.invite_token!, body.email), tenantId) : null;
    let result;
    try {
      result = await flows.signup(flowOf(c, 'app', tenantId), {
        email: body.email,
        password: body.password,
        ...(body.display_name ? { user_metadata: { name: body.display_name } } : {}),
      });
    } catch (error) {
      if (invite) await identityWork(c, (ctx) => signup.releaseInvite(ctx, invite.id), tenantId);
      throw error;
    }
    if ('email_verification_required' in result) {
      return c.json({ user_id: null, tenant_id: tenantId, tenant_slug: tenant.slug, email: result.email, email_verification_required: true, tenant_created: false, session: null }, 201);
    }
    return c.json(
      {
        user_id: result.user.id,
        tenant_id: tenantId,
        tenant_slug: tenant.slug,
        email: result.user.email ?? body.email,
        email_verification_required: false,
        tenant_created: false,
        session: sessionOut(result, tenantId),
      },
      201,
    );
  });

  app.openapi(requestAccess, async (c) => {
    const body = c.req.valid('json');
    const tenantId = await tenantFor(c, body.tenant_id);
    const policy = await policyOf(c, tenantId);
    if (policy !== 'approval') throw new ApiError('FORBIDDEN', `This tenant does not take access requests (its signup policy is ${policy})`);
    await identityWork(
      c,
      (ctx) =>
        signup.submitAccessRequest(ctx, body).catch((error: unknown) => {
          // The same answer for an address already waiting: the caller learns nothing of other requests.
          if (error instanceof ApiError && error.code === 'CONFLICT') return null;
          throw error;
        }),
      tenantId,
    );
    return c.json(success('Your request was received; you will get an e-mail once it is decided.'), 202);
  });

  app.openapi(listRequests, async (c) => {
    const query = c.req.valid('query');
    const { rows, total } = await tenantWork(c, (ctx) => signup.listAccessRequests(ctx, query));
    return c.json({ requests: rows.map(requestOut), total, limit: query.limit, offset: query.offset }, 200);
  });

  app.openapi(approve, async (c) => {
    const { request_id } = c.req.valid('param');
    const body = c.req.valid('json') ?? {};
    const out = await tenantWork(c, (ctx) => signup.approveAccessRequest(ctx, request_id, body));
    return c.json({ request: requestOut(out.request), invite: inviteOut(out.invite, now(c)), invite_token: out.token }, 200);
  });

  app.openapi(reject, async (c) => {
    const { request_id } = c.req.valid('param');
    const body = c.req.valid('json') ?? {};
    const row = await tenantWork(c, (ctx) => signup.rejectAccessRequest(ctx, request_id, body));
    return c.json({ request: requestOut(row), invite: null, invite_token: null }, 200);
  });

  app.openapi(listInvites, async (c) => {
    const query = c.req.valid('query');
    const { rows, total } = await tenantWork(c, (ctx) => signup.listInvites(ctx, query));
    const at = now(c);
    return c.json({ invites: rows.map((r) => inviteOut(r, at)), total, limit: query.limit, offset: query.offset }, 200);
  });

  app.openapi(createInvite, async (c) => {
    const body = c.req.valid('json');
    const { row, token } = await tenantWork(c, async (ctx) => {
      const issued = await signup.issueInvite(ctx, body);
      if (issued.row.email && body.send_email !== false) {
        await ctx.kernel.mail.queue(ctx, {
          to: issued.row.email,
          subject: 'You are invited',
          text: `You are invited to sign up. Register with this invite token:\n\n${issued.token}${issued.row.expiresAt ? `\n\nIt expires at ${issued.row.expiresAt.toISOString()}.` : ''}`,
          template: 'signup_invite',
          metadata: { invite_id: issued.row.id },
        });
      }
      return issued;
    });
    return c.json({ invite: inviteOut(row, now(c)), invite_token: token }, 201);
  });

  app.openapi(revokeInvite, async (c) => {
    const row = await tenantWork(c, (ctx) => signup.revokeInvite(ctx, c.req.valid('param').invite_id));
    return c.json(inviteOut(row, now(c)), 200);
  });
}
