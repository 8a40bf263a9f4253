import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { IncomingMessage } from 'node:http';
import ipaddr from 'ipaddr.js';
import { checkOutboundUrl, OutboundFailedError, type OutboundPolicy } from '../../../core/net/outbound.ts';
import { VERSION } from '../../../core/version.ts';

/**
 * The `fetch` handed to the provider SDKs: every request goes through the outbound guard (resolved once,
 * private, loopback and metadata addresses refused, the socket pinned to the checked address, no
 * redirect followed), and the answer's body streams, which the SSE answers of chat need (the guard's
 * own outboundRequest buffers bodies). Works with the SDKs' abort signals and timeouts.
 */
export function guardedFetch(policy: OutboundPolicy): typeof fetch {
  // Kept-alive connections: a new socket still connects only to addresses checked for its request.
  // An idle one is closed after 4 s, before servers close theirs (Node's default is 5 s): reusing a
  // socket the server is closing fails the call, and a POST cannot be safely sent again. (The timeout
  // only closes free sockets; a slow answer in flight is not cut.)
  const options = { keepAlive: true, maxSockets: 64, timeout: 4_000 };
  const agents = { http: new http.Agent(options), https: new https.Agent(options) };
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const raw = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const { url, addresses } = await checkOutboundUrl(raw, policy);
    const lookup: LookupFunction = (_hostname, options, callback) => {
      const family = typeof options === 'object' ? options.family : undefined;
      const usable = addresses.filter((a) => !family || a.family === family);
      const chosen = usable.length ? usable : addresses;
      if (typeof options === 'object' && options.all) (callback as (e: null, a: typeof chosen) => void)(null, chosen);
      else callback(null, chosen[0]!.address, chosen[0]!.family);
    };
    const headers: Record<string, string> = { 'user-agent': `Plinth/${VERSION}` };
    new Headers(init.headers).forEach((value, key) => {
      headers[key] = value;
    });
    let body: Buffer | undefined;
    if (init.body !== undefined && init.body !== null) {
      if (typeof init.body === 'string') body = Buffer.from(init.body);
      else if (init.body instanceof ArrayBuffer || ArrayBuffer.isView(init.body)) body = Buffer.from(init.body as Uint8Array);
      else body = Buffer.from(await new Response(init.body).arrayBuffer());
      headers['content-length'] = String(body.length);
    }
    const signal = init.signal ?? undefined;
    if (signal?.aborted) throw signal.reason ?? new DOMException('aborted', 'AbortError');
    const transport = url.protocol === 'https:' ? https : http;
    const bare = url.hostname.replace(/^\[|\]$/g, '');
    return await new Promise<Response>((resolve, reject) => {
      const req = transport.request(
        url,
        { method: init.method ?? 'GET', headers, lookup, agent: url.protocol === 'https:' ? agents.https : agents.http, servername: ipaddr.isValid(bare) ? undefined : url.hostname },
        (res) => {
          const responseHeaders = new Headers();
          for (const [key, value] of Object.entries(res.headers)) {
            if (value === undefined) continue;
            for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(key, v);
          }
          const status = res.statusCode ?? 502;
          const nullBody = status === 204 || status === 304 || init.method === 'HEAD';
          resolve(new Response(nullBody ? null : webBody(res), { status, headers: responseHeaders }));
        },
      );
      const onAbort = () => {
        req.destroy(new OutboundFailedError('aborted', 'aborted'));
        reject(signal?.reason ?? new DOMException('aborted', 'AbortError'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => signal?.removeEventListener('abort', onAbort));
      req.on('error', (error) => reject(error));
      req.end(body);
    });
  }) as typeof fetch;
}

/**
 * The response body as a web stream, each chunk handed on as it arrives (Readable.toWeb added
 * milliseconds before a streamed answer's first token). Pausing the socket while the reader is behind
 * keeps memory bounded.
 */
function webBody(res: IncomingMessage): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      res.on('data', (chunk: Buffer) => {
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 1) <= 0) res.pause();
      });
      res.on('end', () => controller.close());
      res.on('error', (error) => controller.error(error));
      res.on('aborted', () => controller.error(new Error('the provider closed the connection')));
    },
    pull() {
      res.resume();
    },
    cancel() {
      res.destroy();
    },
  }, { highWaterMark: 64 });
}
