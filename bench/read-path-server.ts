/**
 * The platform bench:read-path measures, in a process of its own on one database (DATABASE_URL, or an
 * embedded PGlite without it). It sets up one tenant, an object type `bench` whose select policy admits
 * a member's own records, one record owned by a member, and prints one JSON line: its port, the tenant
 * key, the member's access token, the record's path. Beside the app (same process, same database
 * handle) a bare route `/bare/:id` does one primary-key SELECT after a constant token check: on PGlite
 * that is the fair baseline, since an embedded database cannot be shared with a second process.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type * as AppModule from '../src/app.ts';
import type * as ConfigModule from '../src/config.ts';

/** Whether dist/ (npm run build) is at least as new as every source file under dir. */
function builtAfter(dir: string, built: number): boolean {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() ? !builtAfter(full, built) : entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && fs.statSync(full).mtimeMs > built) return false;
  }
  return true;
}
// The compiled build, as `plinth start` runs it (bin/plinth.mjs), when it is current; else the sources.
const root = path.resolve(import.meta.dirname, '..');
const builtAt = fs.existsSync(path.join(root, 'dist/app.js')) ? fs.statSync(path.join(root, 'dist/app.js')).mtimeMs : 0;
const compiled = process.env.BENCH_FROM_SOURCE !== '1' && builtAt > 0 && builtAfter(path.join(root, 'src'), builtAt);
if (!compiled) process.stderr.write('read-path-server: running the TypeScript sources (dist/ is missing or older: npm run build)\n');
const { bootstrapTenant, createPlatform } = (await import(compiled ? '../dist/app.js' : '../src/app.ts')) as typeof AppModule;
const { loadConfig } = (await import(compiled ? '../dist/config.js' : '../src/config.ts')) as typeof ConfigModule;

const dataDir = process.env.DATABASE_URL ? 'memory://' : fs.mkdtempSync(path.join(os.tmpdir(), 'plinth-read-path-'));
const config = loadConfig({
  ...process.env,
  DATA_DIR: dataDir,
  LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
  NODE_ENV: 'production',
  PLINTH_ADMIN_KEY: 'bench-admin-key-0123456789abcdef',
});
const platform = await createPlatform(config);
const { tenant, token } = await bootstrapTenant(platform.kernel, {
  name: `read-path-${Date.now()}`,
  plan_tier: 'enterprise',
  plan_limits: { rate_limit_per_minute: 100_000_000, requests_per_month: 1_000_000_000 },
});

async function call(method: string, url: string, bearer: string, body?: unknown) {
  const res = await platform.app.request(url, {
    method,
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as { data: any };
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(json)}`);
  return json.data;
}

await call('POST', '/v1/object-types', token, { name: 'bench' });
await call('POST', '/v1/object-types/bench/properties', token, { name: 'title', data_type: 'string' });
await call('POST', '/v1/object-types/bench/properties', token, { name: 'owner', data_type: 'user' });
await call('POST', '/v1/object-types/bench/properties', token, { name: 'amount', data_type: 'number' });
// Members see only their own records: the row policy a user's read is evaluated under.
await call('POST', '/v1/object-types/bench/policies', token, {
  name: 'own records',
  action: 'select',
  role: 'member',
  condition_json: { property: 'owner', op: 'eq', value: { $auth: 'user_id' } },
});
const pk = (await call('POST', '/v1/keys', token, { label: 'publishable', scopes: ['auth'] })).token as string;
const email = `bench-${Date.now()}@example.com`;
const password = 'Bench-password-0123456789';
const user = await call('POST', '/v1/users', token, { email, password, email_verified: true, role: 'member' });
const login = await call('POST', '/v1/auth/login', pk, { email, password });
const record = await call('POST', '/v1/objects/bench', token, { properties: { title: 'A record', owner: user.id, amount: 12.5 } });
// Someone else's record the member must not see, so the policy has something to refuse.
await call('POST', '/v1/objects/bench', token, { properties: { title: 'Not yours', amount: 1 } });
const objectPath = `/v1/objects/bench/${record.id}`;
// Both credentials read the record, or the benchmark would measure an error path.
await call('GET', objectPath, token);
await call('GET', objectPath, login.access_token);

const { db } = platform.kernel;
// On PGlite with the engine on the main thread (PGLITE_WORKER=false) the baseline is PGlite's own
// `query`, what a bare server on PGlite calls: the platform's read is measured against PGlite as it
// comes. With the engine in its worker (the default) there is no PGlite object on this thread, and the
// bare route is `db.raw`, the platform's own path to the same engine, with nothing else around it.
const pglite = db.pglite;
const expected = `Bearer ${token}`;
const bare = new Hono();
bare.get('/bare/:id', async (c) => {
  if (c.req.header('authorization') !== expected) return c.json({ success: false }, 401);
  const { rows } = pglite
    ? await pglite.query<Record<string, unknown>>('select * from objects where id = $1', [c.req.param('id')])
    : await db.raw('select * from objects where id = $1', [c.req.param('id')]);
  if (!rows[0]) return c.json({ success: false }, 404);
  return c.json({ success: true, data: rows[0] });
});

const listen = (fetch: (req: Request) => Response | Promise<Response>) =>
  new Promise<number>((resolve) => void serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(info.port)));
const port = await listen(platform.app.fetch);
const barePort = await listen(bare.fetch);
process.stdout.write(
  `${JSON.stringify({ port, barePort, token, userToken: login.access_token, objectPath, objectId: record.id, database: db.kind, engine: pglite ? 'main thread' : 'worker', code: compiled ? 'compiled' : 'sources', redis: Boolean(config.REDIS_URL), tenantId: tenant.id })}\n`,
);

process.on('SIGTERM', async () => {
  await platform.close();
  if (dataDir !== 'memory://') fs.rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
});
