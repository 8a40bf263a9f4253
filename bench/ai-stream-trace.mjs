// Preloaded into bench:ai-stream's server (BENCH_NODE_ARGS="--import ./bench/ai-stream-trace.mjs"):
// splits Plinth's time to first token into what the server can see. For each POST /v1/ai/chat after the
// bench's warm-up: the delay from the bench sending it (its x-bench-sent header) to the server's
// `request` event, the time from that event to the socket write carrying the first `delta`, whether a
// garbage collection ran in between, and how busy the event loop was since the previous answer ended
// (background work a request arrives into). Prints to stderr when the server exits. No source changes:
// it patches node:http only.
import fs from 'node:fs';
import http from 'node:http';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const WARMUP = Number(process.env.BENCH_AI_WARMUP ?? 1_500);
const gcs = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push([e.startTime, e.duration]);
}).observe({ entryTypes: ['gc'] });

const requests = [];
let previous; // { at, elu } when the previous answer finished
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, req, res) {
  if (event === 'request' && req.method === 'POST' && req.url === '/v1/ai/chat') {
    const at = performance.now();
    const sent = Number(req.headers['x-bench-sent']);
    const r = { at, arrival: sent ? performance.timeOrigin + at - sent : NaN, ttft: NaN, gap: NaN, busy: NaN, out: NaN, sent: NaN, head: NaN, body: NaN, fresh: false };
    if (previous) {
      r.gap = at - previous.at;
      r.busy = performance.eventLoopUtilization(previous.elu).active;
    }
    requests.push(r);
    const write = res.write;
    res.write = function (chunk, ...rest) {
      if (Number.isNaN(r.ttft) && String(chunk).includes('event: delta')) r.ttft = performance.now() - at;
      return write.call(this, chunk, ...rest);
    };
    res.once('finish', () => {
      previous = { at: performance.now(), elu: performance.eventLoopUtilization() };
    });
  }
  return emit.apply(this, arguments);
};

// The provider call: when the server creates it, when its last byte leaves, its answer's head, its first body chunk.
const request = http.request;
http.request = function (...args) {
  const r = requests.at(-1);
  const req = request.apply(this, args);
  if (r && Number.isNaN(r.out)) {
    r.out = performance.now() - r.at;
    req.once('socket', (socket) => {
      r.fresh = socket.connecting;
    });
    let elu;
    req.once('finish', () => {
      r.sent = performance.now() - r.at;
      elu = performance.eventLoopUtilization();
    });
    req.once('response', (res) => {
      r.head = performance.now() - r.at;
      // How much of that wait this process's event loop was busy (its own work, not the provider's).
      if (elu) r.waitBusy = performance.eventLoopUtilization(elu).active;
      res.once('data', () => (r.body = performance.now() - r.at));
    });
  }
  return req;
};

const pct = (values, p) => {
  const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return v.length ? v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))].toFixed(2) : '-';
};
const line = (label, values) => `  ${label}: p50 ${pct(values, 50)}  p90 ${pct(values, 90)}  p99 ${pct(values, 99)}  max ${pct(values, 100)} ms\n`;

process.on('exit', () => {
  const rs = requests.slice(WARMUP);
  if (rs.length === 0) return;
  const first = rs[0].at;
  const withGc = (r) => gcs.some(([s, d]) => s + d >= r.at && s <= r.at + r.ttft);
  const slow = [...rs].sort((a, b) => b.ttft - a.ttft).slice(0, Math.max(1, Math.ceil(rs.length / 100)));
  const pauses = gcs.filter(([s]) => s >= first).map(([, d]) => d);
  let out = `ai-stream-trace: ${rs.length} answers (after ${WARMUP} of warm-up)\n`;
  out += line('bench send -> server request event', rs.map((r) => r.arrival));
  out += line('request event -> first delta written', rs.map((r) => r.ttft));
  out += line('event loop busy since the previous answer', rs.map((r) => r.busy));
  const phases = (label, group) => {
    out += `  ${label} (${group.length} answers, p50 of each phase):\n`;
    out += line('    request event -> provider call created', group.map((r) => r.out));
    out += line('    created -> its last byte written', group.map((r) => r.sent - r.out));
    out += line('    written -> the answer\'s head', group.map((r) => r.head - r.sent));
    out += line('      of which this event loop was busy', group.map((r) => r.waitBusy ?? NaN));
    out += line('    head -> first body chunk', group.map((r) => r.body - r.head));
    out += line('    first body chunk -> first delta written', group.map((r) => r.ttft - r.body));
    out += `    on a new connection: ${group.filter((r) => r.fresh).length}\n`;
  };
  phases('every answer', rs);
  phases('the slowest 1%', slow);
  out += `  GC pauses meanwhile: ${pauses.length}, p50 ${pct(pauses, 50)} max ${pct(pauses, 100)} ms; during the first token of ${rs.filter(withGc).length} answers, of the slowest 1%: ${slow.filter(withGc).length}/${slow.length}\n`;
  fs.writeSync(2, out);
});
