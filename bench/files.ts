/**
 * Files throughput: upload (POST /v1/files/upload, multipart) and download (GET /v1/files/{id}/content)
 * over real HTTP on 127.0.0.1, for 1 MB and 20 MB files, beside a plain file copy on the same disk.
 * The server runs in a child process, so the client's work is not counted against it.
 *
 *   npm run bench:files                 local driver, data in ./.bench-files (same disk as the copy)
 *   npm run bench:files -- --s3         also the S3 driver against s3rver on this machine
 *   BENCH_DIR=/path npm run bench:files put the data (storage, embedded database, copies) there
 *   DATABASE_URL=... npm run bench:files  metadata in PostgreSQL instead of embedded PGlite
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { serve } from '@hono/node-server';
import pg from 'pg';
import pino from 'pino';
import { bootstrapTenant, createPlatform } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { startS3Server, type S3TestServer } from '../test/support/s3.ts';
import { appRoleFor } from '../src/core/db/client.ts';

const MB = 1_000_000;
const SIZES = [
  { label: '1 MB', bytes: 1 * MB, rounds: 40 },
  { label: '20 MB', bytes: 20 * MB, rounds: 8 },
];
const withS3 = process.argv.includes('--s3');
const baseDir = path.resolve(process.env.BENCH_DIR ?? '.bench-files');

const mbps = (bytes: number, ms: number) => (bytes / MB / (ms / 1000)).toFixed(1);

async function timed(rounds: number, fn: (i: number) => Promise<void>): Promise<number> {
  await fn(-1); // warm-up, not counted
  const start = performance.now();
  for (let i = 0; i < rounds; i++) await fn(i);
  return performance.now() - start;
}

/** fs.copyFile and a streamed write+read of the same bytes, in the directory the storage uses. */
async function plainCopy(dir: string, data: Buffer, rounds: number) {
  fs.mkdirSync(dir, { recursive: true });
  const source = path.join(dir, `source-${data.length}`);
  fs.writeFileSync(source, data);
  const copyMs = await timed(rounds, async (i) => {
    await fs.promises.copyFile(source, path.join(dir, `copy-${data.length}-${i}`));
  });
  const writeMs = await timed(rounds, async (i) => {
    await fs.promises.writeFile(path.join(dir, `write-${data.length}-${i}`), data);
  });
  const readMs = await timed(rounds, async (i) => {
    await fs.promises.readFile(path.join(dir, `write-${data.length}-${Math.max(0, i)}`));
  });
  return { copyMs, writeMs, readMs };
}

interface ServerReady {
  port: number;
  token: string;
  rssMb: number;
}

/** Child process: a platform on DATA_DIR served on a free port; answers `rss` and `stop` messages. */
async function serveChild() {
  const config = loadConfig({
    ...process.env,
    LOG_LEVEL: 'silent',
    PLINTH_ADMIN_KEY: randomBytes(24).toString('hex'),
  });
  const platform = await createPlatform(config, { logger: pino({ level: 'silent' }) });
  const { token } = await bootstrapTenant(platform.kernel, { name: 'Bench', plan_tier: 'enterprise' });
  const server = serve({ fetch: platform.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as { port: number };
  const rssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);
  process.send!({ port, token, rssMb: rssMb() } satisfies ServerReady);
  process.on('message', async (message) => {
    if (message === 'rss') process.send!({ rssMb: rssMb() });
    if (message === 'stop') {
      server.close();
      await platform.close();
      process.exit(0);
    }
  });
}

async function runDriver(name: string, env: Record<string, string>, dataDir: string) {
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(dataDir, { recursive: true });
  const child = fork(process.argv[1]!, ['--serve'], {
    execArgv: process.execArgv,
    env: { ...process.env, ...env, DATA_DIR: dataDir },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const ready = await new Promise<ServerReady>((resolve, reject) => {
    child.once('message', (m) => resolve(m as ServerReady));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  const base = `http://127.0.0.1:${ready.port}`;
  const auth = { authorization: `Bearer ${ready.token}` };

  const rows: string[][] = [];
  let peakRss = 0;
  try {
    for (const size of SIZES) {
      const data = randomBytes(size.bytes);
      const ids: string[] = [];
      const uploadMs = await timed(size.rounds, async () => {
        const form = new FormData();
        form.append('file', new Blob([data]), `bench-${size.label}.bin`);
        const res = await fetch(`${base}/v1/files/upload`, { method: 'POST', headers: auth, body: form });
        if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
        ids.push(((await res.json()) as { data: { id: string } }).data.id);
      });
      const downloadMs = await timed(size.rounds, async (i) => {
        const res = await fetch(`${base}/v1/files/${ids[Math.max(0, i)]}/content`, { headers: auth });
        if (res.status !== 200) throw new Error(`download failed: ${res.status}`);
        let received = 0;
        for await (const chunk of res.body!) received += (chunk as Uint8Array).length;
        if (received !== size.bytes) throw new Error(`download returned ${received} bytes`);
      });
      const plain = await plainCopy(path.join(dataDir, 'plain'), data, size.rounds);
      const total = size.bytes * size.rounds;
      rows.push([
        name,
        size.label,
        String(size.rounds),
        mbps(total, uploadMs),
        mbps(total, downloadMs),
        mbps(total, plain.copyMs),
        mbps(total, plain.writeMs),
        mbps(total, plain.readMs),
      ]);
    }
    child.send('rss');
    peakRss = await new Promise<number>((resolve) => child.once('message', (m) => resolve((m as { rssMb: number }).rssMb)));
  } finally {
    child.send('stop');
    await new Promise((resolve) => child.once('exit', resolve));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return { rows, peakRss, startRss: ready.rssMb };
}

function printTable(rows: string[][]) {
  const header = ['driver', 'size', 'files', 'upload MB/s', 'download MB/s', 'fs.copyFile MB/s', 'fs write MB/s', 'fs read MB/s'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

async function main() {
  console.log(`Plinth files benchmark: node ${process.version}, data in ${baseDir}, metadata in ${process.env.DATABASE_URL ? 'PostgreSQL' : 'embedded PGlite'}`);
  console.log('Upload = multipart POST /v1/files/upload (hashing, type detection, metadata, quota); download = GET /content streamed.');
  console.log('Plain copy, write and read use the same directory as the storage. One client, sequential requests, after one warm-up.\n');
  // On PostgreSQL, a database of its own for the run, dropped at the end (the server child inherits the URL).
  let dropDatabase = async () => {};
  if (process.env.DATABASE_URL) {
    const name = `plinth_fbench_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${name}`;
    process.env.DATABASE_URL = url.toString();
    dropDatabase = async () => {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.query(`drop role if exists ${appRoleFor(name)}`).catch(() => {});
      await admin.end();
    };
  }
  try {
    await runAll();
  } finally {
    await dropDatabase();
  }
}

async function runAll() {
  const local = await runDriver('local', {}, path.join(baseDir, 'local'));
  const rows = [...local.rows];
  const rss = [`local ${local.startRss} -> ${local.peakRss} MB`];
  if (withS3) {
    const s3: S3TestServer = await startS3Server();
    try {
      const result = await runDriver('s3 (s3rver)', s3.env, path.join(baseDir, 's3'));
      rows.push(...result.rows);
      rss.push(`s3 ${result.startRss} -> ${result.peakRss} MB`);
    } finally {
      await s3.close();
    }
  }
  printTable(rows);
  console.log(`\nServer process peak RSS, after start -> after the runs: ${rss.join(', ')}`);
  fs.rmSync(baseDir, { recursive: true, force: true });
}

const entry = process.argv.includes('--serve') ? serveChild() : main();
entry.then(
  () => {
    if (!process.argv.includes('--serve')) process.exit(0);
  },
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
