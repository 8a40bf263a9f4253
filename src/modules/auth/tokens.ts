import { createHash, randomBytes, randomInt } from 'node:crypto';

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
