import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

/**
 * An OAuth 2.0 / OpenID Connect provider on a local port: token endpoint that checks the PKCE verifier,
 * userinfo, and a JWKS for signed id_tokens. Tests play the browser: they read the authorization URL
 * Plinth redirects to, pick a user, and call Plinth's callback with a code issued here.
 */
export interface ProviderUser {
  sub: string;
  email?: string;
  email_verified?: boolean;
}

export interface TestOAuthProvider {
  url: string;
  clientId: string;
  clientSecret: string;
  /** What the provider's login page would do: a code for `user`, bound to the request's PKCE challenge and nonce. */
  authorize(authorizationUrl: string, user: ProviderUser): { code: string; state: string };
  tokenRequests: URLSearchParams[];
  close(): Promise<void>;
}

export async function startOAuthProvider(options: { idToken?: boolean } = {}): Promise<TestOAuthProvider> {
  const clientId = `client-${randomBytes(4).toString('hex')}`;
  const clientSecret = randomBytes(16).toString('hex');
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const codes = new Map<string, { user: ProviderUser; challenge: string; nonce: string | null; redirectUri: string }>();
  const accessTokens = new Map<string, ProviderUser>();
  const tokenRequests: URLSearchParams[] = [];
  let base = '';

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url!, base);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/jwks') return send(200, { keys: [jwk] });
    if (url.pathname === '/userinfo') {
      const user = accessTokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
      return user ? send(200, user) : send(401, { error: 'invalid_token' });
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let raw = '';
      for await (const chunk of req) raw += chunk;
      const form = new URLSearchParams(raw);
      tokenRequests.push(form);
      const grant = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? '');
      if (!grant || form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) return send(400, { error: 'invalid_grant' });
      const verifier = form.get('code_verifier') ?? '';
      if (createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) return send(400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
      if (form.get('redirect_uri') !== grant.redirectUri) return send(400, { error: 'invalid_grant', error_description: 'redirect_uri mismatch' });
      const accessToken = randomBytes(16).toString('hex');
      accessTokens.set(accessToken, grant.user);
      const body: Record<string, unknown> = { access_token: accessToken, token_type: 'Bearer', expires_in: 3600 };
      if (options.idToken) {
        body.id_token = await new SignJWT({ ...grant.user, ...(grant.nonce ? { nonce: grant.nonce } : {}) })
          .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
          .setIssuer(base)
          .setAudience(clientId)
          .setSubject(grant.user.sub)
          .setIssuedAt()
          .setExpirationTime('5m')
          .sign(privateKey);
      }
      return send(200, body);
    }
    send(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: base,
    clientId,
    clientSecret,
    tokenRequests,
    authorize(authorizationUrl, user) {
      const url = new URL(authorizationUrl);
      const code = randomBytes(12).toString('hex');
      codes.set(code, { user, challenge: url.searchParams.get('code_challenge')!, nonce: url.searchParams.get('nonce'), redirectUri: url.searchParams.get('redirect_uri')! });
      return { code, state: url.searchParams.get('state')! };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
