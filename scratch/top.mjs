import fs from 'node:fs';
const file = fs.readdirSync('/tmp/prof')[0];
const prof = JSON.parse(fs.readFileSync('/tmp/prof/' + file));
const self = new Map(); const byId = new Map(prof.nodes.map(n => [n.id, n]));
const dt = prof.timeDeltas; const samples = prof.samples;
for (let i = 0; i < samples.length; i++) { const n = byId.get(samples[i]); const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-3).join('/')}:${n.callFrame.lineNumber}`; self.set(k, (self.get(k) || 0) + dt[i]); }
const total = [...self.values()].reduce((a, b) => a + b, 0);
// aggregate by package
const byPkg = new Map();
for (const [k, v] of self) { const m = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(k) || /(src\/[^ :]+)/.exec(k); const key = m ? m[1] : k.split(' ')[0]; byPkg.set(key, (byPkg.get(key)||0)+v); }
console.log('--- by package/file'); for (const [k, v] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log((v / total * 100).toFixed(1).padStart(5) + '%', k);
console.log('--- top functions'); for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log((v / total * 100).toFixed(1).padStart(5) + '%', k);
