import { isId } from '../../core/http/ids.ts';

/**
 * The contract's ids are UUIDs; Plinth's are `<prefix>_<ulid>`. A ULID and a UUID are both 128 bits, so
 * each id is shown as the UUID spelling of its ULID and read back without a lookup table. Hand-written:
 * ulid's package converts times, not the 128 bits to bytes, and this is the whole of it.
 */
const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function toUuid(id: string): string {
  const body = id.slice(id.indexOf('_') + 1);
  let n = 0n;
  for (const ch of body) n = (n << 5n) | BigInt(CROCKFORD.indexOf(ch));
  const hex = n.toString(16).padStart(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The Plinth id behind a UUID of the contract, or undefined when it is not a UUID (the caller answers 404 or 400). */
export function fromUuid(prefix: string, uuid: string): string | undefined {
  if (!UUID.test(uuid)) return undefined;
  let n = BigInt(`0x${uuid.replaceAll('-', '')}`);
  let body = '';
  for (let i = 0; i < 26; i++) {
    body = CROCKFORD[Number(n & 31n)] + body;
    n >>= 5n;
  }
  const id = `${prefix}_${body}`;
  return isId(prefix, id) ? id : undefined;
}

export const isUuid = (value: string) => UUID.test(value);
