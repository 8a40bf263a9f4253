import { z } from '@hono/zod-openapi';
import { eq } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import type { Db } from '../../../core/db/client.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { httpUrl, urlSyntaxProblem } from '../../../core/net/http-url.ts';
import { assertOutboundUrls, type OutboundPolicy } from '../../../core/net/outbound.ts';
import { requireRole } from '../../roles/index.ts';
import { MAX_ACCESS_TTL_SECONDS } from '../sessions/signing-keys.ts';
import { authConfigs } from '../tables.ts';

/**
 * Stored rows are read with the schema they were saved under: a URL saved before the stricter input
 * rules must not make the whole configuration unreadable. Input takes `httpUrl` (http(s) only, no
 * credentials or hidden characters), and the URLs the server calls are checked again when called.
 */
const StoredUrl = z.string().url().max(2000);
const InputUrl = httpUrl();
const ProviderName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'Lower-case letters, digits, _ and - (max 40)');
const Template = z.object({ subject: z.string().min(1).max(200), text: z.string().min(1).max(10_000) });

export const PasswordPolicySchema = z
  .object({
    min_length: z.number().int().min(8).max(128).default(8),
    require_uppercase: z.boolean().default(false),
    require_lowercase: z.boolean().default(false),
    require_number: z.boolean().default(false),
    require_symbol: z.boolean().default(false),
  })
  .openapi('PasswordPolicy');

/** The URLs Plinth itself calls (token, userinfo, JWKS); the authorization URL is only where browsers go. */
export const OAUTH_CALLED_URLS = ['token_url', 'userinfo_url', 'jwks_uri'] as const;
const CALLED = 'Called by the server: http(s), and a host that resolves to a private, loopback, link-local or metadata address is refused';

const oauthProviderSchema = (Url: z.ZodString) =>
  z.object({
    name: ProviderName.openapi({ example: 'google' }),
    client_id: z.string().min(1).max(500),
    client_secret: z.string().min(1).max(2000).optional().openapi({ description: 'Write-only; kept when omitted on update' }),
    authorization_url: Url.openapi({ description: 'Where browsers are sent to sign in: http(s)' }),
    token_url: Url.openapi({ description: CALLED }),
    userinfo_url: Url.optional().openapi({ description: `Where the profile is read (OAuth 2.0); OIDC providers may use the id_token instead. ${CALLED}` }),
    jwks_uri: Url.optional().openapi({ description: `OIDC: verifies the id_token signature. ${CALLED}` }),
    issuer: z.string().max(500).optional().openapi({ description: 'OIDC: expected `iss` of the id_token' }),
    scopes: z.array(z.string().max(100)).max(20).default(['openid', 'email', 'profile']),
    /** Trust the provider's email as verified (link to an existing account with that email). */
    trust_email: z.boolean().default(true),
  });

export const OAuthProviderSchema = oauthProviderSchema(InputUrl).openapi('OAuthProvider');
const StoredOAuthProvider = oauthProviderSchema(StoredUrl);

const samlProviderSchema = (Url: z.ZodString) =>
  z.object({
    name: ProviderName.openapi({ example: 'okta' }),
    entry_point: Url.openapi({ description: 'The IdP\'s SSO URL (HTTP-Redirect binding), where browsers are sent: http(s)' }),
    idp_issuer: z.string().max(500).optional().openapi({ description: 'Expected Issuer of responses' }),
    idp_cert: z.string().min(1).max(20_000).openapi({ description: 'The IdP\'s signing certificate (PEM or base64 DER)' }),
    email_attribute: z.string().max(200).default('email').openapi({ description: 'Attribute holding the email; NameID is used when absent' }),
    allow_idp_initiated: z.boolean().default(false).openapi({ description: 'Accept responses that answer no request of ours' }),
  });

export const SamlProviderSchema = samlProviderSchema(InputUrl).openapi('SamlProvider');
const StoredSamlProvider = samlProviderSchema(StoredUrl);

const Methods = z.object({
  email_password: z.boolean().default(true),
  magic_link: z.boolean().default(true),
  phone_otp: z.boolean().default(true),
  anonymous: z.boolean().default(false),
  passkeys: z.boolean().default(true),
});

const Templates = z.object({
  verification: Template.optional(),
  magic_link: Template.optional(),
  password_reset: Template.optional(),
  existing_account: Template.optional(),
  sms_otp: z.object({ text: z.string().min(1).max(300) }).optional(),
});

const RefreshReuseInterval = z
  .number()
  .int()
  .min(0)
  .max(60)
  .openapi({
    description:
      'Seconds after a refresh token is rotated during which presenting it again (two tabs refreshing at once, a retry after a lost response) answers with the token it was rotated into instead of revoking the session. 0 disables; later reuse always revokes the session.',
  });

const CAPTCHA_PROVIDERS = ['turnstile'] as const;

/** What is stored: the secret key lives sealed in the row's secrets (`captcha:turnstile`), never here. */
const Captcha = z
  .object({
    enabled: z.boolean().default(false).openapi({ description: 'Signup, login and magic-link requests (app and portal) need a valid `turnstile_token`' }),
    provider: z.enum(CAPTCHA_PROVIDERS).default('turnstile'),
    site_key: z.string().min(1).max(200).nullable().default(null).openapi({ description: 'Public: shown in GET /v1/tenant-config so a front end can render the widget' }),
  })
  .openapi('CaptchaConfig');

/** The stored configuration, every field defaulted: what services read. */
export const AuthConfigSchema = z
  .object({
    methods: Methods.default(Methods.parse({})),
    signup_enabled: z.boolean().default(true),
    require_email_verification: z.boolean().default(false).openapi({ description: 'Sign-in needs a verified email; signup then answers without tokens' }),
    default_role: z
      .string()
      .max(64)
      .nullable()
      .default('member')
      .openapi({
        description:
          'Role every new user gets unless one is named: signup, magic link, SMS code, OAuth and SAML first sign-in, admin-created users, and anonymous users once they link an email or phone (anonymous users themselves hold none). Default `member` (reads and writes data, files and AI). Set as a role\'s id or name, stored as its id; it must exist. Null: none, so new users\' tokens carry no permissions until an admin assigns a role.',
      }),
    password_policy: PasswordPolicySchema.default(PasswordPolicySchema.parse({})),
    access_token_ttl: z.number().int().min(60).max(MAX_ACCESS_TTL_SECONDS).default(3600),
    refresh_token_ttl: z.number().int().min(300).max(365 * 86_400).default(30 * 86_400).openapi({ description: 'A refresh token unused this long expires' }),
    session_ttl: z.number().int().min(300).max(365 * 86_400).default(90 * 86_400).openapi({ description: 'Absolute session lifetime' }),
    refresh_token_reuse_interval: RefreshReuseInterval.default(10),
    captcha: Captcha.default(Captcha.parse({})),
    mfa: z
      .object({
        required: z.boolean().default(false).openapi({ description: 'Tokens of users without a second factor carry no scopes until one is enrolled' }),
        issuer: z.string().max(100).optional().openapi({ description: 'Issuer shown in authenticator apps (default: brand name)' }),
      })
      .default({ required: false }),
    site_url: StoredUrl.nullable().default(null).openapi({ description: 'Base of links in emails when the request names no redirect_to' }),
    redirect_urls: z
      .array(z.string().max(2000))
      .max(100)
      .default([])
      .openapi({ description: 'Allowed redirect_to values: exact URLs, or a prefix ending in `*`' }),
    oauth_providers: z.array(StoredOAuthProvider.omit({ client_secret: true })).max(20).default([]),
    saml_providers: z.array(StoredSamlProvider).max(20).default([]),
    passkeys: z
      .object({
        rp_id: z.string().max(253).nullable().default(null).openapi({ description: 'Default: the host of PUBLIC_URL, else localhost' }),
        rp_name: z.string().max(100).nullable().default(null),
        origins: z.array(z.string().url()).max(20).default([]).openapi({ description: 'Default: PUBLIC_URL\'s origin' }),
      })
      .default({ rp_id: null, rp_name: null, origins: [] }),
    email_templates: Templates.default({}),
    portal: z
      .object({
        enabled: z.boolean().default(true),
        default_role: z.string().max(64).nullable().default(null).openapi({ description: 'Role of new portal identities (a role\'s id or name, stored as its id). Default null, none: portal identities are the tenant\'s customers, and the app\'s `member` role would open the tenant\'s data to them' }),
        site_url: StoredUrl.nullable().default(null),
      })
      .default({ enabled: true, default_role: null, site_url: null }),
  })
  .openapi('AuthConfig');

export type AuthConfig = z.infer<typeof AuthConfigSchema>;
export type OAuthProvider = AuthConfig['oauth_providers'][number] & { client_secret?: string };
export type SamlProvider = AuthConfig['saml_providers'][number];

/** A partial update: every section optional, nested objects merged, lists replaced. */
export const AuthConfigUpdateSchema = z
  .object({
    methods: Methods.partial().optional(),
    signup_enabled: z.boolean().optional(),
    require_email_verification: z.boolean().optional(),
    default_role: z.string().max(64).nullable().optional().openapi({ description: 'A role\'s id or name (stored as its id), or null for none' }),
    password_policy: PasswordPolicySchema.partial().optional(),
    access_token_ttl: z.number().int().min(60).max(MAX_ACCESS_TTL_SECONDS).optional(),
    refresh_token_ttl: z.number().int().min(300).max(365 * 86_400).optional(),
    session_ttl: z.number().int().min(300).max(365 * 86_400).optional(),
    refresh_token_reuse_interval: RefreshReuseInterval.optional(),
    captcha: z
      .object({
        enabled: z.boolean().optional(),
        provider: z.enum(CAPTCHA_PROVIDERS).optional(),
        site_key: z.string().min(1).max(200).nullable().optional(),
        secret_key: z.string().min(1).max(500).optional().openapi({ description: 'Write-only: sealed at rest, never returned (see `secret_key_set`); kept when omitted' }),
      })
      .strict()
      .optional(),
    mfa: z.object({ required: z.boolean().optional(), issuer: z.string().max(100).optional() }).optional(),
    site_url: InputUrl.nullable().optional(),
    redirect_urls: z.array(z.string().min(1).max(2000)).max(100).optional(),
    oauth_providers: z.array(OAuthProviderSchema).max(20).optional(),
    saml_providers: z.array(SamlProviderSchema).max(20).optional(),
    passkeys: z
      .object({ rp_id: z.string().max(253).nullable().optional(), rp_name: z.string().max(100).nullable().optional(), origins: z.array(InputUrl).max(20).optional() })
      .optional(),
    email_templates: Templates.optional(),
    portal: z.object({ enabled: z.boolean().optional(), default_role: z.string().max(64).nullable().optional(), site_url: InputUrl.nullable().optional() }).optional(),
  })
  .strict()
  .openapi('AuthConfigUpdate');

export type AuthConfigUpdate = z.infer<typeof AuthConfigUpdateSchema>;

export async function loadAuthConfig(db: Db, tenantId: string): Promise<{ config: AuthConfig; secrets: Record<string, string> }> {
  const [row] = await db.select().from(authConfigs).where(eq(authConfigs.tenantId, tenantId));
  return { config: AuthConfigSchema.parse(row?.config ?? {}), secrets: row?.secrets ?? {} };
}

export async function getAuthConfig(ctx: TenantContext): Promise<AuthConfig> {
  return (await loadAuthConfig(ctx.db, ctx.tenantId)).config;
}

/** An OAuth provider with its client secret unsealed. */
export async function oauthProvider(ctx: TenantContext, name: string): Promise<OAuthProvider | undefined> {
  const { config, secrets } = await loadAuthConfig(ctx.db, ctx.tenantId);
  const provider = config.oauth_providers.find((p) => p.name === name);
  if (!provider) return undefined;
  const sealed = secrets[`oauth:${name}`];
  return { ...provider, client_secret: sealed ? ctx.kernel.secrets.open(sealed) : undefined };
}

const captchaSecretKey = (provider: string) => `captcha:${provider}`;

/** The tenant's captcha settings with the secret key unsealed; null when captcha is off. */
export async function captchaSettings(ctx: TenantContext): Promise<(AuthConfig['captcha'] & { secret_key: string }) | null> {
  const { config, secrets } = await loadAuthConfig(ctx.db, ctx.tenantId);
  const captcha = config.captcha;
  if (!captcha.enabled) return null;
  const sealed = secrets[captchaSecretKey(captcha.provider)];
  // Enabling needs a secret (updateAuthConfig checks), so a missing one is a broken row: fail closed.
  if (!sealed) throw new ApiError('SERVICE_UNAVAILABLE', 'Captcha is enabled for this tenant but has no secret key');
  return { ...captcha, secret_key: ctx.kernel.secrets.open(sealed) };
}

/** What GET /v1/auth-config shows: everything but secrets, which show as `client_secret_set` / `secret_key_set`. */
export function authConfigDto(config: AuthConfig, secrets: Record<string, string>) {
  return {
    ...config,
    oauth_providers: config.oauth_providers.map((p) => ({ ...p, client_secret_set: Boolean(secrets[`oauth:${p.name}`]) })),
    captcha: { ...config.captcha, secret_key_set: Boolean(secrets[captchaSecretKey(config.captcha.provider)]) },
  };
}

function uniqueNames(list: { name: string }[] | undefined, field: string) {
  if (!list) return;
  const seen = new Set<string>();
  for (const [i, p] of list.entries()) {
    if (seen.has(p.name)) throw new ApiError('VALIDATION_ERROR', `${field}.${i}.name: '${p.name}' appears twice`, { details: { field: `${field}.${i}.name` } });
    seen.add(p.name);
  }
}

/**
 * The save-time half of the outbound guard: every URL of the update that the server will call must
 * pass core/net/outbound.ts now (a 400 naming the field), as it must again when called. Resolves DNS,
 * so it runs before the transaction opens.
 */
export async function assertCalledUrls(policy: OutboundPolicy, input: AuthConfigUpdate): Promise<void> {
  const fields = (input.oauth_providers ?? []).flatMap((provider, i) => OAUTH_CALLED_URLS.map((key) => ({ field: `oauth_providers.${i}.${key}`, url: provider[key] })));
  await assertOutboundUrls(policy, fields);
}

export async function updateAuthConfig(ctx: TenantContext, input: AuthConfigUpdate) {
  const { config: current, secrets: currentSecrets } = await loadAuthConfig(ctx.db, ctx.tenantId);
  uniqueNames(input.oauth_providers, 'oauth_providers');
  uniqueNames(input.saml_providers, 'saml_providers');
  // Kept by id: renaming the role keeps it the default.
  const defaultRole = input.default_role ? (await requireRole(ctx, input.default_role, 'default_role')).id : input.default_role;
  const portalDefaultRole = input.portal?.default_role
    ? (await requireRole(ctx, input.portal.default_role, 'portal.default_role')).id
    : input.portal?.default_role;
  for (const [i, pattern] of (input.redirect_urls ?? []).entries()) {
    const base = pattern.endsWith('*') ? pattern.slice(0, -1) : pattern;
    const problem = urlSyntaxProblem(base);
    if (problem) {
      const message = `must be an http(s) URL, optionally ending in * (${problem})`;
      throw new ApiError('VALIDATION_ERROR', `redirect_urls.${i}: ${message}`, {
        details: { field: `redirect_urls.${i}`, issues: [{ field: `redirect_urls.${i}`, location: 'body', code: 'invalid_url', message }] },
      });
    }
  }

  const secrets = { ...currentSecrets };
  let oauthProviders = current.oauth_providers;
  if (input.oauth_providers) {
    const box = ctx.kernel.secrets;
    for (const key of Object.keys(secrets)) if (key.startsWith('oauth:')) delete secrets[key];
    oauthProviders = input.oauth_providers.map(({ client_secret, ...p }) => {
      const key = `oauth:${p.name}`;
      if (client_secret) secrets[key] = box.seal(client_secret);
      else if (currentSecrets[key]) secrets[key] = currentSecrets[key];
      return p;
    });
  }

  let captcha = current.captcha;
  if (input.captcha) {
    const { secret_key, ...settings } = input.captcha;
    captcha = { ...current.captcha, ...settings };
    if (secret_key) secrets[captchaSecretKey(captcha.provider)] = ctx.kernel.secrets.seal(secret_key);
    if (captcha.enabled) {
      const missing = !secrets[captchaSecretKey(captcha.provider)] ? 'secret_key' : !captcha.site_key ? 'site_key' : null;
      if (missing) throw new ApiError('VALIDATION_ERROR', `captcha.${missing}: required to enable captcha`, { details: { field: `captcha.${missing}` } });
    }
  }

  const merged = AuthConfigSchema.parse({
    ...current,
    ...input,
    ...(defaultRole !== undefined ? { default_role: defaultRole } : {}),
    methods: { ...current.methods, ...input.methods },
    password_policy: { ...current.password_policy, ...input.password_policy },
    mfa: { ...current.mfa, ...input.mfa },
    passkeys: { ...current.passkeys, ...input.passkeys },
    email_templates: { ...current.email_templates, ...input.email_templates },
    portal: { ...current.portal, ...input.portal, ...(portalDefaultRole !== undefined ? { default_role: portalDefaultRole } : {}) },
    oauth_providers: oauthProviders,
    captcha,
  });
  await ctx.db
    .insert(authConfigs)
    .values({ tenantId: ctx.tenantId, config: merged, secrets, updatedAt: new Date() })
    .onConflictDoUpdate({ target: authConfigs.tenantId, set: { config: merged, secrets, updatedAt: new Date() } });
  await ctx.audit({ action: 'auth_config.updated', resourceType: 'auth_config', resourceId: ctx.tenantId, metadata: { changes: Object.keys(input) } });
  return authConfigDto(merged, secrets);
}

export const PublicAuthConfigSchema = z
  .object({
    methods: z.object({
      email_password: z.boolean(),
      magic_link: z.boolean(),
      phone_otp: z.boolean(),
      anonymous: z.boolean(),
      passkeys: z.boolean(),
      oauth: z.boolean().openapi({ description: 'At least one OAuth provider is configured' }),
      saml: z.boolean().openapi({ description: 'At least one SAML provider is configured' }),
    }),
    signup_enabled: z.boolean(),
    require_email_verification: z.boolean(),
    password_policy: z
      .object({
        min_length: z.number().int(),
        max_length: z.number().int(),
        require_uppercase: z.boolean(),
        require_lowercase: z.boolean(),
        require_number: z.boolean(),
        require_symbol: z.boolean(),
      })
      .openapi({ description: 'The policy in force (the tenant\'s, tightened by governance)' }),
    oauth_providers: z.array(z.string()).openapi({ description: 'Names to start OAuth sign-in with' }),
    saml_providers: z.array(z.string()).openapi({ description: 'Names to start SAML sign-in with' }),
    passkeys: z.object({ enabled: z.boolean() }),
    mfa_required: z.boolean(),
    portal_enabled: z.boolean(),
    captcha: z.object({
      enabled: z.boolean(),
      provider: z.enum(CAPTCHA_PROVIDERS),
      site_key: z.string().nullable().openapi({ description: 'The widget\'s site key, when captcha is enabled' }),
    }),
  })
  .openapi('PublicAuthConfig');

/** The `auth` section of GET /v1/tenant-config: what a login page needs, nothing secret. */
export function publicAuthConfig(config: AuthConfig): z.infer<typeof PublicAuthConfigSchema> {
  return {
    methods: {
      ...config.methods,
      oauth: config.oauth_providers.length > 0,
      saml: config.saml_providers.length > 0,
    },
    signup_enabled: config.signup_enabled,
    require_email_verification: config.require_email_verification,
    password_policy: { ...config.password_policy, max_length: 1024 },
    oauth_providers: config.oauth_providers.map((p) => p.name),
    saml_providers: config.saml_providers.map((p) => p.name),
    passkeys: { enabled: config.methods.passkeys },
    mfa_required: config.mfa.required,
    portal_enabled: config.portal.enabled,
    captcha: { enabled: config.captcha.enabled, provider: config.captcha.provider, site_key: config.captcha.enabled ? config.captcha.site_key : null },
  };
}

/** True when `url` may be used as redirect_to: exactly listed, or under a listed prefix ending in `*`. */
export function redirectAllowed(config: AuthConfig, url: string, extra: (string | null)[] = []): boolean {
  if (!URL.canParse(url)) return false;
  const parsed = new URL(url);
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return false;
  const normalized = parsed.toString();
  const patterns = [...config.redirect_urls, ...extra.filter((e): e is string => Boolean(e)).map((e) => `${e.replace(/\/?$/, '/')}*`)];
  return patterns.some((pattern) => {
    if (pattern.endsWith('*')) {
      const prefix = pattern.slice(0, -1);
      // A prefix must end at a path boundary of its origin, so https://app.example.com* cannot match app.example.com.evil.net.
      const prefixUrl = URL.canParse(prefix) ? new URL(prefix) : null;
      if (!prefixUrl || prefixUrl.origin !== parsed.origin) return false;
      return normalized.startsWith(prefix) || normalized.startsWith(prefixUrl.toString());
    }
    return URL.canParse(pattern) && new URL(pattern).toString() === normalized;
  });
}

export function checkRedirect(config: AuthConfig, url: string | undefined, extra: (string | null)[] = []): string | null {
  if (!url) return null;
  if (!redirectAllowed(config, url, extra)) {
    throw new ApiError('VALIDATION_ERROR', 'redirect_to: not in the tenant\'s redirect allowlist (auth-config redirect_urls)', {
      details: { issues: [{ field: 'redirect_to', location: 'body', code: 'not_allowed', message: 'Not in the redirect allowlist' }] },
    });
  }
  return url;
}
