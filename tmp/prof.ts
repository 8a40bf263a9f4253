import http from 'node:http';
import pino from 'pino';
import pg from 'pg';
import { createPlatform } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
const name = `plinth_prof_${Date.now().toString(36)}`;
const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' }); await admin.connect(); await admin.query(`create database ${name}`);
const config = loadConfig({ DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${name}`, PLINTH_ADMIN_KEY: 'x'.repeat(30), WEBHOOK_ALLOW_LOOPBACK: 'true', JOBS_POLL_SECONDS: '0.5', LOG_LEVEL: 'warn' });
const p = await createPlatform(config, { logger: pino({ level: 'warn' }) });
const times: number[] = [];
const rx = http.createServer((req, res) => { req.resume(); req.on('end', () => { times.push(performance.now()); res.writeHead(204).end(); }); });
await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
const port = (rx.address() as any).port;
const req = async (method: string, path: string, token: string, body?: unknown) => { const r = await p.app.request(path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined }, { incoming: { socket: { remoteAddress: '127.0.0.1' } } }); return r.json() as any; };
const t = await req('POST', '/v1/admin/tenants', 'x'.repeat(30), { name: 'p', plan_tier: 'enterprise' });
const token = t.data.api_key.token;
await req('POST', '/v1/webhooks', token, { url: `http://127.0.0.1:${port}/h`, events: ['p.*'] });
// instrument
const eng = (await import('../src/modules/webhooks/engine.ts')).webhookEngine(p.kernel) as any;
for (const m of ['deliverClaimed', 'send', 'recordScheduled', 'load', 'tick', 'fanout']) {
  const orig = eng[m].bind(eng); const stats = { n: 0, ms: 0 }; (globalThis as any)[m] = stats;
  eng[m] = async (...a: unknown[]) => { const s = performance.now(); try { return await orig(...a); } finally { stats.n++; stats.ms += performance.now() - s; } };
}
const origSend = p.kernel.jobs.send.bind(p.kernel.jobs);
(p.kernel.jobs as any).send = async (n: string, d: any, o: any) => { const id = await origSend(n, d, o); console.log('send', n, (performance.now()-t0).toFixed(0), d.messageId?.slice(-6)); return id; };
const origDeliver = eng.deliverClaimed;
eng.deliverClaimed = async (d: any) => { console.log('job start', (performance.now()-t0).toFixed(0), d.messageId.slice(-6)); const r = await origDeliver(d); console.log('job end', (performance.now()-t0).toFixed(0)); return r; };
const t0 = performance.now();
let next = 0;
await Promise.all(Array.from({ length: 16 }, async () => { while (next < 300) { const i = next++; await req('POST', '/v1/events', token, { event_type: 'p.x', data: { i } }); } }));
const t1 = performance.now();
while (times.length < 300) await new Promise((r) => setTimeout(r, 20));
console.log('emit ms', (t1 - t0).toFixed(0), 'deliver done ms', (times.at(-1)! - t0).toFixed(0));
for (const m of ['deliverClaimed', 'send', 'recordScheduled', 'load', 'tick', 'fanout']) console.log(m, (globalThis as any)[m]);
await p.close(); rx.close(); await admin.query(`drop database ${name} with (force)`); await admin.end();
