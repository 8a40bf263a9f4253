import { createHmac, randomBytes } from 'node:crypto';

/** A new signing secret in the Standard Webhooks form: `whsec_` and 32 random bytes in base64. */
export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** A secret a tenant brings: `whsec_` and base64 of 24 to 64 bytes, as the spec asks. */
export function isValidSecret(secret: string): boolean {
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (!match) return false;
  const bytes = Buffer.from(match[1]!, 'base64').length;
  return bytes >= 24 && bytes <= 64;
}

export interface SigningKeys {
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
}

/** The key bytes of a Standard Webhooks secret: base64 after the `whsec_` prefix. */
const keyOf = (secret: string) => Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');

/**
 * The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per live secret
 * separated by spaces, so a receiver that still has the secret from before a rotation keeps verifying
 * for the grace period. Signed with node:crypto rather than the standardwebhooks library, whose
 * HMAC is pure JavaScript and cost more than the rest of a send; the tests verify every delivery with
 * that library, and signing.test.ts compares the two signatures directly.
 */
export function signatureHeader(keys: SigningKeys, messageId: string, timestamp: Date, body: string, nowMs: number): string {
  const toSign = `${messageId}.${Math.floor(timestamp.getTime() / 1000)}.${body}`;
  const sign = (secret: string) => `v1,${createHmac('sha256', keyOf(secret)).update(toSign).digest('base64')}`;
  const signatures = [sign(keys.secret)];
  if (keys.previousSecret && keys.previousSecretExpiresAt && keys.previousSecretExpiresAt.getTime() > nowMs) {
    signatures.push(sign(keys.previousSecret));
  }
  return signatures.join(' ');
}

/** `Retry-After` as milliseconds (seconds or an HTTP date), or null when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs = Date.now()): number | null {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return null;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim()) * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? null : Math.max(0, date - nowMs);
}
