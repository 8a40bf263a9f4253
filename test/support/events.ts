import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Polls `probe` until it returns something truthy; fails with `message` after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T> | T, message = 'condition', timeoutMs = 20_000, intervalMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${message} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** `webhook-id`, `webhook-timestamp`, `webhook-signature` as sent. */
  id: string;
  timestamp: string;
  signature: string;
  json: any;
  /** What the receiver answered (null while hanging). */
  status: number | null;
}

export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Decides each answer; 200 by default. */
  reply: (request: ReceivedRequest) => Reply;
  /** Stops listening: connections are refused until `up`. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

/** A webhook receiver on a free loopback port that records every request and answers as told. */
export async function startReceiver(path = '/hook'): Promise<Receiver> {
  const hanging = new Set<http.ServerResponse>();
  let server: http.Server;
  const receiver: Receiver = {
    url: '',
    port: 0,
    requests: [],
    reply: () => ({ status: 200, body: 'ok' }),
    async down() {
      for (const res of hanging) res.destroy();
      hanging.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    async up() {
      server = makeServer();
      await new Promise<void>((resolve) => server.listen(receiver.port, '127.0.0.1', resolve));
    },
    async close() {
      if (server.listening) await receiver.down();
    },
  };
  const makeServer = () =>
    http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown = null;
        try {
          json = JSON.parse(body);
        } catch {
          // not JSON
        }
        const request: ReceivedRequest = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body,
          id: String(req.headers['webhook-id'] ?? ''),
          timestamp: String(req.headers['webhook-timestamp'] ?? ''),
          signature: String(req.headers['webhook-signature'] ?? ''),
          json,
          status: null,
        };
        receiver.requests.push(request);
        const reply = receiver.reply(request);
        if (reply === 'hang') {
          hanging.add(res);
          return;
        }
        request.status = reply.status;
        res.writeHead(reply.status, reply.headers ?? {});
        res.end(reply.body ?? '');
      });
    });
  server = makeServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}${path}`;
  return receiver;
}

export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

export interface SseClient {
  status: number;
  headers: Headers;
  messages: SseMessage[];
  /** Comment lines (heartbeats). */
  comments: string[];
  /** The raw error body when the stream did not open. */
  body?: any;
  close(): Promise<void>;
}

/** Reads an SSE response into `messages` as it arrives. */
export async function readSse(response: Response): Promise<SseClient> {
  const client: SseClient = { status: response.status, headers: response.headers, messages: [], comments: [], close: async () => {} };
  if (response.status !== 200 || !response.body) {
    const text = await response.text();
    try {
      client.body = JSON.parse(text);
    } catch {
      client.body = text;
    }
    return client;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let stopped = false;
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const message: SseMessage = { data: '' };
          const data: string[] = [];
          let isComment = true;
          for (const line of frame.split('\n')) {
            if (line.startsWith(':')) {
              client.comments.push(line.slice(1).trim());
              continue;
            }
            isComment = false;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'data') data.push(value);
            else if (field === 'id') message.id = value;
            else if (field === 'event') message.event = value;
          }
          if (!isComment) {
            message.data = data.join('\n');
            client.messages.push(message);
          }
        }
      }
    } catch {
      // cancelled
    }
  })();
  client.close = async () => {
    if (stopped) return;
    stopped = true;
    await reader.cancel().catch(() => {});
  };
  return client;
}
