import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ApiError } from '../../core/http/errors.ts';
import type { Kernel } from '../../core/kernel.ts';
import { LocalStorage } from '../../core/providers/storage.ts';

/** Signed-URL TTL bounds from the seed: 60 s to 86,400 s. */
export const SIGNED_URL_MIN_TTL = 60;
export const SIGNED_URL_MAX_TTL = 86_400;

const secrets = new WeakMap<Kernel, Buffer>();

/**
 * The HMAC key of the local driver's signed URLs: FILES_URL_SECRET, or a random key kept beside the
 * files (so every process sharing the directory, and the next start, sign alike).
 */
export function urlSecret(kernel: Kernel): Buffer {
  const known = secrets.get(kernel);
  if (known) return known;
  let secret: Buffer;
  if (kernel.config.FILES_URL_SECRET) {
    secret = Buffer.from(kernel.config.FILES_URL_SECRET, 'utf8');
  } else if (kernel.storage instanceof LocalStorage) {
    const file = path.join(kernel.storage.root, '.url-secret');
    try {
      fs.writeFileSync(file, randomBytes(32).toString('base64url'), { flag: 'wx', mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    secret = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'utf8');
  } else {
    secret = randomBytes(32);
  }
  secrets.set(kernel, secret);
  return secret;
}

export interface SignedParams {
  tenantId: string;
  fileId: string;
  /** Unix seconds. */
  expires: number;
  disposition?: string;
  version?: number;
}

/**
 * The HMAC of the exact strings of the URL: `expires=0123` is not `expires=123`, so a URL cannot be
 * changed in any character and still verify.
 */
function signature(kernel: Kernel, p: { tenantId: string; fileId: string; expires: string; disposition?: string; version?: string }): string {
  const message = ['v1', p.tenantId, p.fileId, p.expires, p.disposition ?? '', p.version ?? ''].join('\n');
  return createHmac('sha256', urlSecret(kernel)).update(message).digest('base64url');
}

/** The query string of a signed content URL: `t` (tenant), `expires`, `token` (the HMAC). */
export function signContentQuery(kernel: Kernel, p: SignedParams): URLSearchParams {
  const expires = String(p.expires);
  const version = p.version === undefined ? undefined : String(p.version);
  const query = new URLSearchParams({ t: p.tenantId, expires, token: signature(kernel, { ...p, expires, version }) });
  if (p.disposition) query.set('disposition', p.disposition);
  return query;
}

/**
 * Checks a signed URL's parameters, as the raw strings of its query; a changed character anywhere or a
 * past `expires` is a 403.
 */
export function verifySignedQuery(
  kernel: Kernel,
  p: { tenantId: string; fileId: string; expires: string | undefined; token: string | undefined; disposition?: string; version?: string },
  now = Date.now(),
) {
  const forbidden = (message: string) => new ApiError('FORBIDDEN', message);
  if (!p.token || !p.expires || !p.tenantId) throw forbidden('A signed URL needs t, expires and token');
  if (!/^\d{1,12}$/.test(p.expires)) throw forbidden('Invalid signed URL');
  const expected = Buffer.from(signature(kernel, { ...p, expires: p.expires }));
  const given = Buffer.from(p.token);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw forbidden('Invalid signed URL');
  if (Number(p.expires) * 1000 <= now) throw forbidden('This signed URL has expired');
}
