import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';

/**
 * Prefixed, time-sortable ids: `<prefix>_<ulid>` in lower case. The ULID is monotonic within a
 * millisecond, so ids sort by creation order (Crockford base32 keeps its order when lower-cased).
 * ulid asks its PRNG once per character; feeding it from a buffer refilled 4 KiB at a time keeps the
 * randomness cryptographic without a system call per character (it showed in request profiles).
 */
const pool = new Uint8Array(4096);
let cursor = pool.length;
function prng(): number {
  if (cursor >= pool.length) {
    randomFillSync(pool);
    cursor = 0;
  }
  return pool[cursor++]! / 256;
}
const ulid = monotonicFactory(prng);

export const ID_PREFIXES = {
  tenant: 'tn',
  user: 'usr',
  key: 'key',
  objectType: 'ot',
  property: 'prop',
  object: 'obj',
  file: 'file',
  webhook: 'wh',
  event: 'evt',
  request: 'req',
  audit: 'aud',
} as const;

export type IdPrefix = (typeof ID_PREFIXES)[keyof typeof ID_PREFIXES] | (string & {});

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${ulid().toLowerCase()}`;
}

const ID_BODY = /^[0-9a-hjkmnp-tv-z]{26}$/;

/** True when `value` is an id this server could have issued with `prefix`. */
export function isId(prefix: IdPrefix, value: string): boolean {
  return value.startsWith(`${prefix}_`) && ID_BODY.test(value.slice(prefix.length + 1));
}
