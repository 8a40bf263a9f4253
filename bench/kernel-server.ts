/**
 * The servers the kernel benchmark measures, in one process on one database: Plinth's app (port A) and
 * a bare Hono route doing one primary-key SELECT through the same pool (port B), as the baseline.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { eq, sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { bootstrapTenant, createPlatform } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { tenants } from '../src/modules/tenants/tables.ts';

const dataDir = process.env.DATABASE_URL ? 'memory://' : fs.mkdtempSync(path.join(os.tmpdir(), 'plinth-bench-'));
const config = loadConfig({ ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'silent', NODE_ENV: 'production' });
const platform = await createPlatform(config);
const { tenant, token } = await bootstrapTenant(platform.kernel, {
  name: `bench-${Date.now()}`,
  plan_tier: 'enterprise',
  plan_limits: { rate_limit_per_minute: 100_000_000, requests_per_month: 1_000_000_000 },
});

// Two baselines: the query as an app usually writes it, and prepared (built once, planned once per
// connection) as the app's hot path is, so that one ratio measures the kernel's own cost alone.
const byId = platform.kernel.db.system
  .select()
  .from(tenants)
  .where(eq(tenants.id, sql.placeholder('id')))
  .prepare('bench_tenant_by_id');
const baseline = new Hono();
baseline.get('/baseline', async (c) => {
  const [row] = await platform.kernel.db.system.select().from(tenants).where(eq(tenants.id, tenant.id));
  return c.json({ success: true, data: row });
});
baseline.get('/baseline-prepared', async (c) => {
  const [row] = await byId.execute({ id: tenant.id });
  return c.json({ success: true, data: row });
});

const listen = (fetch: (req: Request) => Response | Promise<Response>) =>
  new Promise<number>((resolve) => {
    serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(info.port));
  });
const appPort = await listen(platform.app.fetch);
const basePort = await listen(baseline.fetch);
process.stdout.write(`${JSON.stringify({ appPort, basePort, token, database: platform.kernel.db.kind, redis: Boolean(config.REDIS_URL) })}\n`);

process.on('SIGTERM', async () => {
  await platform.close();
  if (dataDir !== 'memory://') fs.rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
});
