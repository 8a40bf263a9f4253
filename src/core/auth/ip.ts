import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import ipaddr from 'ipaddr.js';
import { requestHeader } from '../http/headers.ts';

/** The caller's address: the socket's, or with TRUST_PROXY the first X-Forwarded-For entry. */
export function clientIp(c: Context, trustProxy: boolean): string | undefined {
  if (trustProxy) {
    const forwarded = requestHeader(c, 'x-forwarded-for')?.split(',')[0]?.trim();
    if (forwarded && ipaddr.isValid(forwarded)) return normalizeIp(forwarded);
  }
  try {
    const address = getConnInfo(c).remote.address;
    return address ? normalizeIp(address) : undefined;
  } catch {
    // No socket: an in-process request (tests) that did not say where it came from.
    return undefined;
  }
}

const PLAIN_IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

function normalizeIp(address: string): string {
  if (PLAIN_IPV4.test(address)) return address; // the common case needs no parsing
  return ipaddr.process(address).toString(); // folds IPv4-mapped IPv6 into IPv4
}

export function isValidCidr(value: string): boolean {
  try {
    ipaddr.parseCIDR(value);
    return true;
  } catch {
    return ipaddr.isValid(value);
  }
}

/** True when `ip` falls in one of the CIDR ranges (a bare address is a /32 or /128). */
export function ipInAllowlist(ip: string | undefined, allowlist: readonly string[]): boolean {
  if (!ip) return false;
  const address = ipaddr.process(ip);
  return allowlist.some((entry) => {
    try {
      const [range, bits] = entry.includes('/') ? ipaddr.parseCIDR(entry) : [ipaddr.process(entry), -1];
      const processedRange = range.kind() === 'ipv6' && (range as ipaddr.IPv6).isIPv4MappedAddress() ? (range as ipaddr.IPv6).toIPv4Address() : range;
      if (processedRange.kind() !== address.kind()) return false;
      const prefix = bits === -1 ? (address.kind() === 'ipv4' ? 32 : 128) : processedRange === range ? bits : bits - 96;
      return address.match(processedRange, prefix);
    } catch {
      return false;
    }
  });
}
