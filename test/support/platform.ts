import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino, { type Logger } from 'pino';
import { inject } from 'vitest';
import { createPlatform, type Platform } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Clock } from '../../src/core/clock.ts';
import { appRoleFor, openDatabase, type Database } from '../../src/core/db/client.ts';

export const ADMIN_KEY = 'test-admin-key-0123456789abcdef';

export interface TestResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** The caller's address, as the socket would report it. */
  ip?: string;
}

export interface TestPlatform extends Platform {
  db: Database;
  /** The PostgreSQL URL of this platform's private database (undefined on PGlite). */
  databaseUrl?: string;
  /** Environment this platform was configured with (a second process of the same deployment reuses it). */
  env: Record<string, string | undefined>;
  request<T = any>(method: string, path: string, options?: RequestOptions): Promise<TestResponse<T>>;
  /** A new tenant through the admin API; `token` is its admin key (scope `*`). */
  newTenant(input?: Record<string, unknown>): Promise<{ tenantId: string; token: string; keyId: string }>;
  /** A key of the tenant behind `token` with the given scopes and settings. */
  newKey(token: string, input: Record<string, unknown>): Promise<{ id: string; token: string }>;
}

/**
 * A PostgreSQL database copied from the run's migrated template (DATABASE_URL runs); `drop` removes it.
 * Its policies name the template's app role (`appRole`); a server started on it with migrations moves
 * them to the copy's own role.
 */
export async function copyPostgresTemplate(): Promise<{ url: string; appRole: string; drop: () => Promise<void> }> {
  const pgTemplate = inject('pgTemplate');
  const base = process.env.DATABASE_URL!;
  const name = `${pgTemplate.replace('plinth_tpl_', 'plinth_t_')}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  // Two files copying the template at once can collide on its lock; try again shortly.
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.query(`create database ${name} template ${pgTemplate}`);
      break;
    } catch (error) {
      if (attempt >= 20) throw error;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    appRole: appRoleFor(pgTemplate),
    drop: async () => {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

/** A copy of the migrated template database, private to the calling test file. */
async function freshDatabase(): Promise<{ db: Database; drop: () => Promise<void>; url?: string }> {
  if (inject('pgTemplate') && process.env.DATABASE_URL) {
    const copy = await copyPostgresTemplate();
    // Not migrated again (that costs seconds per file): it keeps the template's role.
    const db = await openDatabase({ databaseUrl: copy.url, poolMax: 5, appRole: copy.appRole });
    return {
      db,
      url: copy.url,
      drop: async () => {
        await db.close();
        await copy.drop();
      },
    };
  }
  const file = inject('pgliteTemplate');
  // The engine runs where `plinth start` runs it: in a worker thread, unless PGLITE_WORKER=false.
  const db = await openDatabase({ pgliteDir: 'memory://', pgliteLoad: new Blob([fs.readFileSync(file)]), pgliteWorker: loadConfig(process.env).PGLITE_WORKER });
  return { db, drop: () => db.close() };
}

export async function testPlatform(env: Record<string, string> = {}, options: { logger?: Logger; clock?: Clock } = {}): Promise<TestPlatform> {
  const { db, drop, url } = await freshDatabase();
  const configEnv: Record<string, string | undefined> = {
    NODE_ENV: 'test',
    DATA_DIR: 'memory://',
    LOG_LEVEL: 'silent',
    JOBS_POLL_SECONDS: '0.5',
    PLINTH_ADMIN_KEY: ADMIN_KEY,
    REDIS_URL: process.env.REDIS_URL,
    // Each platform its own Redis namespace, so files running side by side never share limits.
    REDIS_PREFIX: `plinth-test:${randomBytes(6).toString('hex')}:`,
    // A second kernel on this database (t.env) runs as the role its policies name.
    DB_APP_ROLE: url ? db.appRole : undefined,
    ...env,
  };
  const config = loadConfig(configEnv);
  const platform = await createPlatform(config, { db, migrate: false, logger: options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), clock: options.clock });

  const request: TestPlatform['request'] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: RequestInit['body'];
    if (opts.body !== undefined) {
      if (typeof opts.body === 'string' || opts.body instanceof Uint8Array || opts.body instanceof FormData) {
        body = opts.body as RequestInit['body'];
      } else {
        body = JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
    }
    const env = { incoming: { socket: { remoteAddress: opts.ip ?? '127.0.0.1', remotePort: 40000 } } };
    const res = await platform.app.request(path, { method, headers, body }, env);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (HTML pages)
    }
    return { status: res.status, headers: res.headers, body: parsed as any, text };
  };

  const newTenant: TestPlatform['newTenant'] = async (input = {}) => {
    const res = await request('POST', '/v1/admin/tenants', { token: ADMIN_KEY, body: { name: `Tenant ${randomBytes(3).toString('hex')}`, ...input } });
    if (res.status !== 201) throw new Error(`tenant creation failed: ${res.status} ${res.text}`);
    return { tenantId: res.body.data.tenant.id, token: res.body.data.api_key.token, keyId: res.body.data.api_key.key.id };
  };

  const newKey: TestPlatform['newKey'] = async (token, input) => {
    const res = await request('POST', '/v1/keys', { token, body: { label: 'test key', ...input } });
    if (res.status !== 201) throw new Error(`key creation failed: ${res.status} ${res.text}`);
    return { id: res.body.data.key.id, token: res.body.data.token };
  };

  return {
    ...platform,
    db,
    databaseUrl: url,
    env: configEnv,
    request,
    newTenant,
    newKey,
    close: async () => {
      await platform.close().catch(() => {});
      await drop();
    },
  };
}
