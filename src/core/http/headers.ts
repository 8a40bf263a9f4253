import type { Context } from 'hono';

/**
 * A request header, read from Node's own header object when the request came through node-server.
 * Asking Hono's request for any header makes node-server build a full WHATWG Headers object first;
 * that showed up in the per-request profile of every authenticated route. In-process requests (tests)
 * have no Node request and use Hono's.
 */
export function requestHeader(c: Context, name: string): string | undefined {
  const incoming = (c.env as { incoming?: { headers?: Record<string, string | string[] | undefined> } } | undefined)?.incoming;
  if (incoming?.headers) {
    const value = incoming.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }
  return c.req.header(name);
}

/**
 * Sets a header of the response this request will get. Through node-server it goes straight onto
 * Node's ServerResponse, which merges it into whatever the handler answers (error responses and
 * streams included). Hono's c.header() would build a validating WHATWG Headers object on every request
 * instead, which showed as the largest single cost in the kernel benchmark's profile.
 */
export function setResponseHeader(c: Context, name: string, value: string): void {
  const outgoing = (c.env as { outgoing?: { setHeader?(name: string, value: string): void; headersSent?: boolean } } | undefined)?.outgoing;
  if (outgoing?.setHeader && !outgoing.headersSent) outgoing.setHeader(name, value);
  else c.header(name, value);
}

/** True when headers set with setResponseHeader reach the client without Hono's help. */
export function hasNodeResponse(c: Context): boolean {
  return typeof (c.env as { outgoing?: { setHeader?: unknown } } | undefined)?.outgoing?.setHeader === 'function';
}

/** The host a request was sent to, without its port, in lower case. */
export function requestHost(c: Context): string {
  const host = requestHeader(c, 'host') ?? '';
  return (host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!).toLowerCase();
}
