import { spawn } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import autocannon from 'autocannon';
const child = spawn(process.execPath, ['--import', 'tsx', 'scratch/kserver2.ts'], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
const info = JSON.parse(await new Promise<string>((r) => readline.createInterface({ input: child.stdout! }).once('line', r)));
const totals: number[] = [];
async function run(url: string, headers: Record<string, string> = {}) {
  await autocannon({ url, connections: 10, duration: 3, headers });
  child.kill('SIGUSR2'); await new Promise((r) => setTimeout(r, 200));
  const r = await autocannon({ url, connections: 10, duration: 8, headers });
  child.kill('SIGUSR2'); await new Promise((r) => setTimeout(r, 1500));
  totals.push(r.requests.total);
}
await run(`http://127.0.0.1:${info.basePort}/baseline`);
await run(`http://127.0.0.1:${info.appPort}/v1/keys`, { authorization: `Bearer ${info.token}` });
child.kill('SIGTERM');
function cats(file: string, total: number) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n: any) => [n.id, n]));
  const cat = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const n: any = byId.get(profile.samples[i]); const url = n.callFrame.url;
    const m = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url) || /\/(src\/[^/]+\/[^/]+)/.exec(url);
    const k = m ? m[1] : (url ? url.replace(/.*\//, '') : n.callFrame.functionName || '?');
    cat.set(k, (cat.get(k) || 0) + profile.timeDeltas[i] / total);
  }
  return cat;
}
const b = cats('/tmp/prof-0.cpuprofile', totals[0]!), a = cats('/tmp/prof-1.cpuprofile', totals[1]!);
const keys = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => ((a.get(y) || 0) - (b.get(y) || 0)) - ((a.get(x) || 0) - (b.get(x) || 0)));
let tb = 0, ta = 0; for (const k of keys) { tb += b.get(k) || 0; ta += a.get(k) || 0; }
for (const k of keys.slice(0, 32)) console.log(k.padEnd(36), (b.get(k) || 0).toFixed(1).padStart(7), (a.get(k) || 0).toFixed(1).padStart(7));
console.log('TOTAL (wall us per req incl idle)'.padEnd(36), tb.toFixed(0).padStart(7), ta.toFixed(0).padStart(7));
