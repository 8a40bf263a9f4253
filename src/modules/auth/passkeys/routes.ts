import { z } from '@hono/zod-openapi';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { createRouter, defineRoute, errorResponse } from '../../../core/http/route.ts';
import { identityWork, requireUser } from '../http.ts';
import { PasskeySchema, SignInResultSchema } from '../schemas.ts';
import { beginAuthentication, beginRegistration, completeAuthentication, completeRegistration, deletePasskey, listPasskeys } from './service.ts';

const USER = { kind: 'tenant', scope: null } as const;
const KEY = { kind: 'tenant', scope: 'auth' } as const;
const TAGS = ['Passkeys'];
const Options = z.object({ options: z.record(z.string(), z.unknown()).openapi({ description: 'Pass to navigator.credentials.create/get (as JSON options)' }) });
const B64 = z.string().max(20_000);

const RegistrationCredential = z
  .object({
    id: B64,
    rawId: B64,
    type: z.literal('public-key'),
    response: z.object({ clientDataJSON: B64, attestationObject: B64, transports: z.array(z.string().max(20)).max(10).optional() }).catchall(z.unknown()),
    clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
    authenticatorAttachment: z.string().max(40).optional(),
  })
  .openapi('PasskeyRegistrationCredential');

const AuthenticationCredential = z
  .object({
    id: B64,
    rawId: B64,
    type: z.literal('public-key'),
    response: z.object({ clientDataJSON: B64, authenticatorData: B64, signature: B64, userHandle: B64.optional() }).catchall(z.unknown()),
    clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
    authenticatorAttachment: z.string().max(40).optional(),
  })
  .openapi('PasskeyAuthenticationCredential');

const registerBegin = defineRoute(USER, {
  method: 'post',
  path: '/v1/auth/passkeys/register/begin',
  tags: TAGS,
  summary: 'Begin passkey registration',
  description: 'WebAuthn creation options for the signed-in user (challenge valid 5 minutes, once). The relying party is the tenant\'s auth config `passkeys` (rp_id, origins). Call with the user\'s access token.',
  responses: { 200: jsonResponse(Options, 'Creation options'), 403: errorResponse('Passkeys are disabled, or the user is anonymous') },
});

const registerComplete = defineRoute(USER, {
  method: 'post',
  path: '/v1/auth/passkeys/register/complete',
  tags: TAGS,
  summary: 'Complete passkey registration',
  description: 'Verifies the authenticator\'s attestation (challenge, origin, rp id) and stores the passkey.',
  request: { body: jsonBody(z.object({ credential: RegistrationCredential, friendly_name: z.string().trim().min(1).max(100).optional() })) },
  responses: {
    200: jsonResponse(PasskeySchema, 'The passkey'),
    401: errorResponse('Verification failed: wrong origin or rp id, unknown or reused challenge, bad signature'),
    409: errorResponse('The credential is already registered'),
  },
});

const authBegin = defineRoute(KEY, {
  method: 'post',
  path: '/v1/auth/passkeys/authenticate/begin',
  tags: TAGS,
  summary: 'Begin passkey authentication',
  description: 'WebAuthn request options for a usernameless sign-in (discoverable credentials). Call with the tenant\'s publishable key.',
  responses: { 200: jsonResponse(Options, 'Request options'), 403: errorResponse('Passkeys are disabled for this tenant') },
});

const authComplete = defineRoute(KEY, {
  method: 'post',
  path: '/v1/auth/passkeys/authenticate/complete',
  tags: TAGS,
  summary: 'Complete passkey authentication',
  description:
    'Verifies the assertion (challenge once, origin, rp id, signature, counter must grow) and signs the user in. A user-verified passkey counts as two factors (aal2); otherwise a user with TOTP gets an MFA challenge. Call with the tenant\'s publishable key.',
  request: { body: jsonBody(z.object({ credential: AuthenticationCredential })) },
  responses: {
    200: jsonResponse(SignInResultSchema, 'Signed in'),
    401: errorResponse('Verification failed: unknown credential, wrong origin or rp id, reused challenge, bad signature, counter going backwards'),
    403: errorResponse('The account is banned'),
  },
});

const list = defineRoute(USER, {
  method: 'get',
  path: '/v1/auth/passkeys',
  tags: TAGS,
  summary: 'List passkeys',
  description: 'The signed-in user\'s passkeys.',
  responses: { 200: jsonResponse(z.array(PasskeySchema), 'The passkeys') },
});

const remove = defineRoute(USER, {
  method: 'delete',
  path: '/v1/auth/passkeys/{credential_id}',
  tags: TAGS,
  summary: 'Delete passkey',
  description: 'Removes a passkey of the signed-in user, named by its id (`pk_...`) or its WebAuthn credential id.',
  request: { params: z.object({ credential_id: z.string().min(1).max(1400).openapi({ param: { name: 'credential_id', in: 'path' } }) }) },
  responses: { 200: jsonResponse(z.object({ deleted: z.literal(true), id: z.string() }), 'Deleted'), 404: errorResponse('No such passkey of this user') },
});

export function passkeyRoutes() {
  const app = createRouter();
  app.openapi(registerBegin, async (c) => {
    const principal = requireUser(c);
    return c.json(ok(c, await identityWork(c, (ctx) => beginRegistration(ctx, principal))), 200);
  });
  app.openapi(registerComplete, async (c) => {
    const principal = requireUser(c);
    const input = c.req.valid('json');
    const data = await identityWork(c, (ctx) => completeRegistration(ctx, principal, { credential: input.credential as unknown as RegistrationResponseJSON, friendly_name: input.friendly_name }));
    return c.json(ok(c, data), 200);
  });
  app.openapi(authBegin, async (c) => c.json(ok(c, await identityWork(c, (ctx) => beginAuthentication(ctx))), 200));
  app.openapi(authComplete, async (c) => {
    const credential = c.req.valid('json').credential as unknown as AuthenticationResponseJSON;
    return c.json(ok(c, await identityWork(c, (ctx) => completeAuthentication(ctx, { credential }))), 200);
  });
  app.openapi(list, async (c) => {
    const principal = requireUser(c);
    return c.json(ok(c, await identityWork(c, (ctx) => listPasskeys(ctx, principal.id))), 200);
  });
  app.openapi(remove, async (c) => {
    const principal = requireUser(c);
    return c.json(ok(c, await identityWork(c, (ctx) => deletePasskey(ctx, principal, c.req.valid('param').credential_id))), 200);
  });
  return app;
}
