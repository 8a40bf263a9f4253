/**
 * Functions benchmark: tenant JavaScript through the isolated-vm sandbox, cold (a fresh isolate per
 * invocation) and warm (the function's isolate reused, as the platform does per tenant, function and
 * version), sequentially for latency and from 8 callers for throughput.
 *
 * Targets: warm p99 <= 5 ms and >= 1,000 invocations/s.
 *
 *   npm run bench:functions
 *   BENCH_INVOCATIONS=2000 npm run bench:functions
 */
import { runSandboxed } from '../src/modules/automations/functions/sandbox.ts';

const N = Number(process.env.BENCH_INVOCATIONS ?? 500);
const CODE = 'async function handler(input) { console.log("n", input.n); return { doubled: input.n * 2, items: input.items.map((i) => i.price).reduce((a, b) => a + b, 0) } }';
const LIMITS = { timeoutMs: 1000, memoryMb: 32 };

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function once(n: number, warmKey?: string): Promise<number> {
  const started = performance.now();
  const result = await runSandboxed(CODE, { n, items: [{ price: 1 }, { price: 2 }] }, LIMITS, {}, { warmKey });
  if (!result.ok || (result.output as { doubled: number }).doubled !== n * 2) throw new Error(`bad result ${JSON.stringify(result)}`);
  return performance.now() - started;
}

async function measure(label: string, key: (caller: number) => string | undefined, targets = false) {
  for (let i = 0; i < 20; i++) await once(i, key(0));
  const latencies: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < N; i++) latencies.push(await once(i, key(0)));
  const sequential = (N / (performance.now() - t0)) * 1000;
  const t1 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async (_, caller) => {
      while (next < N) await once(next++, key(caller));
    }),
  );
  const parallel = (N / (performance.now() - t1)) * 1000;
  console.log(`functions, ${label} (${N} invocations)`);
  console.log(`  latency p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`);
  console.log(`  throughput: ${sequential.toFixed(0)}/s from 1 caller, ${parallel.toFixed(0)}/s from 8 callers`);
  if (targets) {
    const p99 = percentile(latencies, 99);
    const best = Math.max(sequential, parallel);
    console.log(`  [target warm p99 <= 5 ms: ${p99 <= 5 ? 'met' : 'MISSED'}; >= 1,000/s: ${best >= 1000 ? 'met' : 'MISSED'}]`);
  }
}

async function main() {
  await measure('cold start: a fresh isolate per invocation', () => undefined);
  // 8 callers of 8 tenants' functions: one warm isolate each.
  await measure('warm: the function\'s isolate reused', (caller) => `tenant_${caller}:fn:1:32`, true);
}

void main();
