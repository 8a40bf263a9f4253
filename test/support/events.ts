import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { inArray } from 'drizzle-orm';
import { webhookDeliveries } from '../../src/modules/webhooks/tables.ts';
import type { TestPlatform } from './platform.ts';

/** Polls `probe` until it returns something truthy; fails with `message` after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T> | T, message = 'condition', timeoutMs = 30_000, intervalMs = 25): Promise<NonNullable<T>> {
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

/**
 * The events received, each once, in the order of first receipt; and proof that none came twice
 * without cause. Delivery is at least once: an attempt that failed, or timed out on a starved machine
 * after the receiver had it, is sent again with the same webhook-id (checked here), which is what
 * receivers de-duplicate on. So a message may reach the receiver again only after an attempt that
 * the delivery log records as failed, or by a deliberate resend (a manual, DLQ or replay retry); a
 * regression that sends a message twice after it was delivered fails here.
 */
export async function distinctInOrder(t: TestPlatform, requests: { id: string; json: any }[]): Promise<string[]> {
  const firstId = new Map<string, string>();
  const receipts = new Map<string, number>();
  for (const r of requests) {
    const seen = firstId.get(r.json.id);
    if (seen === undefined) firstId.set(r.json.id, r.id);
    else expect(r.id, 'a repeated event keeps its webhook-id').toBe(seen);
    receipts.set(r.id, (receipts.get(r.id) ?? 0) + 1);
  }
  const repeated = [...receipts].filter(([, n]) => n > 1);
  if (repeated.length > 0) {
    const attempts = await t.db.system
      .select({ messageId: webhookDeliveries.messageId, status: webhookDeliveries.status, trigger: webhookDeliveries.trigger })
      .from(webhookDeliveries)
      .where(inArray(webhookDeliveries.messageId, repeated.map(([id]) => id)));
    for (const [id, n] of repeated) {
      const causes = attempts.filter((a) => a.messageId === id && (a.status === 'failed' || a.trigger !== 'scheduled')).length;
      expect(n - 1, `message ${id} reached the receiver ${n} times, after ${causes} failed attempts or resends`).toBeLessThanOrEqual(causes);
    }
  }
  return [...firstId.keys()];
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
  /** The server ended the stream. */
  ended: boolean;
  close(): Promise<void>;
}

/** Reads an SSE response into `messages` as it arrives. */
export async function readSse(response: Response): Promise<SseClient> {
  const client: SseClient = { status: response.status, headers: response.headers, messages: [], comments: [], ended: false, close: async () => {} };
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
    client.ended = true;
  })();
  client.close = async () => {
    if (stopped) return;
    stopped = true;
    await reader.cancel().catch(() => {});
  };
  return client;
}

export interface PlinthProcess {
  url: string;
  /** The admin key of the tenant `start` created on the empty database. */
  token: string;
  tenantId: string;
  child: import('node:child_process').ChildProcess;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * `plinth start` in a child process on an empty database (PORT 0). Resolves once it listens, with the
 * admin key it printed for the tenant it created.
 */
export async function spawnPlinth(env: Record<string, string>, options: { bootstrap?: boolean } = {}): Promise<PlinthProcess> {
  const bootstrap = options.bootstrap ?? true;
  const { spawn } = await import('node:child_process');
  const path = await import('node:path');
  const bin = path.resolve(import.meta.dirname, '../../bin/plinth.mjs');
  const child = spawn(process.execPath, [bin, 'start'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawned = Date.now();
  let ready: { url: string; token: string; tenantId: string } | null = null;
  while (!ready) {
    if (child.exitCode !== null) throw new Error(`plinth exited with ${child.exitCode}: ${out}\n${err}`);
    // A fresh embedded database is created and migrated first: about 17 s alone, past 45 s beside another
    // suite (two spawn tests timed out so with the PGlite and PostgreSQL suites run side by side).
    if (Date.now() - spawned > 75_000) throw new Error(`plinth did not start in 75 s: ${out}\n${err}`);
    const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
    const tenantId = /created tenant (tn_\w+)/.exec(out)?.[1];
    const token = /^\s+(sk_[A-Za-z0-9_-]+)\s*$/m.exec(out)?.[1];
    if (url && !bootstrap) ready = { url, token: '', tenantId: '' };
    else if (url && token && tenantId) ready = { url, token, tenantId };
    else await new Promise((r) => setTimeout(r, 50));
  }
  return {
    ...ready,
    child,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** The app on a real loopback port with WebSocket upgrades, as `plinth start` serves it. */
export async function listen(app: { fetch: (request: Request, env?: any) => Response | Promise<Response> }): Promise<{ url: string; port: number; close: () => Promise<void> }> {
  const { createHttpServer } = await import('../../src/core/http/server.ts');
  const { attachWebSockets } = await import('../../src/modules/realtime/index.ts');
  const server = createHttpServer(app.fetch);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const wss = attachWebSockets(server, app);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface WsClient {
  ws: import('ws').WebSocket;
  messages: any[];
  /** HTTP status when the upgrade was refused, and its JSON body. */
  refused?: { status: number; body: any; headers: Record<string, unknown> };
  closed?: { code: number; reason: string };
  opened: Promise<boolean>;
  send(message: unknown): void;
  next(predicate: (message: any) => boolean, what?: string): Promise<any>;
  close(): Promise<void>;
}

/** A WebSocket client that records every message; resolves once it is open or refused. */
export async function connectWs(url: string): Promise<WsClient> {
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(url);
  const client: WsClient = {
    ws,
    messages: [],
    opened: Promise.resolve(false),
    send: (message) => ws.send(typeof message === 'string' ? message : JSON.stringify(message)),
    next: (predicate, what = 'a message') => waitFor(() => client.messages.find(predicate), what),
    close: async () => {
      if (ws.readyState === ws.CLOSED) return;
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.terminate();
      });
    },
  };
  ws.on('message', (data) => client.messages.push(JSON.parse(String(data))));
  ws.on('close', (code, reason) => (client.closed = { code, reason: String(reason) }));
  client.opened = new Promise<boolean>((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => {
        let parsed: unknown = body;
        try {
          parsed = JSON.parse(body);
        } catch {
          // not JSON
        }
        client.refused = { status: res.statusCode ?? 0, body: parsed, headers: res.headers };
        resolve(false);
      });
    });
    ws.once('error', () => resolve(false));
  });
  await client.opened;
  return client;
}


/** POST /v1/webhooks for `url`; answers the endpoint's id and its signing secret. */
export async function createEndpoint(t: TestPlatform, token: string, url: string, body: Record<string, unknown> = {}) {
  const res = await t.request('POST', '/v1/webhooks', { token, body: { url, ...body } });
  expect(res.status, res.text).toBe(201);
  return res.body.data as { id: string; secret: string };
}

/** POST /v1/events: tracks a custom event and answers its id. */
export async function trackEvent(t: TestPlatform, token: string, eventType: string, data: Record<string, unknown> = {}) {
  const res = await t.request('POST', '/v1/events', { token, body: { event_type: eventType, data } });
  expect(res.status, res.text).toBe(200);
  return res.body.data.id as string;
}
