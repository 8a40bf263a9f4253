import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

/** What the realtime route finds in `c.env` when the request came in as an HTTP upgrade. */
export interface UpgradeContext {
  /** Set by the route once the request is authorised; the socket is then upgraded and handed to it. */
  accept?: (ws: WebSocket, socket: Duplex) => void;
}

export const UPGRADE_ENV_KEY = 'websocketUpgrade';

interface FetchApp {
  fetch(request: Request, env: Record<string, unknown>): Response | Promise<Response>;
}

/**
 * Lets a Node HTTP server (the one `@hono/node-server` made) take WebSocket upgrades: each upgrade
 * request goes through the Hono app like any request, so auth, rate limits and errors are the
 * route's; when the route accepts, the socket is upgraded with `ws`, otherwise the route's HTTP answer
 * (401, 404...) is written to the socket and it is closed. (@hono/node-ws does this for node-server 1.x
 * only, hence this small bridge.)
 */
export function attachWebSockets(server: Pick<Server, 'on'> | { on(event: 'upgrade', listener: (...args: any[]) => void): unknown }, app: FetchApp): WebSocketServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  (server as Server).on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void handleUpgrade(wss, app, req, socket, head);
  });
  return wss;
}

async function handleUpgrade(wss: WebSocketServer, app: FetchApp, req: IncomingMessage, socket: Duplex, head: Buffer) {
  socket.on('error', () => socket.destroy());
  try {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (Array.isArray(value)) for (const v of value) headers.append(name, v);
      else if (value !== undefined) headers.set(name, value);
    }
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
    const upgrade: UpgradeContext = {};
    const response = await app.fetch(new Request(url, { method: req.method, headers }), { incoming: req, outgoing: undefined, [UPGRADE_ENV_KEY]: upgrade });
    if (upgrade.accept && response.status < 300) {
      const accept = upgrade.accept;
      wss.handleUpgrade(req, socket, head, (ws) => accept(ws, socket));
      return;
    }
    const body = Buffer.from(await response.arrayBuffer());
    const lines = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}`];
    response.headers.forEach((value, name) => {
      if (name !== 'content-length' && name !== 'connection' && name !== 'transfer-encoding') lines.push(`${name}: ${value}`);
    });
    lines.push(`content-length: ${body.length}`, 'connection: close', '', '');
    socket.end(Buffer.concat([Buffer.from(lines.join('\r\n')), body]));
  } catch {
    socket.destroy();
  }
}
