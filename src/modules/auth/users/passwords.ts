import argon2 from 'argon2';
import { dictionary } from '@zxcvbn-ts/language-common';
import type { Config } from '../../../config.ts';
import { ApiError } from '../../../core/http/errors.ts';
import type { AuthConfig } from '../config/service.ts';

export const PASSWORD_MAX_LENGTH = 1024;

/** The ~49k most common passwords, shipped with zxcvbn-ts (no network lookups). */
const COMMON = new Set<string>((dictionary as Record<string, string[]>)['passwords-common'] ?? []);

function weak(code: string, message: string): ApiError {
  return new ApiError('VALIDATION_ERROR', `password: ${message}`, {
    details: { issues: [{ field: 'password', location: 'body', code, message }] },
  });
}

/**
 * NIST 800-63B: length 8..1024, not a common password, not the email; composition rules only when the
 * tenant's policy asks for them.
 */
export function checkPassword(password: string, policy: AuthConfig['password_policy'], email?: string | null): void {
  const length = [...password].length;
  if (length < policy.min_length) throw weak('too_short', `must be at least ${policy.min_length} characters`);
  if (length > PASSWORD_MAX_LENGTH) throw weak('too_long', `must be at most ${PASSWORD_MAX_LENGTH} characters`);
  const lower = password.toLowerCase();
  if (COMMON.has(lower)) throw weak('too_common', 'is one of the most common passwords; choose another');
  if (email && (lower === email.toLowerCase() || lower === email.toLowerCase().split('@')[0])) throw weak('matches_email', 'must not be your email address');
  if (policy.require_uppercase && !/\p{Lu}/u.test(password)) throw weak('needs_uppercase', 'must contain an upper-case letter');
  if (policy.require_lowercase && !/\p{Ll}/u.test(password)) throw weak('needs_lowercase', 'must contain a lower-case letter');
  if (policy.require_number && !/\p{Nd}/u.test(password)) throw weak('needs_number', 'must contain a digit');
  if (policy.require_symbol && !/[^\p{L}\p{Nd}]/u.test(password)) throw weak('needs_symbol', 'must contain a symbol');
}

const optionsOf = (config: Config) => ({
  type: argon2.argon2id as 0 | 1 | 2,
  memoryCost: config.ARGON2_MEMORY_KIB,
  timeCost: config.ARGON2_TIME_COST,
  parallelism: 1,
});

export function hashPassword(config: Config, password: string): Promise<string> {
  return argon2.hash(password, optionsOf(config));
}

const dummies = new Map<string, Promise<string>>();

/**
 * Checks a password against a stored hash. With no hash (unknown user, or one without a password) it
 * still runs one argon2 verification against a dummy hash of the same cost, so a response takes as
 * long whether or not the account exists.
 */
export async function verifyPassword(config: Config, hash: string | null | undefined, password: string): Promise<{ ok: boolean; rehash: boolean }> {
  if (!hash) {
    const key = `${config.ARGON2_MEMORY_KIB}:${config.ARGON2_TIME_COST}`;
    let dummy = dummies.get(key);
    if (!dummy) dummies.set(key, (dummy = hashPassword(config, 'plinth-dummy-password')));
    await argon2.verify(await dummy, password).catch(() => false);
    return { ok: false, rehash: false };
  }
  const ok = await argon2.verify(hash, password).catch(() => false);
  return { ok, rehash: ok && argon2.needsRehash(hash, optionsOf(config)) };
}
