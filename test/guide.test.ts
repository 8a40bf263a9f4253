import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The README's getting-started guide, run as a reader would run it: every ```sh guide block, in order,
 * in one bash session (so the variables one block sets reach the next), against a fresh server started
 * here as `npm start` starts it. The ```sh guide-setup block is what the reader sets by hand from the
 * server's first start (its address and the key it printed); the test supplies those variables.
 */

const ROOT = path.resolve(import.meta.dirname, '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const dirs: string[] = [];
const groups: number[] = [];
const children: ChildProcess[] = [];

afterAll(() => {
  // The guide leaves a webhook receiver running in the background of its shell: end the shell's group.
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function blocks(info: string): string[] {
  return [...README.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)].filter((m) => m[1]!.trim() === info).map((m) => m[2]!);
}

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plinth-guide-'));
  dirs.push(dir);
  return dir;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `plinth start` on an empty data directory, as `npm start` runs it; resolves with its address and the key it printed. */
function startServer(env: NodeJS.ProcessEnv): Promise<{ url: string; key: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/plinth.mjs'), 'start'], { env: { ...env, PORT: '0', HOST: '127.0.0.1' } });
    children.push(child);
    let stdout = '';
    child.stdout!.on('data', (d) => {
      stdout += d;
      const url = /listening on (http:\/\/\S+)/.exec(stdout)?.[1];
      const key = /\n\s+(sk_[A-Za-z0-9_-]{32})\n/.exec(stdout)?.[1];
      if (url && key) resolve({ url, key, child });
    });
    child.stderr!.on('data', (d) => process.stderr.write(d));
    child.on('exit', (code) => reject(new Error(`plinth start exited with ${code}: ${stdout}`)));
  });
}

function runShell(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // Its own process group, so that what the guide starts in the background can be stopped with it.
    const child = spawn('bash', ['-c', script], { cwd, env, detached: true });
    groups.push(child.pid!);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // The pipes stay open while the background receiver lives: the answer is taken at bash's exit,
    // once what it wrote has been read.
    child.on('exit', (code) => setTimeout(() => resolve({ code, stdout, stderr }), 500));
  });
}

describe('the README getting-started guide', () => {
  it('names the variables it expects the reader to set', () => {
    const setup = blocks('sh guide-setup');
    expect(setup).toHaveLength(1);
    expect([...setup[0]!.matchAll(/^export ([A-Z_]+)=/gm)].map((m) => m[1])).toEqual(['PLINTH_URL', 'PLINTH_API_KEY']);
    expect(blocks('sh guide').length).toBeGreaterThanOrEqual(5);
  });

  // Every command is a process of its own (npx, node, curl) on a server that starts from nothing:
  // minutes on a loaded machine.
  it('runs every command of the guide, in order, against a fresh server', { timeout: 900_000 }, async () => {
    const data = tempDir();
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: data, LOG_LEVEL: 'warn', OUTBOUND_ALLOW_LOOPBACK: 'true' };
    // A new install: the embedded database, whatever the suite runs on.
    delete env.DATABASE_URL;
    delete env.REDIS_URL;
    delete env.NODE_OPTIONS;
    delete env.PLINTH_ADMIN_KEY;
    const server = await startServer(env);

    // The reader's folder: `npx plinth` finds the checkout's bin there, as in the project folder, and
    // never asks a registry (offline).
    const work = tempDir();
    fs.writeFileSync(path.join(work, 'package.json'), '{"private": true}\n');
    fs.mkdirSync(path.join(work, 'node_modules/.bin'), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'bin/plinth.mjs'), path.join(work, 'node_modules/.bin/plinth'));

    // The webhook receiver's port 4000 may be taken here: a free one instead.
    const receiver = await freePort();
    const guide = blocks('sh guide').map((block) => block.replace(/\b4000\b/g, String(receiver)));
    const script = [
      'set -euo pipefail',
      `trap 'echo "guide command failed (exit $?): $BASH_COMMAND" >&2' ERR`,
      ...guide.flatMap((block, i) => [`echo "@@ guide block ${i + 1}" >&2`, block, `echo "@@ guide block ${i + 1} ok" >&2`]),
    ].join('\n');
    const shellEnv: NodeJS.ProcessEnv = {
      ...process.env,
      PLINTH_URL: server.url,
      PLINTH_API_KEY: server.key,
      npm_config_offline: 'true',
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
    };
    delete shellEnv.NODE_OPTIONS;
    const out = await runShell(script, work, shellEnv);
    const report = `exit ${out.code}\n--- stderr\n${out.stderr}\n--- stdout\n${out.stdout}`;
    expect(out.code, report).toBe(0);
    for (let i = 1; i <= guide.length; i++) expect(out.stderr, report).toContain(`@@ guide block ${i} ok`);

    // What the guide promised happened.
    expect(out.stdout).toContain('Hello from Plinth');
    expect(out.stdout).toContain('"type":"webhook.test"');
    expect(out.stdout).toMatch(/jane@example\.com\s+member/);
    const exported = JSON.parse(fs.readFileSync(path.join(work, 'contacts.json'), 'utf8')) as { properties: { name: string } }[];
    expect(exported.map((r) => r.properties.name).sort()).toEqual(['Ada', 'Alan', 'Barbara', 'Edsger', 'Grace']);
    const type = JSON.parse(fs.readFileSync(path.join(work, 'contacts-type.json'), 'utf8')) as { properties: { name: string }[] };
    expect(type.properties.map((p) => p.name)).toEqual(['name', 'email', 'stage']);
  });
});
