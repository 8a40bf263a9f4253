import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Config } from '../../config.ts';
import { ApiError } from '../http/errors.ts';
import { VERSION } from '../version.ts';
import { urlSyntaxProblem } from './http-url.ts';

/**
 * Every request to a URL that a tenant or user can influence (webhooks, OAuth and OIDC endpoints, and
 * every later caller: AI providers, integrations, functions, imports by URL) goes through here, so none
 * can reach the server's own network: loopback, private, link-local, multicast, reserved and cloud
 * metadata addresses are refused, and so are non-http(s) schemes. The name is resolved once, every
 * address it resolves to is checked, and the socket connects to a checked address through the request's
 * `lookup` hook, so a DNS answer that changes between the check and the connection (rebinding) cannot
 * slip through. Redirects are never followed. Node has no built-in for this and the maintained filtering
 * agents do not expose the decision we need to report (which range, which field), so the check is
 * written here on ipaddr.js.
 *
 * Callers check twice: when the URL is saved (`assertOutboundUrls`: a 400 naming the field) and when
 * it is called (`outboundRequest` / `outboundFetch` check again, since DNS answers change and rows saved
 * before a rule existed are still there).
 */

/** The setting that lets outbound calls reach loopback in development (WEBHOOK_ALLOW_LOOPBACK is its old name). */
export const LOOPBACK_SETTING = 'OUTBOUND_ALLOW_LOOPBACK';

export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

export interface OutboundPolicy {
  /** Loopback (127.0.0.0/8, ::1, localhost) allowed: development and tests only. */
  allowLoopback: boolean;
  /** Name resolution (tests hand in a fake resolver); defaults to the system resolver. */
  resolve?: Resolver;
}

/** The kernel's policy from the configuration: one setting for every outbound caller. */
export function outboundPolicy(config: Pick<Config, 'OUTBOUND_ALLOW_LOOPBACK' | 'WEBHOOK_ALLOW_LOOPBACK'>): OutboundPolicy {
  return { allowLoopback: config.OUTBOUND_ALLOW_LOOPBACK || config.WEBHOOK_ALLOW_LOOPBACK };
}

/** Cloud metadata services (AWS, GCP, Azure, Alibaba, Oracle); most sit in refused ranges anyway. */
const METADATA_ADDRESSES = new Set(['169.254.169.254', 'fd00:ec2::254', '168.63.129.16', '100.100.100.200', '192.0.0.192']);
/** Names of metadata services, refused before any resolution (they resolve only inside the cloud). */
const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data', 'instance-data.ec2.internal']);
/** Global unicast IPv6 (2000::/3): everything outside it (IPv4-compatible ::a.b.c.d, discard, ...) is not the internet. */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

export class OutboundBlockedError extends Error {
  readonly code = 'OUTBOUND_BLOCKED';
}

/**
 * The request was sent (or tried) and did not complete. `message` carries the detail (socket error,
 * status) for logs and for a tenant's own delivery log; an answer to another caller must not repeat it,
 * since it tells an open port from a closed one.
 */
export class OutboundFailedError extends Error {
  readonly code = 'OUTBOUND_FAILED';
  constructor(
    readonly reason: 'unreachable' | 'timeout' | 'aborted' | 'too_large' | 'status' | 'invalid_body',
    message: string,
  ) {
    super(message);
  }
}

const loopbackHint = `; to allow loopback in development, set ${LOOPBACK_SETTING}=true`;

/** Why the address may not be reached ("a private address"), or null when it may. */
export function blockedReason(address: string, policy: Pick<OutboundPolicy, 'allowLoopback'>): string | null {
  if (!ipaddr.isValid(address)) return 'not an IP address';
  // IPv4-mapped IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address it maps.
  const parsed = ipaddr.process(address);
  if (METADATA_ADDRESSES.has(parsed.toString())) return 'a cloud metadata address';
  const range = parsed.range();
  if (range === 'loopback') return policy.allowLoopback ? null : 'a loopback address';
  if (range !== 'unicast') return `a ${describeRange(range)} address`;
  if (parsed.kind() === 'ipv6' && !(parsed as ipaddr.IPv6).match(GLOBAL_UNICAST_V6)) return 'a non-global IPv6 address';
  return null;
}

function describeRange(range: string): string {
  const names: Record<string, string> = {
    unspecified: 'unspecified',
    broadcast: 'broadcast',
    multicast: 'multicast',
    linkLocal: 'link-local',
    carrierGradeNat: 'shared (carrier-grade NAT)',
    private: 'private',
    reserved: 'reserved',
    uniqueLocal: 'unique-local (private)',
    deprecatedSiteLocal: 'site-local',
  };
  return names[range] ?? `special-purpose (${range})`;
}

const systemResolve: Resolver = async (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/** The hostname of a URL without IPv6 brackets or a trailing dot, lower-case. */
const bareHost = (url: URL) => url.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();

export interface CheckedUrl {
  url: URL;
  /** The addresses the name resolved to, all allowed. */
  addresses: { address: string; family: number }[];
}

/**
 * Parses and checks a URL a tenant wants Plinth to call: http(s) only, no credentials or hidden
 * characters, and every address its host resolves to must be allowed. Throws OutboundBlockedError
 * with the reason.
 */
export async function checkOutboundUrl(raw: string, policy: OutboundPolicy): Promise<CheckedUrl> {
  const problem = urlSyntaxProblem(raw);
  if (problem) throw new OutboundBlockedError(problem);
  const url = new URL(raw);
  const addresses = await resolveChecked(bareHost(url), policy);
  return { url, addresses };
}

async function resolveChecked(host: string, policy: OutboundPolicy): Promise<{ address: string; family: number }[]> {
  let addresses: { address: string; family: number }[];
  if (ipaddr.isValid(host)) {
    addresses = [{ address: host, family: host.includes(':') ? 6 : 4 }];
  } else {
    if (!/^[a-z0-9_.-]+$/.test(host) || host.length > 253) throw new OutboundBlockedError(`the host name ${host} is not valid`);
    if (METADATA_NAMES.has(host)) throw new OutboundBlockedError(`${host} is a cloud metadata name`);
    // RFC 6761: localhost and every name under it are loopback, whatever a resolver says.
    if (host === 'localhost' || host.endsWith('.localhost')) {
      if (!policy.allowLoopback) throw new OutboundBlockedError(`${host} is a loopback name${loopbackHint}`);
      return [
        { address: '127.0.0.1', family: 4 },
        { address: '::1', family: 6 },
      ];
    }
    try {
      addresses = await (policy.resolve ?? systemResolve)(host);
    } catch {
      throw new OutboundBlockedError(`the host ${host} does not resolve`);
    }
    if (addresses.length === 0) throw new OutboundBlockedError(`the host ${host} does not resolve`);
  }
  for (const { address } of addresses) {
    const reason = blockedReason(address, policy);
    if (!reason) continue;
    const hint = reason === 'a loopback address' ? loopbackHint : '';
    // A name's answer is not repeated: it would map the operator's internal DNS for whoever asks.
    throw new OutboundBlockedError(host === address ? `${address} is ${reason}${hint}` : `${host} resolves to ${reason}${hint}`);
  }
  return addresses;
}

/**
 * Save-time check of the URLs a request wants stored: a 400 VALIDATION_ERROR naming every field whose
 * URL is refused, with the reason. Resolves DNS: call it before opening a transaction.
 */
export async function assertOutboundUrls(policy: OutboundPolicy, fields: { field: string; url: string | null | undefined }[]): Promise<void> {
  const issues: { field: string; location: string; code: string; message: string }[] = [];
  for (const { field, url } of fields) {
    if (url === null || url === undefined) continue;
    try {
      await checkOutboundUrl(url, policy);
    } catch (error) {
      if (!(error instanceof OutboundBlockedError)) throw error;
      issues.push({ field, location: 'body', code: 'blocked_url', message: error.message });
    }
  }
  const first = issues[0];
  if (!first) return;
  throw new ApiError('VALIDATION_ERROR', `${first.field}: ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`, { details: { issues } });
}

export interface OutboundRequest {
  method?: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  timeoutMs: number;
  /** Bytes of the response body kept; the rest is not read and `truncated` is set. */
  maxResponseBytes?: number;
  signal?: AbortSignal;
  /**
   * A keep-alive agent to reuse connections (webhook deliveries keep one per endpoint). The URL is
   * still resolved and checked on every request (unless `reuse`); a new socket connects only to the addresses checked
   * for the request that opens it. Default: a connection of its own.
   */
  agent?: http.Agent;
  /**
   * Requests sent in a row to one URL (a webhook batch, seconds at most) may share one check: the
   * first fills `checked`, the next ones to the same URL use its addresses instead of resolving again.
   * The holder must not outlive the run of requests, or a changed DNS answer would go unchecked.
   */
  reuse?: { checked?: CheckedUrl & { raw: string } };
}

export interface OutboundResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The body was longer than `maxResponseBytes` and was cut there. */
  truncated: boolean;
  /** The address the socket connected to. */
  address: string | null;
  latencyMs: number;
}

/**
 * Sends one request to a tenant-chosen URL under the policy: resolved once, checked, connected to the
 * checked address; no redirects followed (a 3xx is returned as it is); the whole exchange, resolution
 * included, bounded by `timeoutMs`. Rejects with OutboundBlockedError before any byte is sent to a
 * refused address, and with OutboundFailedError when the exchange does not complete.
 */
export async function outboundRequest(rawUrl: string, request: OutboundRequest, policy: OutboundPolicy): Promise<OutboundResponse> {
  const started = performance.now();
  const deadline = started + request.timeoutMs;
  const timedOut = () => new OutboundFailedError('timeout', `timed out after ${request.timeoutMs} ms`);
  let resolveTimer: NodeJS.Timeout | undefined;
  const reused = request.reuse?.checked?.raw === rawUrl ? request.reuse.checked : undefined;
  const { url, addresses } =
    reused ??
    (await Promise.race([
      checkOutboundUrl(rawUrl, policy),
      new Promise<never>((_, reject) => {
        resolveTimer = setTimeout(() => reject(timedOut()), request.timeoutMs);
      }),
    ]).finally(() => clearTimeout(resolveTimer)));
  if (request.reuse && !reused) request.reuse.checked = { raw: rawUrl, url, addresses };
  if (request.signal?.aborted) throw new OutboundFailedError('aborted', 'aborted');
  // The connection uses exactly the addresses checked above; nothing is resolved again.
  const lookup: LookupFunction = (_hostname, options, callback) => {
    const family = typeof options === 'object' ? options.family : undefined;
    const usable = addresses.filter((a) => !family || a.family === family);
    const chosen = usable.length ? usable : addresses;
    if (typeof options === 'object' && options.all) (callback as (e: null, a: typeof chosen) => void)(null, chosen);
    else callback(null, chosen[0]!.address, chosen[0]!.family);
  };
  const transport = url.protocol === 'https:' ? https : http;
  const limit = request.maxResponseBytes ?? 4096;
  const attempt = (retried: boolean): Promise<OutboundResponse> => new Promise<OutboundResponse>((resolve, reject) => {
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
        headers: {
          'user-agent': `Plinth/${VERSION}`,
          ...request.headers,
          ...(request.body !== undefined ? { 'content-length': String(Buffer.byteLength(request.body)) } : {}),
        },
        lookup,
        agent: request.agent ?? false,
        // An IP-literal host skips `lookup`; it was checked above like any resolved address.
        servername: ipaddr.isValid(bareHost(url)) ? undefined : url.hostname,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        let truncated = false;
        res.on('data', (chunk: Buffer) => {
          // Reading one byte past the limit is what tells a long body from one of exactly `limit` bytes.
          const room = limit + 1 - kept;
          if (room > 0) {
            const part = chunk.subarray(0, room);
            chunks.push(part);
            kept += part.length;
          }
          if (kept > limit) {
            truncated = true;
            res.destroy();
          }
        });
        const done = () =>
          finish(null, {
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).subarray(0, limit).toString('utf8'),
            truncated,
            address: req.socket?.remoteAddress ?? null,
            latencyMs: Math.round(performance.now() - started),
          });
        res.on('end', done);
        res.on('close', done);
        res.on('error', done);
      },
    );
    const timer = setTimeout(
      () => {
        finish(timedOut());
        req.destroy();
      },
      Math.max(0, deadline - performance.now()),
    );
    const onAbort = () => {
      finish(new OutboundFailedError('aborted', 'aborted'));
      req.destroy();
    };
    request.signal?.addEventListener('abort', onAbort);
    req.on('error', (error: NodeJS.ErrnoException) => {
      // A pooled connection the server closed while idle fails before any answer: nothing was
      // processed, so the request goes once more on a new connection (what Node's documentation advises).
      if (req.reusedSocket && !retried && (error.code === 'ECONNRESET' || error.code === 'EPIPE') && !settled) {
        settled = true;
        clearTimeout(timer);
        request.signal?.removeEventListener('abort', onAbort);
        attempt(true).then(resolve, reject);
        return;
      }
      finish(new OutboundFailedError('unreachable', error.message));
    });
    req.end(request.body);
  });
  return attempt(false);
}

export interface OutboundFetchInit {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  /** Sent as application/json. */
  json?: unknown;
  /** Sent as application/x-www-form-urlencoded. */
  form?: URLSearchParams | Record<string, string>;
  body?: string | Buffer;
  /** Default 10 s, resolution included. */
  timeoutMs?: number;
  /** A longer answer fails with OutboundFailedError('too_large'); default 1 MiB. */
  maxResponseBytes?: number;
  signal?: AbortSignal;
}

export interface OutboundFetchResponse {
  status: number;
  /** 2xx. A redirect is never followed: it is a 3xx here. */
  ok: boolean;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/**
 * The fetch that callers of tenant-chosen URLs use (OAuth token, userinfo and JWKS; AI providers,
 * integrations and imports later): `outboundRequest` with JSON or form bodies, a response size limit
 * and a default timeout. Throws OutboundBlockedError or OutboundFailedError; answer a caller with one
 * generic message for both, and log the error's message.
 */
export async function outboundFetch(url: string, init: OutboundFetchInit, policy: OutboundPolicy): Promise<OutboundFetchResponse> {
  const headers: Record<string, string> = { ...init.headers };
  let body = init.body;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    headers['content-type'] ??= 'application/json';
  } else if (init.form !== undefined) {
    body = new URLSearchParams(init.form).toString();
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
  }
  const res = await outboundRequest(
    url,
    {
      method: init.method ?? (body === undefined ? 'GET' : 'POST'),
      headers,
      body,
      timeoutMs: init.timeoutMs ?? 10_000,
      maxResponseBytes: init.maxResponseBytes ?? 1024 * 1024,
      signal: init.signal,
    },
    policy,
  );
  if (res.truncated) throw new OutboundFailedError('too_large', `the answer is longer than ${init.maxResponseBytes ?? 1024 * 1024} bytes`);
  return { status: res.status, ok: res.status >= 200 && res.status < 300, headers: res.headers, text: res.body };
}

/**
 * A `lookup` for clients that open their own connections (the S3 SDK's agents): every name is
 * resolved and checked as `outboundRequest` does, and the socket connects to a checked address. Node
 * skips `lookup` for an IP-literal host: check such a URL with `checkOutboundUrl` before using it.
 */
export function guardedLookup(policy: OutboundPolicy): LookupFunction {
  return (hostname, options, callback) => {
    const host = hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
    resolveChecked(host, policy).then(
      (addresses) => {
        const family = typeof options === 'object' ? options.family : undefined;
        const usable = addresses.filter((a) => !family || a.family === family);
        const chosen = usable.length ? usable : addresses;
        if (typeof options === 'object' && options.all) (callback as (e: null, a: typeof chosen) => void)(null, chosen);
        else callback(null, chosen[0]!.address, chosen[0]!.family);
      },
      (error: Error) => callback(error as NodeJS.ErrnoException, '', 0),
    );
  };
}
