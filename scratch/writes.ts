import net from 'node:net';
import { bootstrapTenant, createPlatform } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
let writes = 0, writevs = 0;
const w = net.Socket.prototype._write; net.Socket.prototype._write = function (...a: any[]) { writes++; return (w as any).apply(this, a); };
const wv = (net.Socket.prototype as any)._writev; (net.Socket.prototype as any)._writev = function (...a: any[]) { writevs++; return wv.apply(this, a); };
const config = loadConfig({ ...process.env, DATA_DIR: 'memory://', LOG_LEVEL: 'silent' });
const p = await createPlatform(config);
const { token } = await bootstrapTenant(p.kernel, { name: 'w' + Date.now(), plan_tier: 'enterprise', plan_limits: { rate_limit_per_minute: 1e9, requests_per_month: 1e9 } });
const env = { incoming: { socket: { remoteAddress: '127.0.0.1', remotePort: 1 } } };
const fn = () => p.app.request('/v1/keys', { headers: { authorization: `Bearer ${token}` } }, env).then((r) => r.text());
for (let i = 0; i < 200; i++) await fn();
for (const conc of [1, 10]) {
  writes = 0; writevs = 0;
  const N = 1000;
  await Promise.all(Array.from({ length: conc }, async () => { for (let i = 0; i < N / conc; i++) await fn(); }));
  console.log(`concurrency ${conc}: ${(writes / N).toFixed(2)} _write + ${(writevs / N).toFixed(2)} _writev per request`);
}
await p.close();
