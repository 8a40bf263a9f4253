import { bootstrapTenant, createPlatform } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
const config = loadConfig({ ...process.env, DATA_DIR: 'memory://', LOG_LEVEL: 'silent' });
const p = await createPlatform(config);
const { token } = await bootstrapTenant(p.kernel, { name: 'prof' + Date.now(), plan_tier: 'enterprise', plan_limits: { rate_limit_per_minute: 1e9, requests_per_month: 1e9 } });
for (let i = 0; i < 5000; i++) await p.app.request('/v1/keys', { headers: { authorization: `Bearer ${token}` } }).then((r) => r.text());
await p.close();
