import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { appRoleFor } from '../src/core/db/client.ts';

/**
 * Where a benchmark's server keeps its data: with DATABASE_URL, a database of its own on that server
 * (`admin` is connected to the server, `name` is the database), dropped with its app role by `cleanup`;
 * otherwise an embedded PGlite in a temporary directory. `env` is what the server's environment needs.
 */
export interface BenchStore {
  database: 'PostgreSQL' | 'embedded PGlite';
  env: Record<string, string>;
  admin?: pg.Client;
  name?: string;
  cleanup(): Promise<void>;
}

export async function benchStore(prefix: string): Promise<BenchStore> {
  if (process.env.DATABASE_URL) {
    const name = `plinth_bench_${prefix}_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${name}`;
    return {
      database: 'PostgreSQL',
      env: { DATABASE_URL: url.toString() },
      admin,
      name,
      async cleanup() {
        await admin.query(`drop database if exists ${name} with (force)`);
        await admin.query(`drop role if exists ${appRoleFor(name)}`).catch(() => {});
        await admin.end();
      },
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `plinth-bench-${prefix}-`));
  return { database: 'embedded PGlite', env: { DATA_DIR: dir }, cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The middle value (the mean of the two middle ones of an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** User + system CPU time of a process (all its threads) so far, in ms, from /proc (Linux); NaN elsewhere. */
export function cpuMsOf(pid: number | undefined): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

/**
 * `plinth start` of the checkout at `root` in a child process (its stdout piped, stderr shown), once it
 * listens: `base` is its URL. `nodeArgs` go before the script (a preload, a profiler).
 */
export async function startPlinth(root: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, 'bin/plinth.mjs'), 'start'], { env, cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 300_000;
  while (!/listening on http/.test(out)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`plinth start in ${root} did not start`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, base: `http://127.0.0.1:${/listening on http:\/\/[^:]+:(\d+)/.exec(out)![1]}` };
}

/** The system admin key of the servers benchmarks start. */
export const BENCH_ADMIN_KEY = 'bench-admin-key-0123456789abcdef';

/** The environment of a `plinth start` a benchmark runs: its store, a port of its own, warnings only, the bench admin key; `extra` on top. */
export function plinthEnv(store: BenchStore, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...(process.env as Record<string, string>),
    ...store.env,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    PLINTH_ADMIN_KEY: BENCH_ADMIN_KEY,
    ...extra,
  };
}

export type ApiCall = (method: string, path: string, token: string | undefined, body?: unknown) => Promise<any>;

/** JSON calls to the server at `base`: the `data` of a 2xx answer, else an error naming the call. */
export function apiCaller(base: string): ApiCall {
  return async (method, path, token, body) => {
    const res = await fetch(base + path, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const json = (await res.json()) as { data: any };
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json.data;
  };
}

/** A tenant on the enterprise plan with limits no benchmark reaches; answers its admin API key. */
export async function benchTenant(call: ApiCall, name: string): Promise<string> {
  const created = await call('POST', '/v1/admin/tenants', BENCH_ADMIN_KEY, {
    name,
    plan_tier: 'enterprise',
    plan_limits: { rate_limit_per_minute: 100_000_000, requests_per_month: 1_000_000_000 },
  });
  return created.api_key.token as string;
}
