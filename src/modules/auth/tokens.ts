import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, randomInt } from 'node:crypto';

/** SHA-256 hex: random tokens carry 256 bits, so a fast hash is a sound way to store them (and find them by index). */
export const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

const TENANT_BODY = /^[0-9a-z]{26}$/;

/**
 * A secret that names its tenant: `<prefix>_<tenant ulid>_<43 random chars>`. Links in emails and refresh
 * tokens arrive without a tenant credential (a browser following a link, a portal without a key); the
 * tenant part lets the server open the right tenant's rows without any cross-tenant lookup. The tenant
 * id is no secret; the random part is.
 */
export function tenantToken(prefix: string, tenantId: string): string {
  return `${prefix}_${tenantId.slice(3)}_${randomBytes(32).toString('base64url')}`;
}

export function tenantOfToken(prefix: string | string[], token: string): string | null {
  const prefixes = Array.isArray(prefix) ? prefix : [prefix];
  const match = /^([a-z]{2,4})_([0-9a-z]{26})_([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match || !prefixes.includes(match[1]!) || !TENANT_BODY.test(match[2]!)) return null;
  return `tn_${match[2]}`;
}

/** A numeric code for SMS (and what authenticator apps show): short, so its checks carry an attempt budget. */
export const numericCode = (digits = 6) => String(randomInt(0, 10 ** digits)).padStart(digits, '0');

/** Recovery codes: 80 bits in four groups, e.g. `k3mz-8q2w-x7ph-4rtn`. */
export function recoveryCode(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
  const chars = Array.from({ length: 16 }, () => alphabet[randomInt(0, alphabet.length)]);
  return [0, 4, 8, 12].map((i) => chars.slice(i, i + 4).join('')).join('-');
}

export const normalizeRecoveryCode = (code: string) => code.trim().toLowerCase().replace(/[^a-z0-9]/g, '');

const tokenKey = (token: string) => Buffer.from(hkdfSync('sha256', token, '', 'plinth refresh successor v1', 32));

/**
 * Seals `plain` under a key derived from `token` (AES-256-GCM): readable only by whoever presents `token`,
 * whose 256 random bits are stored nowhere but as a SHA-256 hash. Unlike SecretBox this needs no server
 * key, so it protects a rotated refresh token's successor even on an install without PLINTH_ENCRYPTION_KEY.
 */
export function sealWithToken(token: string, plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', tokenKey(token), iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

export function openWithToken(token: string, sealed: string): string | null {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', tokenKey(token), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}
