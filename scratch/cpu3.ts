import { eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { Session } from 'node:inspector/promises';
import { bootstrapTenant, createPlatform } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { tenants } from '../src/modules/tenants/tables.ts';
const config = loadConfig({ ...process.env, DATA_DIR: 'memory://', LOG_LEVEL: 'silent' });
const p = await createPlatform(config);
const { tenant, token } = await bootstrapTenant(p.kernel, { name: 'cpu' + Date.now(), plan_tier: 'enterprise', plan_limits: { rate_limit_per_minute: 1e9, requests_per_month: 1e9 } });
const base = new Hono();
base.get('/baseline', async (c) => c.json({ success: true, data: (await p.kernel.db.system.select().from(tenants).where(eq(tenants.id, tenant.id)))[0] }));
const env = { incoming: { socket: { remoteAddress: '127.0.0.1', remotePort: 1 } } };
const N = 4000;
async function prof(fn: () => Promise<unknown>) {
  for (let i = 0; i < 500; i++) await fn();
  const s = new Session(); s.connect(); await s.post('Profiler.enable'); await s.post('Profiler.start');
  await Promise.all(Array.from({ length: 10 }, async () => { for (let i = 0; i < N / 10; i++) await fn(); }));
  const { profile } = await s.post('Profiler.stop'); s.disconnect();
  const byId = new Map(profile.nodes.map((n: any) => [n.id, n]));
  const parent = new Map<number, any>(); for (const n of profile.nodes as any[]) for (const c of n.children ?? []) parent.set(c, n);
  const stacks = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) { let n: any = byId.get(profile.samples[i]); if (n.callFrame.functionName !== 'writeBuffer') continue; const st = []; for (let d = 0; d < 12 && n; d++) { st.push(n.callFrame.functionName + '@' + n.callFrame.url.split('/').slice(-2).join('/') + ':' + n.callFrame.lineNumber); n = parent.get(n.id); } const k = st.join(' <- '); stacks.set(k, (stacks.get(k) || 0) + profile.timeDeltas[i]); }

  const cat = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const n: any = byId.get(profile.samples[i]); const url = n.callFrame.url;
    const m = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url) || /\/(src\/[^/]+\/[^/]+)/.exec(url);
    const k = m ? m[1] : (url ? url.replace(/.*\//, '') : n.callFrame.functionName || '?');
    cat.set(k, (cat.get(k) || 0) + profile.timeDeltas[i]);
  }
  return cat;
}
const b = await prof(() => base.request('/baseline').then((r) => r.text()));
const a = await prof(() => p.app.request('/v1/keys', { headers: { authorization: `Bearer ${token}` } }, env).then((r) => r.text()));
const keys = new Set([...a.keys(), ...b.keys()]);
const rows = [...keys].map((k) => [k, (b.get(k) || 0) / N, (a.get(k) || 0) / N] as const).sort((x, y) => (y[2] - y[1]) - (x[2] - x[1]));
let tb = 0, ta = 0; for (const r of rows) { tb += r[1]; ta += r[2]; }
console.log('category'.padEnd(40), 'base us', 'app us');
for (const r of rows.slice(0, 30)) console.log(r[0].padEnd(40), r[1].toFixed(1).padStart(7), r[2].toFixed(1).padStart(7));
console.log('TOTAL'.padEnd(40), tb.toFixed(0).padStart(7), ta.toFixed(0).padStart(7));
await p.close();
