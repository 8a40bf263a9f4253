import { eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { bootstrapTenant, createPlatform } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { tenants } from '../src/modules/tenants/tables.ts';
const config = loadConfig({ ...process.env, DATA_DIR: 'memory://', LOG_LEVEL: 'silent' });
const p = await createPlatform(config);
const { tenant, token } = await bootstrapTenant(p.kernel, { name: 'cpu' + Date.now(), plan_tier: 'enterprise', plan_limits: { rate_limit_per_minute: 1e9, requests_per_month: 1e9 } });
const base = new Hono();
base.get('/baseline', async (c) => c.json({ success: true, data: (await p.kernel.db.system.select().from(tenants).where(eq(tenants.id, tenant.id)))[0] }));
async function cpu(label: string, fn: () => Promise<unknown>, n = 3000) {
  for (let i = 0; i < 300; i++) await fn();
  const c0 = process.cpuUsage(); const t0 = performance.now();
  // 10 concurrent loops, like autocannon's connections
  await Promise.all(Array.from({ length: 10 }, async () => { for (let i = 0; i < n / 10; i++) await fn(); }));
  const c = process.cpuUsage(c0); const wall = performance.now() - t0;
  const us = (c.user + c.system) / n;
  console.log(label.padEnd(28), `${us.toFixed(0)} us CPU/req`, `${(n / wall * 1000).toFixed(0)} req/s`);
  return us;
}
const b = await cpu('baseline', () => base.request('/baseline').then((r) => r.text()));
const a = await cpu('GET /v1/keys', () => p.app.request('/v1/keys', { headers: { authorization: `Bearer ${token}` } }).then((r) => r.text()));
console.log('cpu ratio baseline/app', (b / a).toFixed(2));
await p.close();
