import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

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
    let stderr = '';
    let signal: NodeJS.Signals | null = null;
    const exited = new Promise<number | null>((r) =>
      child.on('exit', (code, killedBy) => {
        signal = killedBy;
        r(code);
      }),
    );
    child.stdout!.on('data', (d) => {
      stdout += d;
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (match && /Docs:/.test(stdout)) resolve({ child, url: match[1]!, stdout: () => stdout, exited });
    });
    child.stderr!.on('data', (d) => {
      stderr += d;
      process.stderr.write(d);
    });
    exited.then((code) => reject(new Error(`plinth start exited with ${code} (signal ${signal}): ${stdout}\nstderr: ${stderr.slice(-2000)}`)));
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

/** A webhook receiver: answers 200 and keeps each body. */
function receiver(): Promise<{ url: string; bodies: { type: string; id: string; resource_id: string | null }[]; close: () => void }> {
  const bodies: { type: string; id: string; resource_id: string | null }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      bodies.push(JSON.parse(body));
      res.end('ok');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, bodies, close: () => server.close() })));
}

async function until<T>(what: () => T | undefined, withinMs = 60_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = what();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

// The client commands, each run as the real binary against one running server.
describe('plinth client commands', { timeout: 600_000 }, () => {
  const ADMIN = 'cli-test-admin-key-0123456789abcdef';
  let env: NodeJS.ProcessEnv;
  let url: string;
  let hook: Awaited<ReturnType<typeof receiver>>;
  let dir: string;
  const plinth = (...args: string[]) => run(args, env);
  const api = (method: string, p: string, token: string) => fetch(`${url}${p}`, { method, headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    const place = await install();
    dir = place.dir;
    const server = await start(cliEnv(place, { PLINTH_ADMIN_KEY: ADMIN, OUTBOUND_ALLOW_LOOPBACK: 'true' }));
    url = server.url;
    const key = /\n\s+(sk_[A-Za-z0-9_-]{32})\n/.exec(server.stdout())![1]!;
    env = { ...process.env, PLINTH_URL: url, PLINTH_API_KEY: key };
    delete env.PLINTH_ADMIN_KEY;
    delete env.NODE_OPTIONS;
    hook = await receiver();
    // A fresh server's start (initdb, migrations) takes minutes on a loaded machine.
  }, 300_000);
  afterAll(() => hook?.close());

  it('has --help on every command; usage errors exit 2, a refused key 1, an unreachable server 3', async () => {
    const root = await plinth('--help');
    expect(root.code).toBe(0);
    const groups = { keys: ['list', 'create', 'rotate', 'revoke'], tenants: ['list', 'create', 'suspend'], types: ['list', 'create', 'show'], records: ['list', 'get', 'create', 'import', 'export'], users: ['list', 'invite'], webhooks: ['list', 'create', 'test', 'replay'], events: ['tail'] };
    for (const [group, subs] of Object.entries(groups)) {
      expect(root.stdout).toContain(group);
      for (const sub of subs) {
        const help = await plinth(group, sub, '--help');
        expect(help.code, `${group} ${sub} --help`).toBe(0);
        expect(help.stdout).toContain(`Usage: plinth ${group} ${sub}`);
        expect(help.stdout).toContain('--json');
      }
    }

    for (const args of [['frobnicate'], ['keys', 'frob'], ['keys'], ['records', 'get', 'contacts'], ['keys', 'create', '--label', 'x'], ['keys', 'list', '--status', 'nope'], ['types', 'create', 'x', '-p', 'bad spec']]) {
      const out = await plinth(...args);
      expect(out.code, args.join(' ')).toBe(2);
      expect(out.stdout, args.join(' ')).toBe('');
    }
    const noKey = await run(['keys', 'list'], { ...env, PLINTH_API_KEY: '' });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('PLINTH_API_KEY');

    const refused = await plinth('keys', 'list', '--key', `sk_${'x'.repeat(32)}`);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^plinth: UNAUTHORIZED: .+ \(request req_/m);
    const refusedJson = await plinth('--json', 'keys', 'list', '--key', `sk_${'x'.repeat(32)}`);
    expect(refusedJson.code).toBe(1);
    expect(refusedJson.stdout).toBe('');

    const port = await closedPort();
    const unreachable = await plinth('keys', 'list', '--url', `http://127.0.0.1:${port}`);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain(`cannot connect to http://127.0.0.1:${port}`);
    const unreachableByEnv = await run(['types', 'list'], { ...env, PLINTH_URL: `http://127.0.0.1:${port}` });
    expect(unreachableByEnv.code).toBe(3);
  });

  it('keys list, create, rotate and revoke', async () => {
    const list = await plinth('keys', 'list');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+LABEL\s+PREFIX\s+SCOPES\s+STATUS/);
    expect(list.stdout).toMatch(/Admin key\s+sk_\S+\s+\*\s+active/);

    const created = await plinth('keys', 'create', '--label', 'ci', '--scopes', 'read,schema', '-q');
    expect(created.code, created.stderr).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^sk_[A-Za-z0-9_-]{32}$/);
    expect((await api('GET', '/v1/object-types', token)).status).toBe(200);

    const publishable = await plinth('--json', 'keys', 'create', '--label', 'web', '--scopes', 'auth');
    expect(publishable.code).toBe(0);
    expect((JSON.parse(publishable.stdout) as { token: string }).token).toMatch(/^pk_/);

    const json = JSON.parse((await plinth('keys', 'list', '--json')).stdout) as { id: string; label: string; scopes: string[] }[];
    const ci = json.find((k) => k.label === 'ci')!;
    expect(ci.scopes).toEqual(['read', 'schema']);

    const rotated = await plinth('keys', 'rotate', ci.id);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toContain(`Rotated ${ci.id}`);
    const newToken = /\n\s+(sk_\S+)\n/.exec(rotated.stdout)![1]!;
    expect((await api('GET', '/v1/object-types', newToken)).status).toBe(200);
    expect((await api('GET', '/v1/object-types', token)).status).toBe(401);

    const newId = (JSON.parse((await plinth('--json', 'keys', 'list', '--status', 'active')).stdout) as { id: string; label: string }[]).find((k) => k.label === 'ci')!.id;
    const revoked = await plinth('keys', 'revoke', newId);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`Revoked ${newId}`);
    expect((await api('GET', '/v1/object-types', newToken)).status).toBe(401);
    expect((await plinth('keys', 'revoke', 'key_nope')).code).toBe(1);
  });

  it('tenants list, create and suspend with the admin key; a tenant key is refused', async () => {
    const admin = { ...env, PLINTH_ADMIN_KEY: ADMIN };
    const list = await run(['tenants', 'list'], admin);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+NAME\s+SLUG\s+PLAN\s+STATUS/);
    expect(list.stdout).toContain('Default');

    const created = await run(['tenants', 'create', 'Acme Corp', '--plan', 'pro', '-q'], admin);
    expect(created.code, created.stderr).toBe(0);
    const acmeKey = created.stdout.trim();
    expect((await api('GET', '/v1/keys', acmeKey)).status).toBe(200);
    const tenants = JSON.parse((await run(['tenants', 'list', '--json'], admin)).stdout) as { tenants: { id: string; slug: string; plan_tier: string }[] };
    const acme = tenants.tenants.find((t) => t.slug === 'acme-corp')!;
    expect(acme.plan_tier).toBe('pro');

    const suspended = await run(['tenants', 'suspend', acme.id, '--reason', 'unpaid'], admin);
    expect(suspended.code, suspended.stderr).toBe(0);
    expect(suspended.stdout).toContain('is suspended');
    expect((await api('GET', '/v1/keys', acmeKey)).status).toBe(403);
    expect((await run(['tenants', 'suspend', acme.id, '--undo'], admin)).stdout).toContain('is active');

    // --key wins over PLINTH_ADMIN_KEY: a tenant key is no admin key.
    const asTenant = await run(['tenants', 'list', '--key', env.PLINTH_API_KEY!], admin);
    expect(asTenant.code).toBe(1);
    expect(asTenant.stderr).toContain('UNAUTHORIZED');
  });

  it('types and records: create, list, show, get, import and export', async () => {
    const type = await plinth('types', 'create', 'deals', '--display-name', 'Deals', '-p', 'name:string:required', '-p', 'stage:enum(open,won,lost):indexed', '-p', 'amount:number');
    expect(type.code, type.stderr).toBe(0);
    expect(type.stdout).toMatch(/Created type deals \(ot_\S+\) with 3 properties/);
    expect((await plinth('types', 'list')).stdout).toMatch(/^NAME\s+DISPLAY NAME\s+ID[\s\S]*\ndeals\s+Deals\s+ot_/);
    const show = await plinth('types', 'show', 'deals');
    expect(show.stdout).toMatch(/NAME\s+TYPE\s+REQUIRED/);
    expect(show.stdout).toMatch(/stage\s+enum\(open,won,lost\)/);
    expect((JSON.parse((await plinth('--json', 'types', 'show', 'deals')).stdout) as { properties: unknown[] }).properties).toHaveLength(3);
    expect((await plinth('types', 'show', 'nope')).code).toBe(1);

    const created = await plinth('records', 'create', 'deals', 'name=Big one', 'stage=open', 'amount:=1200.5', '-q');
    expect(created.code, created.stderr).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(/^obj_/);
    const get = await plinth('records', 'get', 'deals', id);
    expect(get.stdout).toMatch(/name:\s+Big one/);
    expect((JSON.parse((await plinth('--json', 'records', 'get', 'deals', id)).stdout) as { properties: { amount: number } }).properties.amount).toBe(1200.5);
    const invalid = await plinth('records', 'create', 'deals', 'name=x', 'stage=bogus');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('VALIDATION_ERROR');

    const csv = path.join(dir, 'deals.csv');
    fs.writeFileSync(csv, `name,stage,amount\n${Array.from({ length: 600 }, (_, i) => `deal ${i},${i % 2 ? 'won' : 'open'},${i}`).join('\n')}\nbroken,nope,1\n`);
    const imported = await plinth('records', 'import', 'deals', csv);
    expect(imported.code).toBe(1);
    expect(imported.stdout).toContain('Imported 600 of 601 rows into deals');
    expect(imported.stdout).toMatch(/row 601: properties\.stage/);
    const jsonFile = path.join(dir, 'deals.json');
    fs.writeFileSync(jsonFile, JSON.stringify([{ name: 'json one', stage: 'lost' }]));
    const importedJson = await plinth('--json', 'records', 'import', 'deals', jsonFile);
    expect(importedJson.code, importedJson.stderr).toBe(0);
    expect(JSON.parse(importedJson.stdout)).toMatchObject({ imported: 1, failed: 0, status: 'completed' });

    const list = await plinth('records', 'list', 'deals', '--filter', 'stage:eq:lost');
    expect(list.stdout).toMatch(/^ID\s+NAME\s+STAGE\s+UPDATED\nobj_/);
    expect(list.stdout).toContain('json one');
    const page = JSON.parse((await plinth('--json', 'records', 'list', 'deals', '--limit', '5')).stdout) as { results: unknown[]; next_cursor: string; total: number };
    expect(page.results).toHaveLength(5);
    expect(page.total).toBe(602);
    const next = await plinth('records', 'list', 'deals', '--limit', '5', '--cursor', page.next_cursor);
    expect(next.code).toBe(0);
    expect(next.stderr).toContain('next page: --cursor');

    const out = path.join(dir, 'export.csv');
    const exported = await plinth('records', 'export', 'deals', '-o', out);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toContain(`Exported 602 deals records as csv`);
    expect(fs.readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(603);
    const toStdout = await plinth('records', 'export', 'deals', '--filter', 'stage:eq:lost');
    expect(JSON.parse(toStdout.stdout)).toHaveLength(1);
    expect(toStdout.stderr).toContain('Exported 1 deals records as json');
  });

  it('users list and invite', async () => {
    const invited = await plinth('users', 'invite', 'bob@example.com', '--role', 'viewer');
    expect(invited.code, invited.stderr).toBe(0);
    expect(invited.stdout).toMatch(/Invited bob@example\.com as viewer \(usr_/);
    const list = await plinth('users', 'list');
    expect(list.stdout).toMatch(/^ID\s+EMAIL\s+ROLE/);
    expect(list.stdout).toMatch(/bob@example\.com\s+viewer\s+no/);
    const json = JSON.parse((await plinth('--json', 'users', 'list')).stdout) as { users: { email: string }[]; total: number };
    expect(json.users.map((u) => u.email)).toContain('bob@example.com');
    expect((await plinth('users', 'invite', 'bob@example.com')).code).toBe(1);
  });

  it('webhooks list, create, test and replay; events tail', async () => {
    const id = (await plinth('webhooks', 'create', hook.url, '--events', 'object.*', '-q')).stdout.trim();
    expect(id).toMatch(/^wh_/);
    const list = await plinth('webhooks', 'list');
    expect(list.stdout).toMatch(/^ID\s+URL\s+EVENTS\s+STATUS/);
    expect(list.stdout).toContain(hook.url);
    const test = await plinth('webhooks', 'test', id);
    expect(test.code, test.stderr).toBe(0);
    expect(test.stdout).toMatch(/status:\s+200/);
    expect(hook.bodies.some((b) => b.type === 'webhook.test')).toBe(true);

    const first = (await plinth('records', 'create', 'deals', 'name=first', '-q')).stdout.trim();
    const second = (await plinth('records', 'create', 'deals', 'name=second', '-q')).stdout.trim();
    const firstEvent = await until(() => hook.bodies.find((b) => b.type === 'object.created' && b.resource_id === first));

    const replay = await plinth('--json', 'webhooks', 'replay', id, firstEvent.id);
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ success: true, status_code: 200 });
    const range = await plinth('webhooks', 'replay', id, '--since', '2020-01-01T00:00:00Z', '--types', 'object.created');
    expect(range.code, range.stderr).toBe(0);
    expect(range.stdout).toMatch(/Queued \d+ of \d+ events/);
    expect((await plinth('webhooks', 'replay', id)).code).toBe(2);

    const dead = (await plinth('webhooks', 'create', `http://127.0.0.1:${await closedPort()}/x`, '-q')).stdout.trim();
    const failed = await plinth('webhooks', 'test', dead);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/success:\s+no/);

    // The event after the first record's is the second record's.
    const tail = await plinth('--json', 'events', 'tail', '--types', 'object.created', '--after', firstEvent.id, '-n', '1');
    expect(tail.code, tail.stderr).toBe(0);
    expect(JSON.parse(tail.stdout)).toMatchObject({ type: 'object.created', resource_id: second });
    const human = await plinth('events', 'tail', '--types', 'object.created', '--after', firstEvent.id, '-n', '1');
    expect(human.stdout).toMatch(new RegExp(`object\\.created\\s+${second}\\s+evt_`));
    expect((await plinth('events', 'tail', '--after', 'evt_nope', '-n', '1')).code).toBe(1);
  });
});
