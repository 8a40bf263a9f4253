import { z } from '@hono/zod-openapi';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { createRouter, defineRoute } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { runtime } from '../runtime.ts';
import { assertCalledUrls, AuthConfigSchema, AuthConfigUpdateSchema, authConfigDto, loadAuthConfig, OAuthProviderSchema, updateAuthConfig } from './service.ts';

const MANAGE = { kind: 'tenant', scope: '*' } as const;
const TAGS = ['Auth Config'];

const AuthConfigView = AuthConfigSchema.extend({
  oauth_providers: z.array(OAuthProviderSchema.omit({ client_secret: true }).extend({ client_secret_set: z.boolean() })),
  captcha: AuthConfigSchema.shape.captcha.removeDefault().extend({ secret_key_set: z.boolean() }),
}).openapi('AuthConfigView');

const get = defineRoute(MANAGE, {
  method: 'get',
  path: '/v1/auth-config',
  tags: TAGS,
  summary: 'Get auth config',
  description: 'Sign-in methods, password policy, token lifetimes, OAuth and SAML providers, email templates, redirect allowlist, MFA requirement, passkey relying party and portal settings. Secrets show only as `client_secret_set` and `captcha.secret_key_set`.',
  responses: { 200: jsonResponse(AuthConfigView, 'The configuration, defaults filled in') },
});

const update = defineRoute(MANAGE, {
  method: 'post',
  path: '/v1/auth-config',
  tags: TAGS,
  summary: 'Update auth config',
  description: 'Partial update: sections sent are merged into the current configuration, lists are replaced. An OAuth provider sent without `client_secret`, or `captcha` without `secret_key`, keeps the stored one.',
  request: { body: jsonBody(AuthConfigUpdateSchema) },
  responses: { 200: jsonResponse(AuthConfigView, 'The new configuration') },
});

// Public, not a probe: anyone may fetch it, so it gets the anonymous per-IP limit like other public routes.
const jwks = defineRoute(
  { kind: 'public' },
  {
    method: 'get',
    path: '/.well-known/jwks.json',
    tags: ['Authentication'],
    summary: 'JWT signing keys (JWKS)',
    description:
      'The public keys access tokens are signed with (ES256, chosen by `kid`), for services that verify tokens themselves. Also check `iss`, `aud` (`plinth:app` or `plinth:portal`) and `exp`. Cacheable for 5 minutes; fetch again when a token names a `kid` you do not have. Limited per IP like other public routes.',
    responses: {
      200: {
        description: 'The key set',
        content: { 'application/json': { schema: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }) } },
      },
    },
  },
);

export function authConfigRoutes() {
  const app = createRouter();
  app.openapi(get, async (c) =>
    c.json(ok(c, await tenantWork(c, async (ctx) => {
      const { config, secrets } = await loadAuthConfig(ctx.db, ctx.tenantId);
      return authConfigDto(config, secrets);
    })), 200),
  );
  app.openapi(update, async (c) => {
    const body = c.req.valid('json');
    await assertCalledUrls(c.get('kernel').outbound, body);
    return c.json(ok(c, await tenantWork(c, (ctx) => updateAuthConfig(ctx, body))), 200);
  });
  app.openapi(jwks, async (c) => {
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(await runtime(c.get('kernel')).keys.jwks(), 200);
  });
  return app;
}
