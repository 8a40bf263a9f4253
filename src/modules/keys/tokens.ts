import { createHash, randomBytes } from 'node:crypto';

/**
 * Tokens carry 192 random bits, so a single SHA-256 is a sound way to store them (a slow password hash
 * protects guessable secrets; these are not guessable) and lets a request find its key by an index.
 * `pk_` marks a publishable key (only the `auth` scope, safe in a browser), `sk_` every other key.
 */
export function generateToken(scopes: readonly string[]): string {
  const kind = scopes.length === 1 && scopes[0] === 'auth' ? 'pk' : 'sk';
  return `${kind}_${randomBytes(24).toString('base64url')}`;
}

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export const tokenPrefix = (token: string) => token.slice(0, 11);

/** Cheap shape check before touching the database. */
export const looksLikeKey = (token: string) => /^(sk|pk)_[A-Za-z0-9_-]{32}$/.test(token);
