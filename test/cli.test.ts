import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin/plinth.mjs');
const dirs: string[] = [];
const children: ChildProcess[] = [];
const databases: string[] = [];
/** Servers started through npm: not our children, so killed by pid if a test failed before they stopped. */
const serverPids: number[] = [];
/** With DATABASE_URL set (the PostgreSQL pass), the CLI runs on PostgreSQL; on the embedded database otherwise. */
const POSTGRES = Boolean(process.env.DATABASE_URL && inject('pgTemplate'));

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const pid of serverPids) if (running(pid)) process.kill(pid, 'SIGKILL');
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  if (databases.length) {
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    for (const name of databases) await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plinth-cli-'));
  dirs.push(dir);
  return dir;
}

/**
 * Where one test's CLI keeps its state: a data directory, and in the PostgreSQL pass an empty database
 * of its own (as a new install has; named so that the run's teardown drops it if this file cannot).
 */
async function install(): Promise<{ dir: string; databaseUrl?: string }> {
  const dir = tempDir();
  if (!POSTGRES) return { dir };
  const name = `${inject('pgTemplate').replace('plinth_tpl_', 'plinth_t_')}_cli_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  databases.push(name);
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${name}`;
  return { dir, databaseUrl: url.toString() };
}

/** The CLI as a user runs it: its own install, never the suite's database or Redis. */
function cliEnv(place: { dir: string; databaseUrl?: string }, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: place.dir, LOG_LEVEL: 'warn', ...extra };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  delete env.NODE_OPTIONS;
  if (place.databaseUrl) env.DATABASE_URL = place.databaseUrl;
  return env;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts `plinth start` and resolves once it prints where it listens. */
function start(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string; stdout: () => string; exited: Promise<number | null> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'start'], { env: { ...env, PORT: '0', HOST: '127.0.0.1' } });
    children.push(child);
    let stdout = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.stdout!.on('data', (d) => {
      stdout += d;
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (match && /Docs:/.test(stdout)) resolve({ child, url: match[1]!, stdout: () => stdout, exited });
    });
    child.stderr!.on('data', (d) => process.stderr.write(d));
    exited.then((code) => reject(new Error(`plinth start exited with ${code}: ${stdout}`)));
  });
}

/** `npm start` as a user runs it, from the project's folder; resolves once the server prints where it listens and its pid. */
function npmStart(env: NodeJS.ProcessEnv): Promise<{ npm: ChildProcess; serverPid: number; exited: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const npm = spawn('npm', ['start'], { cwd: ROOT, env: { ...env, PORT: '0', HOST: '127.0.0.1', npm_config_update_notifier: 'false' } });
    children.push(npm);
    let out = '';
    const exited = new Promise<void>((r) => npm.on('exit', () => r()));
    const seen = (d: Buffer) => {
      out += d;
      const pid = /listening on http:\/\/\S+ \(.*pid (\d+)\)/.exec(out)?.[1];
      if (pid && !serverPids.includes(Number(pid))) {
        serverPids.push(Number(pid));
        resolve({ npm, serverPid: Number(pid), exited });
      }
    };
    npm.stdout!.on('data', seen);
    npm.stderr!.on('data', seen);
    exited.then(() => reject(new Error(`npm start exited before listening: ${out}`)));
  });
}

/** Whether `pid` is a live process (a zombie nobody has reaped yet counts as gone). */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && fs.existsSync('/proc/self/stat')) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (running(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

// Each test starts real processes on a fresh embedded database (initdb, migrations): seconds on an idle
// machine, minutes on a loaded one, hence the generous timeout.
describe('plinth CLI', { timeout: 240_000 }, () => {
  it('runs on the database of the pass', async () => {
    const place = await install();
    const out = await run(['migrate'], cliEnv(place));
    expect(out.code, out.stderr).toBe(0);
    if (POSTGRES) {
      // The migration went to this install's own PostgreSQL database.
      const db = new pg.Client({ connectionString: place.databaseUrl });
      await db.connect();
      const tables = await db.query(`select count(*)::int as n from information_schema.tables where table_name = 'tenants'`);
      await db.end();
      expect(tables.rows[0].n).toBe(1);
      expect(fs.existsSync(path.join(place.dir, 'pg'))).toBe(false);
    } else {
      expect(fs.existsSync(path.join(place.dir, 'pg'))).toBe(true);
    }
  });

  it('start on an empty database creates a first tenant and prints a key that lists keys', async () => {
    const dir = await install();
    const { child, url, stdout, exited } = await start(cliEnv(dir));
    const key = /\n\s+(sk_[A-Za-z0-9_-]{32})\n/.exec(stdout())?.[1];
    expect(key, stdout()).toBeDefined();
    const res = await fetch(`${url}/v1/keys`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    // Headers are written on the Node response directly on the real server; they must still all be there.
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    expect(res.headers.get('ratelimit')).toMatch(/limit=\d+, remaining=\d+, reset=\d+/);
    expect(res.headers.get('ratelimit-policy')).toBeTruthy();
    expect(res.headers.get('x-usage-requests-remaining')).toMatch(/^\d+$/);
    expect(res.headers.get('x-usage-requests-percent')).toBeTruthy();
    const missing = await fetch(`${url}/v1/nowhere`, { headers: { authorization: `Bearer ${key}` } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('request-id')).toMatch(/^req_/);
    const body = (await res.json()) as { data: { scopes: string[] }[] };
    expect(body.data[0]!.scopes).toEqual(['*']);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    // The second start finds its tenant and does not print a key again.
    const again = await start(cliEnv(dir));
    expect(again.stdout()).not.toMatch(/sk_[A-Za-z0-9_-]{32}/);
    expect(again.stdout()).toContain('plinth bootstrap');
    const still = await fetch(`${again.url}/v1/keys`, { headers: { authorization: `Bearer ${key}` } });
    expect(still.status).toBe(200);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  });

  it('bootstrap --json prints exactly one JSON line with a working key; the embedded database refuses while a server holds it', async () => {
    const dir = await install();
    const out = await run(['bootstrap', '--json', '--name', 'Acme', '--plan', 'pro'], cliEnv(dir));
    expect(out.code, out.stderr).toBe(0);
    const lines = out.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]!) as { tenant_id: string; api_key: string };
    expect(Object.keys(parsed)).toEqual(['tenant_id', 'api_key']);
    expect(parsed.tenant_id).toMatch(/^tn_/);

    const server = await start(cliEnv(dir));
    const usage = await fetch(`${server.url}/v1/usage`, { headers: { authorization: `Bearer ${parsed.api_key}` } });
    expect(((await usage.json()) as { data: { plan_tier: string } }).data.plan_tier).toBe('pro');

    const second = await run(['bootstrap', '--json'], cliEnv(dir));
    if (POSTGRES) {
      // PostgreSQL is shared by every process of an install: bootstrap works beside a running server.
      expect(second.code, second.stderr).toBe(0);
      const created = JSON.parse(second.stdout) as { tenant_id: string; api_key: string };
      const keys = await fetch(`${server.url}/v1/keys`, { headers: { authorization: `Bearer ${created.api_key}` } });
      expect(keys.status).toBe(200);
    } else {
      expect(second.code).toBe(1);
      expect(second.stdout).toBe('');
      expect(second.stderr).toMatch(/in use by process/);
    }

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('drains on SIGTERM: requests sent before it all get whole answers, then the process exits 0', async () => {
    const dir = await install();
    // The delay is what a load balancer needs to notice /ready going 503; here it lets the listen
    // backlog be accepted, so that no request sent before SIGTERM is dropped.
    const server = await start(cliEnv(dir, { SHUTDOWN_DELAY_MS: '1000' }));
    const key = /\n\s+(sk_[A-Za-z0-9_-]{32})\n/.exec(server.stdout())![1]!;
    const call = (p: string) =>
      fetch(`${server.url}${p}`, { headers: { authorization: `Bearer ${key}` } }).then(
        async (r) => ({ status: r.status, body: await r.text() }),
        (e: Error & { cause?: { code?: string } }) => ({ status: 0, body: e.cause?.code ?? e.message }),
      );
    // node:http rather than fetch, to know that each request has been written to its socket before
    // SIGTERM: "sent before" must mean sent, not queued in a loaded test process.
    const written: Promise<void>[] = [];
    const requests = Array.from({ length: 40 }, () => {
      let sent!: () => void;
      written.push(new Promise<void>((r) => (sent = r)));
      return new Promise<{ status: number; body: string }>((resolve) => {
        const req = http.get(`${server.url}/v1/keys`, { headers: { authorization: `Bearer ${key}` }, agent: false }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', (e) => resolve({ status: 0, body: e.message }));
        });
        req.on('finish', () => sent());
        req.on('error', (e: Error & { code?: string }) => {
          sent();
          resolve({ status: 0, body: e.code ?? e.message });
        });
      });
    });
    await Promise.all(written);
    server.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    const ready = await call('/ready');
    const results = await Promise.all(requests);
    expect(await server.exited).toBe(0);
    const failed = results.filter((r) => r.status !== 200);
    expect(failed, `${JSON.stringify(failed)}\n${server.stdout()}`).toEqual([]);
    for (const r of results) expect(JSON.parse(r.body).success).toBe(true);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body).error.details).toEqual({ draining: true });
  });

  it('drains with no delay too: every request written before SIGTERM is answered (none reset)', async () => {
    const dir = await install();
    // No SHUTDOWN_DELAY_MS: what the kernel has queued and what the server has accepted but not yet
    // read must still be served. (http.Server.close() reset nearly all of them.)
    const server = await start(cliEnv(dir));
    const key = /\n\s+(sk_[A-Za-z0-9_-]{32})\n/.exec(server.stdout())![1]!;
    const written: Promise<void>[] = [];
    const requests = Array.from({ length: 200 }, () => {
      let sent!: () => void;
      written.push(new Promise<void>((r) => (sent = r)));
      return new Promise<number | string>((resolve) => {
        const req = http.get(`${server.url}/v1/keys`, { headers: { authorization: `Bearer ${key}` }, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', (e) => resolve(e.message));
        });
        req.on('finish', () => sent());
        req.on('error', (e: Error & { code?: string }) => {
          sent();
          resolve(e.code ?? e.message);
        });
      });
    });
    await Promise.all(written);
    server.child.kill('SIGTERM');
    const results = await Promise.all(requests);
    expect(await server.exited).toBe(0);
    const tally: Record<string, number> = {};
    for (const r of results) tally[r] = (tally[r] ?? 0) + 1;
    expect(tally).toEqual({ 200: 200 });
  });

  it('kill <pid of npm start> stops the server and frees the embedded database; so does npm dying outright', async () => {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const place = await install();
      const { npm, serverPid, exited } = await npmStart(cliEnv(place));
      expect(serverPid).not.toBe(npm.pid);
      const lock = path.join(place.dir, 'pg', 'plinth.pid');
      if (!POSTGRES) expect(fs.readFileSync(lock, 'utf8')).toBe(String(serverPid));
      // The PID that spawn returned: npm's, not the server's.
      process.kill(npm.pid!, signal);
      await exited;
      expect(await gone(serverPid, 30_000), `server ${serverPid} still running after ${signal} to npm`).toBe(true);
      expect(fs.existsSync(lock), 'the data directory lock is released').toBe(false);
    }
  });

  it('openapi writes the document, migrate applies migrations, help lists the commands', async () => {
    const dir = await install();
    const file = path.join(dir.dir, 'spec.json');
    const out = await run(['openapi', file], cliEnv(dir));
    expect(out.code).toBe(0);
    const spec = JSON.parse(fs.readFileSync(file, 'utf8')) as { openapi: string; paths: Record<string, unknown> };
    expect(spec.openapi).toBe('3.1.0');
    expect(spec.paths['/v1/keys']).toBeDefined();
    const migrated = await run(['migrate'], cliEnv(dir));
    expect(migrated.code, migrated.stderr).toBe(0);
    const help = await run(['help'], cliEnv(dir));
    for (const command of ['start', 'worker', 'migrate', 'bootstrap', 'openapi']) expect(help.stdout).toContain(command);
    // An unknown command is a usage error (exit 2), as every CLI command's is.
    const unknown = await run(['frobnicate'], cliEnv(dir));
    expect(unknown.code).toBe(2);
  });
});
