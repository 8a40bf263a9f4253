import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Requests to URLs that tenants choose (webhooks now, automation HTTP steps later) must not reach the
 * server's own network: loopback, private, link-local, multicast, reserved and cloud metadata
 * addresses are refused. The name is resolved once, every address it resolves to is checked, and the
 * socket connects to a checked address through the request's `lookup` hook, so a DNS answer that
 * changes between the check and the connection (rebinding) cannot slip through. Redirects are never
 * followed. Node has no built-in for this and the maintained filtering agents do not expose the
 * decision we need to report (which address, which range), so the check is written here on ipaddr.js.
 */

export interface OutboundPolicy {
  /** Loopback (127.0.0.0/8, ::1) allowed: development and tests only. */
  allowLoopback: boolean;
  /** Name resolution (tests hand in a fake resolver); defaults to the system resolver. */
  resolve?: (hostname: string) => Promise<{ address: string; family: number }[]>;
}

/** Cloud metadata services (AWS, GCP, Azure, Alibaba, Oracle); most sit in refused ranges anyway. */
const METADATA_ADDRESSES = new Set(['169.254.169.254', 'fd00:ec2::254', '168.63.129.16', '100.100.100.200', '192.0.0.192']);

export class OutboundBlockedError extends Error {
  readonly code = 'OUTBOUND_BLOCKED';
}

/** Why the address may not be reached ("a private address"), or null when it may. */
export function blockedReason(address: string, policy: Pick<OutboundPolicy, 'allowLoopback'>): string | null {
  if (!ipaddr.isValid(address)) return 'not an IP address';
  // IPv4-mapped IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address it maps.
  const parsed = ipaddr.process(address);
  if (METADATA_ADDRESSES.has(parsed.toString())) return 'a cloud metadata address';
  const range = parsed.range();
  if (range === 'unicast') return null;
  if (range === 'loopback' && policy.allowLoopback) return null;
  return `a ${describeRange(range)} address`;
}

function describeRange(range: string): string {
  const names: Record<string, string> = {
    unspecified: 'unspecified',
    broadcast: 'broadcast',
    multicast: 'multicast',
    linkLocal: 'link-local',
    loopback: 'loopback',
    carrierGradeNat: 'shared (carrier-grade NAT)',
    private: 'private',
    reserved: 'reserved',
    uniqueLocal: 'unique-local (private)',
    ipv4Mapped: 'IPv4-mapped',
    deprecatedSiteLocal: 'site-local',
  };
  return names[range] ?? `special-purpose (${range})`;
}

const systemResolve = async (hostname: string) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/** The hostname of a URL without IPv6 brackets. */
const bareHost = (url: URL) => url.hostname.replace(/^\[|\]$/g, '');

export interface CheckedUrl {
  url: URL;
  /** The addresses the name resolved to, all allowed. */
  addresses: { address: string; family: number }[];
}

/**
 * Parses and checks a URL a tenant wants Plinth to call: http(s) only, and every address its host
 * resolves to must be allowed. Throws OutboundBlockedError with the reason.
 */
export async function checkOutboundUrl(raw: string, policy: OutboundPolicy): Promise<CheckedUrl> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundBlockedError('not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundBlockedError(`the scheme ${url.protocol} is not allowed; use http or https`);
  if (url.username || url.password) throw new OutboundBlockedError('credentials in the URL are not allowed; use a signed payload instead');
  const addresses = await resolveChecked(bareHost(url), policy);
  return { url, addresses };
}

async function resolveChecked(host: string, policy: OutboundPolicy): Promise<{ address: string; family: number }[]> {
  let addresses: { address: string; family: number }[];
  if (ipaddr.isValid(host)) {
    addresses = [{ address: host, family: host.includes(':') ? 6 : 4 }];
  } else {
    if (!/^[a-z0-9.-]+$/i.test(host) || host.length > 253) throw new OutboundBlockedError(`the host name ${host} is not valid`);
    try {
      addresses = await (policy.resolve ?? systemResolve)(host);
    } catch {
      throw new OutboundBlockedError(`the host ${host} does not resolve`);
    }
    if (addresses.length === 0) throw new OutboundBlockedError(`the host ${host} does not resolve`);
  }
  for (const { address } of addresses) {
    const reason = blockedReason(address, policy);
    if (reason) throw new OutboundBlockedError(host === address ? `${address} is ${reason}` : `${host} resolves to ${address}, ${reason}`);
  }
  return addresses;
}

export interface OutboundRequest {
  method?: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** Bytes of the response body kept; the rest is not read. */
  maxResponseBytes?: number;
  signal?: AbortSignal;
}

export interface OutboundResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The address the socket connected to. */
  address: string | null;
  latencyMs: number;
}

/**
 * Sends one request to a tenant-chosen URL under the policy: resolved once, checked, connected to the
 * checked address; no redirects followed (a 3xx is returned as it is); the whole exchange bounded by
 * `timeoutMs`. Rejects with OutboundBlockedError before any byte is sent to a refused address.
 */
export async function outboundRequest(rawUrl: string, request: OutboundRequest, policy: OutboundPolicy): Promise<OutboundResponse> {
  const { url, addresses } = await checkOutboundUrl(rawUrl, policy);
  // The connection uses exactly the addresses checked above; nothing is resolved again.
  const lookup: LookupFunction = (_hostname, options, callback) => {
    const family = typeof options === 'object' ? options.family : undefined;
    const usable = addresses.filter((a) => !family || a.family === family);
    const chosen = usable.length ? usable : addresses;
    if (typeof options === 'object' && options.all) (callback as (e: null, a: typeof chosen) => void)(null, chosen);
    else callback(null, chosen[0]!.address, chosen[0]!.family);
  };
  const started = performance.now();
  const transport = url.protocol === 'https:' ? https : http;
  const limit = request.maxResponseBytes ?? 4096;
  return new Promise<OutboundResponse>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | null, value?: OutboundResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(value!);
    };
    const req = transport.request(
      url,
      {
        method: request.method ?? 'POST',
        headers: { ...request.headers, ...(request.body !== undefined ? { 'content-length': String(Buffer.byteLength(request.body)) } : {}) },
        lookup,
        agent: false,
        // An IP-literal host skips `lookup`; it was checked above like any resolved address.
        servername: ipaddr.isValid(bareHost(url)) ? undefined : url.hostname,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (chunk: Buffer) => {
          if (kept < limit) {
            chunks.push(chunk.subarray(0, limit - kept));
            kept += Math.min(chunk.length, limit - kept);
          }
          if (kept >= limit) res.destroy();
        });
        const done = () =>
          finish(null, {
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            address: req.socket?.remoteAddress ?? null,
            latencyMs: Math.round(performance.now() - started),
          });
        res.on('end', done);
        res.on('close', done);
        res.on('error', done);
      },
    );
    const timer = setTimeout(() => {
      finish(new Error(`timed out after ${request.timeoutMs} ms`));
      req.destroy();
    }, request.timeoutMs);
    const onAbort = () => {
      finish(new Error('aborted'));
      req.destroy();
    };
    request.signal?.addEventListener('abort', onAbort);
    req.on('error', (error) => finish(error));
    req.end(request.body);
  });
}
