import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../../../core/http/context.ts';
import { jsonResponse, ok } from '../../../core/http/envelope.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { createRouter, defineRoute, errorResponse } from '../../../core/http/route.ts';
import { checkRedirect, getAuthConfig, oauthProvider } from '../config/service.ts';
import { identityWork, publicBaseUrl, publicTenant, signInFragment, withFragment } from '../http.ts';
import { SignInResultSchema } from '../schemas.ts';
import { signInExternal } from './external.ts';
import { authorizationUrl, exchangeCode, takeState } from './oauth.ts';
import { consumeResponse, loginUrl, serviceProvider, takeRelay } from './saml.ts';

const PUBLIC = { kind: 'public' } as const;
const ProviderParam = z.object({ provider: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/).openapi({ param: { name: 'provider', in: 'path' } }) });
const TenantRef = z.string().max(64).optional().openapi({ description: 'Tenant id or slug (or send its publishable key as bearer)' });

const oauthStart = defineRoute(PUBLIC, {
  method: 'get',
  path: '/v1/auth/oauth/{provider}',
  tags: ['Authentication'],
  summary: 'OAuth redirect',
  description:
    'Redirects the browser to the tenant\'s OAuth 2.0 / OIDC provider (configured in auth-config `oauth_providers`) with state, PKCE (S256) and a nonce. The tenant comes from `tenant` (or a bearer key); `redirect_to` (allowlisted) is where the callback sends the browser with the tokens in the URL fragment.',
  request: { params: ProviderParam, query: z.object({ redirect_to: z.string().max(2000).optional(), tenant: TenantRef }) },
  responses: { 302: { description: 'Redirect to the OAuth provider' }, 404: errorResponse('No such provider for this tenant') },
});

const oauthCallback = defineRoute(PUBLIC, {
  method: 'get',
  path: '/v1/auth/oauth/{provider}/callback',
  tags: ['Authentication'],
  summary: 'OAuth callback',
  description:
    'Where the provider returns the browser. Exchanges the code (with the PKCE verifier), reads the profile (verified id_token or userinfo), finds or links or creates the user, and redirects to the stored redirect_to with `#access_token=...&refresh_token=...` (or `#mfa_required=true&mfa_ticket=...`); without redirect_to it answers JSON. A verified provider email links to an existing account with that email.',
  request: {
    params: ProviderParam,
    query: z.object({
      code: z.string().max(4096).optional(),
      state: z.string().max(200),
      error: z.string().max(200).optional(),
      error_description: z.string().max(1000).optional(),
    }),
  },
  responses: {
    200: jsonResponse(SignInResultSchema, 'Signed in (no redirect_to was given)'),
    302: { description: 'Redirect to app' },
    401: errorResponse('Unknown or used state, or the provider refused or answered wrongly'),
  },
});

const samlMetadata = defineRoute(PUBLIC, {
  method: 'get',
  path: '/v1/auth/saml/{provider}/metadata',
  tags: ['SAML / SSO'],
  summary: 'SAML metadata',
  description: 'Our service-provider metadata (entity id and ACS URL) to configure in the IdP. The tenant comes from `tenant` (id or slug).',
  request: { params: ProviderParam, query: z.object({ tenant: TenantRef }) },
  responses: {
    200: { description: 'SP metadata', content: { 'application/samlmetadata+xml': { schema: z.string() } } },
    404: errorResponse('No such tenant or provider'),
  },
});

const samlLogin = defineRoute(PUBLIC, {
  method: 'get',
  path: '/v1/auth/saml/{provider}/login',
  tags: ['SAML / SSO'],
  summary: 'SAML login redirect',
  description: 'Starts SP-initiated SSO: redirects the browser to the IdP with an AuthnRequest (HTTP-Redirect binding). `redirect_to` (allowlisted) is where the ACS sends the browser with the tokens.',
  request: { params: ProviderParam, query: z.object({ tenant: TenantRef, redirect_to: z.string().max(2000).optional() }) },
  responses: { 302: { description: 'Redirect to SAML IdP' }, 404: errorResponse('No such tenant or provider') },
});

const samlAcs = defineRoute(PUBLIC, {
  method: 'post',
  path: '/v1/auth/saml/{provider}/acs',
  tags: ['SAML / SSO'],
  summary: 'SAML ACS',
  description:
    'Assertion Consumer Service (HTTP-POST binding). Accepts only assertions signed by the configured IdP certificate, for our entity id, within their validity window, answering a request of ours, once. Finds, links or creates the user and redirects to the login\'s redirect_to with tokens in the fragment (JSON without one).',
  request: {
    params: ProviderParam,
    query: z.object({ tenant: TenantRef }),
    body: {
      // The IdP's form, not a client's: what else it posts is its business (loose, unlike the bodies of our own clients).
      content: { 'application/x-www-form-urlencoded': { schema: z.looseObject({ SAMLResponse: z.string().min(1).max(1_000_000), RelayState: z.string().max(200).optional() }) } },
      required: true,
    },
  },
  responses: {
    200: jsonResponse(SignInResultSchema, 'Signed in (no redirect_to was given)'),
    302: { description: 'Redirect to app with session tokens' },
    401: errorResponse('Unsigned, wrongly signed, wrong audience, expired, replayed or unsolicited assertion'),
    404: errorResponse('No such tenant or SAML provider'),
  },
});

function spUrls(c: Context<AppEnv>, tenantId: string, provider: string) {
  const base = `${publicBaseUrl(c)}/v1/auth/saml/${provider}`;
  return { entityId: `${base}/metadata?tenant=${tenantId}`, acsUrl: `${base}/acs?tenant=${tenantId}` };
}

async function samlSetup(c: Context<AppEnv>, name: string) {
  const tenantId = await publicTenant(c);
  const config = await identityWork(c, getAuthConfig, tenantId);
  const provider = config.saml_providers.find((p) => p.name === name);
  if (!provider) throw new ApiError('NOT_FOUND', `No SAML provider '${name}' for this tenant`);
  return { tenantId, config, provider, sp: serviceProvider(c.get('kernel'), tenantId, provider, spUrls(c, tenantId, name)) };
}

export function ssoRoutes() {
  const app = createRouter();

  app.openapi(oauthStart, async (c) => {
    const { provider: name } = c.req.valid('param');
    const { redirect_to } = c.req.valid('query');
    const tenantId = await publicTenant(c);
    const { provider, redirectTo } = await identityWork(
      c,
      async (ctx) => {
        const config = await getAuthConfig(ctx);
        const found = await oauthProvider(ctx, name);
        if (!found) throw new ApiError('NOT_FOUND', `No OAuth provider '${name}' for this tenant`);
        return { provider: found, redirectTo: checkRedirect(config, redirect_to, [config.site_url]) };
      },
      tenantId,
    );
    const url = await authorizationUrl(c.get('kernel'), provider, {
      tenantId,
      redirectTo,
      redirectUri: `${publicBaseUrl(c)}/v1/auth/oauth/${name}/callback`,
    });
    return c.redirect(url, 302) as never;
  });

  app.openapi(oauthCallback, async (c) => {
    const { provider: name } = c.req.valid('param');
    const query = c.req.valid('query');
    const kernel = c.get('kernel');
    const state = await takeState(kernel, query.state);
    if (!state || state.provider !== name) throw new ApiError('UNAUTHORIZED', 'OAuth sign-in failed: unknown, used or expired state');
    if (query.error || !query.code) {
      const error = query.error ?? 'missing_code';
      if (state.redirectTo) return c.redirect(withFragment(state.redirectTo, { error, error_description: query.error_description ?? '' }), 302) as never;
      throw new ApiError('UNAUTHORIZED', `OAuth sign-in failed: ${error}${query.error_description ? ` (${query.error_description})` : ''}`);
    }
    const provider = await identityWork(c, (ctx) => oauthProvider(ctx, name), state.tenantId);
    if (!provider) throw new ApiError('NOT_FOUND', `No OAuth provider '${name}' for this tenant`);
    const profile = await exchangeCode(kernel, provider, state, query.code);
    const result = await identityWork(
      c,
      async (ctx) =>
        signInExternal(
          ctx,
          { provider: `oauth:${name}`, subject: profile.subject, email: profile.email, emailVerified: profile.emailVerified, data: profile.raw, amr: 'oauth' },
          await getAuthConfig(ctx),
        ),
      state.tenantId,
    );
    if (state.redirectTo) return c.redirect(withFragment(state.redirectTo, signInFragment(result)), 302) as never;
    return c.json(ok(c, result), 200);
  });

  app.openapi(samlMetadata, async (c) => {
    const { sp } = await samlSetup(c, c.req.valid('param').provider);
    return c.body(sp.generateServiceProviderMetadata(null, null), 200, { 'content-type': 'application/samlmetadata+xml' }) as never;
  });

  app.openapi(samlLogin, async (c) => {
    const { tenantId, config, sp } = await samlSetup(c, c.req.valid('param').provider);
    const redirectTo = checkRedirect(config, c.req.valid('query').redirect_to, [config.site_url]);
    return c.redirect(await loginUrl(c.get('kernel'), sp, tenantId, redirectTo), 302) as never;
  });

  app.openapi(samlAcs, async (c) => {
    const name = c.req.valid('param').provider;
    const form = c.req.valid('form');
    const kernel = c.get('kernel');
    const { tenantId, sp, provider } = await samlSetup(c, name);
    const identity = await consumeResponse(kernel, sp, tenantId, provider, form);
    const redirectTo = await takeRelay(kernel, form.RelayState, tenantId);
    const result = await identityWork(
      c,
      async (ctx) =>
        signInExternal(
          ctx,
          { provider: `saml:${name}`, subject: identity.subject, email: identity.email, emailVerified: Boolean(identity.email), data: identity.attributes, amr: 'saml' },
          await getAuthConfig(ctx),
        ),
      tenantId,
    );
    if (redirectTo) return c.redirect(withFragment(redirectTo, signInFragment(result)), 302) as never;
    return c.json(ok(c, result), 200);
  });

  return app;
}
