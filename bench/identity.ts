/**
 * Identity benchmark: sign-ins per second and access-token verifications per second, beside the
 * kernel's API-key request rate measured in the same run for comparison.
 *
 *   npm run bench:identity                     # embedded PGlite in memory
 *   DATABASE_URL=... REDIS_URL=... npm run bench:identity
 *   BENCH_SECONDS=10 BENCH_CONNECTIONS=16 npm run bench:identity
 *
 * Everything stays on this machine: the server listens on 127.0.0.1 and every load loop is bounded.
 */
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import pino from 'pino';
import { createPlatform } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { hashPassword, verifyPassword } from '../src/modules/auth/users/passwords.ts';
import { runtime } from '../src/modules/auth/runtime.ts';
import { apiCaller, BENCH_ADMIN_KEY, benchTenant } from './support.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const USERS = 40;

async function main() {
  const config = loadConfig({
    ...process.env,
    DATA_DIR: process.env.DATABASE_URL ? process.env.DATA_DIR : 'memory://',
    LOG_LEVEL: 'silent',
    PLINTH_ADMIN_KEY: BENCH_ADMIN_KEY,
    NODE_ENV: 'production',
  });
  const platform = await createPlatform(config, { logger: pino({ level: 'silent' }) });
  const server = serve({ fetch: platform.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const call = apiCaller(base);

  // A tenant whose limits do not cap the benchmark.
  const adminKey = await benchTenant(call, 'Bench');
  const pk: string = (await call('POST', '/v1/keys', adminKey, { label: 'pk', scopes: ['auth'] })).token;
  const users: { email: string; password: string }[] = [];
  for (let i = 0; i < USERS; i++) {
    const user = { email: `bench-${i}@example.com`, password: `Bench-password-${i}-xyz` };
    await call('POST', '/v1/users', adminKey, { ...user, email_verified: true, role: 'admin' });
    users.push(user);
  }
  const session = await call('POST', '/v1/auth/login', pk, users[0]);
  const accessToken: string = session.access_token;

  const load = (title: string, path: string, opts: Partial<autocannon.Options>) =>
    new Promise<autocannon.Result>((resolve, reject) => {
      autocannon({ url: base + path, connections: CONNECTIONS, duration: SECONDS, ...opts, title }, (err, result) => (err ? reject(err) : resolve(result)));
    });

  let next = 0;
  const rows: [string, string, string][] = [];
  const report = (name: string, r: autocannon.Result) => {
    const ok = r.requests.total - r.non2xx - r.errors;
    rows.push([name, `${(ok / SECONDS).toFixed(0)} /s`, `p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, non-2xx ${r.non2xx}`]);
  };

  report(
    'kernel: API-key request (GET /v1/usage)',
    await load('key', '/v1/usage', { method: 'GET', headers: { authorization: `Bearer ${adminKey}` } }),
  );
  report(
    'sign-in: POST /v1/auth/login (argon2id)',
    await load('login', '/v1/auth/login', {
      method: 'POST',
      headers: { authorization: `Bearer ${pk}`, 'content-type': 'application/json' },
      requests: [
        {
          setupRequest: (req) => ({ ...req, body: JSON.stringify(users[next++ % users.length]) }),
        },
      ],
    }),
  );
  report(
    'user token request (GET /v1/usage as user)',
    await load('user-usage', '/v1/usage', { method: 'GET', headers: { authorization: `Bearer ${accessToken}` } }),
  );
  report(
    'user token request (GET /v1/auth/user)',
    await load('user-me', '/v1/auth/user', { method: 'GET', headers: { authorization: `Bearer ${accessToken}` } }),
  );

  // In-process: the ES256 verification alone, and the full resolver (verification + cached session state).
  const keys = runtime(platform.kernel).keys;
  const timed = async (fn: () => Promise<unknown>) => {
    const until = performance.now() + Math.min(SECONDS, 5) * 1000;
    let n = 0;
    while (performance.now() < until) {
      await Promise.all(Array.from({ length: 50 }, fn));
      n += 50;
    }
    return n / Math.min(SECONDS, 5);
  };
  const verifyRate = await timed(() => keys.verify(accessToken, ['plinth:app']));
  rows.push(['token verification: ES256 only (jose, in-process)', `${verifyRate.toFixed(0)} /s`, 'signature, exp, iss, aud']);
  const resolveRate = await timed(() => platform.kernel.principals.resolve(accessToken));
  rows.push(['token verification: resolver, warm (in-process)', `${resolveRate.toFixed(0)} /s`, 'cached verification + session/roles state']);
  const hash = await hashPassword(config, 'Bench-password-x');
  const argonRate = await timed(() => verifyPassword(config, hash, 'Bench-password-x'));
  rows.push(['argon2id verification alone (in-process)', `${argonRate.toFixed(0)} /s`, `m=${config.ARGON2_MEMORY_KIB} KiB, t=${config.ARGON2_TIME_COST}, p=1`]);

  const mem = process.memoryUsage();
  const db = process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite (memory)';
  const cache = process.env.REDIS_URL ? 'Redis' : 'in-process';
  const width = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(`\nPlinth identity benchmark: ${db}, limits/bus ${cache}, ${CONNECTIONS} connections, ${SECONDS} s per HTTP run\n\n`);
  for (const [name, rate, note] of rows) process.stdout.write(`  ${name.padEnd(width)}  ${rate.padStart(9)}   ${note}\n`);
  process.stdout.write(`\n  memory: rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB, heap ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB\n\n`);

  server.close();
  await platform.close();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
