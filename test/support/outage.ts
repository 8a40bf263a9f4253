import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { TcpProxy } from './proxy.ts';
import { appRoleFor } from '../../src/core/db/client.ts';

/**
 * The outage drill shared by test/outage.test.ts and bench/outage.ts: a real `plinth start` process
 * talks to PostgreSQL (and Redis) through TCP proxies; a mixed load of reads and writes runs while the
 * drill cuts Redis alone, then PostgreSQL, and restores them. It reports what the clients saw: every
 * status, whether each 503 carried Retry-After and the error envelope, /ready during the outage, how
 * long the server took to work again, whether every acknowledged write is stored and delivered as a
 * webhook, and whether the process survived.
 *
 * No vitest import: the benchmark runs it as a plain script.
 */

export interface OutageOptions {
  /** A migrated (or empty) PostgreSQL database of its own, reached directly (the drill proxies it). */
  databaseUrl: string;
  redisUrl?: string;
  /** Load before anything is cut. */
  warmupMs: number;
  /** Redis alone cut for this long (with redisUrl; 0 skips). Requests must all succeed meanwhile. */
  redisOutageMs: number;
  /** PostgreSQL cut for this long. */
  outageMs: number;
  /** Load kept up after the server works again. */
  settleMs: number;
  /** Longest wait for recovery after PostgreSQL returns before the drill gives up (reported as null). */
  recoveryTimeoutMs: number;
  /** Concurrent clients. */
  concurrency: number;
  /** Environment for the server beyond the drill's own. */
  env?: Record<string, string>;
  log?: (line: string) => void;
}

export interface Failure {
  op: string;
  phase: Phase;
  status: number;
  detail: string;
}

export type Phase = 'warmup' | 'redis-down' | 'redis-back' | 'db-down' | 'db-back';

export interface OutageReport {
  requests: number;
  byStatus: Record<string, number>;
  byPhase: Record<Phase, Record<string, number>>;
  /** 5xx other than 503, other unexpected statuses, network errors and timeouts; each with its phase. */
  failures: Failure[];
  /** 503s, and those without Retry-After or without the standard error envelope. */
  unavailable: number;
  unavailableMalformed: Failure[];
  /** /ready statuses while PostgreSQL was down. */
  readyDuringOutage: number[];
  /**
   * A write with an Idempotency-Key while only Redis was down (its record lives there): whether it
   * answered 503 with Retry-After in the envelope, and the status of the same request once Redis was back.
   */
  idempotentWhileRedisDown?: { status: number; wellFormed: boolean; statusAfter: number };
  /** Seconds from PostgreSQL's return until requests stopped failing; null if it did not recover. */
  recoverySeconds: number | null;
  acknowledgedWrites: number;
  /** Acknowledged (2xx) writes that are not in the database afterwards. */
  lostWrites: string[];
  /** Acknowledged writes whose object.created webhook never arrived (within the bound). */
  undeliveredWebhooks: number;
  crashed: boolean;
  /** The server's stderr when it crashed (or its last lines). */
  serverOutput: string;
}

const BIN = path.resolve(import.meta.dirname, '../../bin/plinth.mjs');
const ADMIN_KEY = 'outage-drill-admin-key-0123456789';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Server {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<void>;
}

async function startServer(env: Record<string, string>): Promise<Server> {
  const child = spawn(process.execPath, [BIN, 'start'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'production', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`plinth exited with ${child.exitCode}: ${out}`);
    if (Date.now() - started > 60_000) throw new Error(`plinth did not start in 60 s: ${out}`);
    const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
    if (url) return { child, url, output: () => out, exited };
    await sleep(50);
  }
}

/** A webhook receiver: the ids of the records whose object.created arrived. */
async function startReceiver(): Promise<{ url: string; created: Set<string>; close: () => Promise<void> }> {
  const created = new Set<string>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      try {
        const event = JSON.parse(body) as { type?: string; resource_id?: string };
        if (event.type === 'object.created' && event.resource_id) created.add(event.resource_id);
      } catch {
        // not JSON
      }
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    created,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Answer {
  status: number;
  headers: Headers;
  body: any;
  error?: string;
}

async function call(url: string, method: string, token: string, body?: unknown, timeoutMs = 30_000, headers: Record<string, string> = {}): Promise<Answer> {
  try {
    const res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: the envelope check below says so
    }
    return { status: res.status, headers: res.headers, body: parsed };
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } };
    return { status: 0, headers: new Headers(), body: null, error: e.cause?.code ?? e.cause?.message ?? e.name ?? e.message };
  }
}

const isEnvelope = (body: any, code: string) =>
  body && body.success === false && body.error?.code === code && typeof body.error.message === 'string' && typeof body.request_id === 'string';

export async function runOutage(options: OutageOptions): Promise<OutageReport> {
  const log = options.log ?? (() => {});
  const pgProxy = await TcpProxy.start(options.databaseUrl);
  const redisProxy = options.redisUrl ? await TcpProxy.start(options.redisUrl) : undefined;
  const receiver = await startReceiver();
  let server: Server | undefined;
  let crashed = false;
  try {
    server = await startServer({
      DATABASE_URL: pgProxy.through(options.databaseUrl),
      ...(options.redisUrl ? { REDIS_URL: redisProxy!.through(options.redisUrl), REDIS_PREFIX: `plinth-outage:${process.pid}:${Date.now()}:` } : {}),
      PLINTH_ADMIN_KEY: ADMIN_KEY,
      OUTBOUND_ALLOW_LOOPBACK: 'true',
      EVENTS_POLL_MS: '250',
      WEBHOOK_TICK_MS: '250',
      JOBS_POLL_SECONDS: '0.5',
      ...options.env,
    });
    const srv = server;
    srv.exited.then(() => {
      crashed = true;
    });
    const base = srv.url;

    // A tenant whose limits the load cannot reach, a record type, and a webhook for its creations.
    const tenant = await call(`${base}/v1/admin/tenants`, 'POST', ADMIN_KEY, {
      name: 'Outage drill',
      plan_tier: 'enterprise',
      plan_limits: { rate_limit_per_minute: 100_000_000, requests_per_month: 1_000_000_000 },
    });
    if (tenant.status !== 201) throw new Error(`tenant: ${tenant.status} ${JSON.stringify(tenant.body)}`);
    const token = tenant.body.data.api_key.token as string;
    for (const [p, b] of [
      ['/v1/object-types', { name: 'note' }],
      ['/v1/object-types/note/properties', { name: 'title', data_type: 'string' }],
      ['/v1/webhooks', { url: receiver.url, events: ['object.created'] }],
    ] as const) {
      const res = await call(base + p, 'POST', token, b);
      if (res.status !== 201) throw new Error(`${p}: ${res.status} ${JSON.stringify(res.body)}`);
    }

    let phase: Phase = 'warmup';
    let idempotentWhileRedisDown: OutageReport['idempotentWhileRedisDown'];
    const byStatus: Record<string, number> = {};
    const byPhase = {} as Record<Phase, Record<string, number>>;
    const failures: Failure[] = [];
    const unavailableMalformed: Failure[] = [];
    const acknowledged: string[] = [];
    let requests = 0;
    let unavailable = 0;
    /** When the last failed (non-2xx) load answer after PostgreSQL's return arrived. */
    let lastFailureAt = 0;

    const record = (op: string, res: Answer, startedIn: Phase) => {
      requests += 1;
      const key = res.error ? `error:${res.error}` : String(res.status);
      byStatus[key] = (byStatus[key] ?? 0) + 1;
      const bucket = (byPhase[startedIn] ??= {});
      bucket[key] = (bucket[key] ?? 0) + 1;
      if (res.status >= 200 && res.status < 300) return;
      if (startedIn === 'db-back' || phase === 'db-back') lastFailureAt = Date.now();
      const detail = res.error ?? JSON.stringify(res.body).slice(0, 300);
      // 503 is the answer while PostgreSQL is down (or as it comes back); never with only Redis down.
      if (res.status === 503 && (startedIn === 'db-down' || startedIn === 'db-back' || phase === 'db-down')) {
        unavailable += 1;
        const retryAfter = res.headers.get('retry-after');
        if (!retryAfter || !/^\d+$/.test(retryAfter) || !isEnvelope(res.body, 'SERVICE_UNAVAILABLE') || !res.headers.get('request-id')) {
          unavailableMalformed.push({ op, phase: startedIn, status: res.status, detail: `retry-after=${retryAfter} ${detail}` });
        }
        return;
      }
      failures.push({ op, phase: startedIn, status: res.status, detail });
    };

    // The load: each client cycles through a write, a list, a read of its last write and GET /v1/keys.
    let running = true;
    let counter = 0;
    const client = async (n: number) => {
      let last: string | undefined;
      for (let i = n; running; i++) {
        const startedIn = phase;
        const kind = i % 4;
        if (kind === 0) {
          const title = `w-${n}-${counter++}`;
          const res = await call(`${base}/v1/objects/note`, 'POST', token, { properties: { title } });
          record('write', res, startedIn);
          if (res.status === 201) {
            last = res.body.data.id as string;
            acknowledged.push(last);
          }
        } else if (kind === 1) {
          record('list', await call(`${base}/v1/objects/note/list?limit=5`, 'GET', token), startedIn);
        } else if (kind === 2 && last) {
          record('read', await call(`${base}/v1/objects/note/${last}`, 'GET', token), startedIn);
        } else {
          record('keys', await call(`${base}/v1/keys`, 'GET', token), startedIn);
        }
        if (crashed) return;
      }
    };
    const clients = Array.from({ length: options.concurrency }, (_, n) => client(n));

    await sleep(options.warmupMs);
    if (redisProxy && options.redisOutageMs > 0) {
      log(`cutting Redis for ${options.redisOutageMs} ms`);
      phase = 'redis-down';
      await redisProxy.cut();
      const redisBackAt = Date.now() + options.redisOutageMs;
      await sleep(Math.min(500, options.redisOutageMs / 2));
      const idempotent = { headers: { 'idempotency-key': `drill-${Date.now()}` } };
      const during = await call(`${base}/v1/objects/note`, 'POST', token, { properties: { title: 'idempotent' } }, 30_000, idempotent.headers);
      if (during.status === 201) acknowledged.push(during.body.data.id);
      await sleep(Math.max(0, redisBackAt - Date.now()));
      await redisProxy.restore();
      phase = 'redis-back';
      log('Redis restored');
      await sleep(Math.min(2_000, options.warmupMs));
      const after = await call(`${base}/v1/objects/note`, 'POST', token, { properties: { title: 'idempotent' } }, 30_000, idempotent.headers);
      if (after.status === 201) acknowledged.push(after.body.data.id);
      idempotentWhileRedisDown = {
        status: during.status,
        wellFormed: /^\d+$/.test(during.headers.get('retry-after') ?? '') && isEnvelope(during.body, 'SERVICE_UNAVAILABLE'),
        statusAfter: after.status,
      };
    }

    log(`cutting PostgreSQL for ${options.outageMs} ms`);
    phase = 'db-down';
    await pgProxy.cut();
    const readyDuringOutage: number[] = [];
    const outageEnds = Date.now() + options.outageMs;
    while (Date.now() < outageEnds && !crashed) {
      const ready = await call(`${base}/ready`, 'GET', token, undefined, 10_000);
      readyDuringOutage.push(ready.status);
      if (ready.status === 503 && !isEnvelope(ready.body, 'SERVICE_UNAVAILABLE')) {
        unavailableMalformed.push({ op: 'ready', phase: 'db-down', status: 503, detail: JSON.stringify(ready.body) });
      }
      await sleep(250);
    }
    await pgProxy.restore();
    const restoredAt = Date.now();
    phase = 'db-back';
    log('PostgreSQL restored');

    // Recovered: /ready, a write and a read all succeed, and the load has stopped seeing failures.
    let recoverySeconds: number | null = null;
    while (!crashed && Date.now() - restoredAt < options.recoveryTimeoutMs) {
      const ready = await call(`${base}/ready`, 'GET', token, undefined, 10_000);
      const write = await call(`${base}/v1/objects/note`, 'POST', token, { properties: { title: 'probe' } });
      if (write.status === 201) acknowledged.push(write.body.data.id);
      const read = await call(`${base}/v1/objects/note/list?limit=1`, 'GET', token);
      if (ready.status === 200 && write.status === 201 && read.status === 200) {
        // Quiet for a second: no load request failed lately.
        if (Date.now() - Math.max(lastFailureAt, restoredAt) >= 1_000 || lastFailureAt < restoredAt) {
          recoverySeconds = (Math.max(lastFailureAt, restoredAt) - restoredAt) / 1000;
          break;
        }
      }
      await sleep(100);
    }
    log(recoverySeconds === null ? 'did not recover' : `recovered ${recoverySeconds.toFixed(2)} s after PostgreSQL returned`);
    await sleep(options.settleMs);
    running = false;
    await Promise.all(clients);
    // A failure during the settle period means it had not recovered after all.
    if (recoverySeconds !== null && lastFailureAt > restoredAt) recoverySeconds = Math.max(recoverySeconds, (lastFailureAt - restoredAt) / 1000);

    // Every acknowledged write is stored (read directly, not through the server under test).
    const direct = new pg.Client({ connectionString: options.databaseUrl });
    await direct.connect();
    const found = await direct.query<{ id: string }>('select id from objects where id = any($1)', [acknowledged]);
    await direct.end();
    const stored = new Set(found.rows.map((r) => r.id));
    const lostWrites = acknowledged.filter((id) => !stored.has(id));

    // And each one's webhook arrives: the outbox consumer and the delivery worker resumed.
    const waitFrom = Date.now();
    const deadline = waitFrom + 60_000;
    while (!crashed && Date.now() < deadline && acknowledged.some((id) => !receiver.created.has(id))) await sleep(250);
    const undeliveredWebhooks = acknowledged.filter((id) => !receiver.created.has(id)).length;
    log(`webhooks: ${acknowledged.length - undeliveredWebhooks} of ${acknowledged.length} delivered, waited ${((Date.now() - waitFrom) / 1000).toFixed(1)} s after the load`);

    return {
      requests,
      byStatus,
      byPhase,
      failures,
      unavailable,
      unavailableMalformed,
      readyDuringOutage,
      idempotentWhileRedisDown,
      recoverySeconds,
      acknowledgedWrites: acknowledged.length,
      lostWrites,
      undeliveredWebhooks,
      crashed,
      serverOutput: srv.output().slice(-4_000),
    };
  } finally {
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      const stopping = Date.now();
      server.child.kill('SIGTERM');
      await Promise.race([server.exited, sleep(15_000)]);
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
      log(`server stopped ${((Date.now() - stopping) / 1000).toFixed(1)} s after SIGTERM`);
    }
    await receiver.close();
    await pgProxy.close();
    await redisProxy?.close();
  }
}

/** A fresh database on the server of `baseUrl`, migrated by the server under test on its first start. */
export async function scratchDatabase(baseUrl: string, name: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.query(`drop database if exists ${name} with (force)`).catch(() => {});
      // Its app role (plinth_app_<name>) is the server's, not the database's.
      await admin.query(`drop role if exists ${appRoleFor(name)}`).catch(() => {});
      await admin.end().catch(() => {});
    },
  };
}
