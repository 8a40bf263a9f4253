import { eq } from 'drizzle-orm';
import { bootstrapTenant, createPlatform } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { runInTenant } from '../src/core/context.ts';
import { listKeys } from '../src/modules/keys/service.ts';
import { tenants } from '../src/modules/tenants/tables.ts';
const config = loadConfig({ ...process.env, DATA_DIR: 'memory://', LOG_LEVEL: 'silent' });
const p = await createPlatform(config);
const { tenant, token } = await bootstrapTenant(p.kernel, { name: 'pc' + Date.now(), plan_tier: 'enterprise', plan_limits: { rate_limit_per_minute: 1e9, requests_per_month: 1e9 } });
const k = p.kernel;
async function cpu(label: string, fn: () => unknown, n = 5000) {
  for (let i = 0; i < 500; i++) await fn();
  const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: 10 }, async () => { for (let i = 0; i < n / 10; i++) await fn(); }));
  const c = process.cpuUsage(c0);
  console.log(label.padEnd(40), ((c.user + c.system) / n).toFixed(1), 'us CPU/op');
}
const meta = { tenantId: tenant.id, actor: { type: 'api_key', id: 'x' }, requestId: 'req_x' };
await cpu('principals.resolve', () => k.principals.resolve(token));
await cpu('rateLimits.consume', () => k.rateLimits.consume('k:1', 1e9));
await cpu('quota.hit', () => k.quota.hit(tenant.id, 1e9));
await cpu('system PK select (drizzle)', () => k.db.system.select().from(tenants).where(eq(tenants.id, tenant.id)));
await cpu('raw pool query', () => k.db.raw('select 1'));
await cpu('tenant tx empty (readOnly)', () => k.db.tenant(tenant.id, async () => {}, { readOnly: true }));
await cpu('tenant tx + listKeys (readOnly)', () => runInTenant(k, meta, (ctx) => listKeys(ctx, {}), { readOnly: true }));
await cpu('runInTenant noop (readOnly)', () => runInTenant(k, meta, async () => {}, { readOnly: true }));
await p.close();
