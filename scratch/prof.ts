import { eq, sql } from 'drizzle-orm';
import { bootstrapTenant, createPlatform } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { tenants } from '../src/modules/tenants/tables.ts';
import { apiKeys } from '../src/modules/keys/tables.ts';

const config = loadConfig({ ...process.env, DATA_DIR: 'memory://', LOG_LEVEL: 'silent' });
const p = await createPlatform(config);
const { tenant, token } = await bootstrapTenant(p.kernel, { name: 'prof' + Date.now(), plan_tier: 'enterprise', plan_limits: { rate_limit_per_minute: 1e9, requests_per_month: 1e9 } });
const db = p.kernel.db;
const N = 2000;
async function time(label: string, fn: () => Promise<unknown>) {
  for (let i = 0; i < 200; i++) await fn();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await fn();
  const us = ((performance.now() - t0) / N) * 1000;
  console.log(label.padEnd(45), us.toFixed(0), 'us/op');
}
await time('pk select (system)', () => db.system.select().from(tenants).where(eq(tenants.id, tenant.id)));
await time('raw select 1', () => db.raw('select 1'));
await time('tenant tx + list keys', () => db.tenant(tenant.id, (tx) => tx.select().from(apiKeys).where(eq(apiKeys.tenantId, tenant.id))));
await time('tenant tx empty', () => db.tenant(tenant.id, async () => {}));
await time('app.request GET /v1/keys', () => p.app.request('/v1/keys', { headers: { authorization: `Bearer ${token}` } }).then((r) => r.text()));
await time('app.request GET /health', () => p.app.request('/health').then((r) => r.text()));
await p.close();
