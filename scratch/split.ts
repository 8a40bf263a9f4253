import { spawn, execSync } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import autocannon from 'autocannon';
const child = spawn(process.execPath, ['--import', 'tsx', 'bench/kernel-server.ts'], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
const info = JSON.parse(await new Promise<string>((r) => readline.createInterface({ input: child.stdout! }).once('line', r)));
const ticks = (pids: number[]) => pids.reduce((t, p) => { try { const f = fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' '); return t + Number(f[11]) + Number(f[12]); } catch { return t; } }, 0);
const pgPids = () => execSync("pgrep -f 'postgres: ' || true").toString().split('\n').filter(Boolean).map(Number);
async function run(label: string, url: string, headers: Record<string, string> = {}) {
  await autocannon({ url, connections: 10, duration: 3, headers });
  const pg0 = ticks(pgPids()), n0 = ticks([child.pid!]), s0 = process.cpuUsage();
  const r = await autocannon({ url, connections: 10, duration: 10, headers });
  const pg1 = ticks(pgPids()), n1 = ticks([child.pid!]), s1 = process.cpuUsage(s0);
  const total = r.requests.total;
  console.log(`${label.padEnd(10)} rps ${(total / 10).toFixed(0).padStart(5)}  node ${((n1 - n0) * 1e4 / total).toFixed(0)} us/req  postgres ${((pg1 - pg0) * 1e4 / total).toFixed(0)} us/req  autocannon ${((s1.user + s1.system) / total).toFixed(0)} us/req`);
}
await run('baseline', `http://127.0.0.1:${info.basePort}/baseline`);
await run('health', `http://127.0.0.1:${info.appPort}/health`);
await run('app', `http://127.0.0.1:${info.appPort}/v1/keys`, { authorization: `Bearer ${info.token}` });
child.kill('SIGTERM');
