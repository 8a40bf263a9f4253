/**
 * The fake OpenAI-compatible provider of the tests (test/support/fake-openai.ts) in a process of its own,
 * for bench:ai-stream: the bench's own garbage collection and bookkeeping then never hold up the
 * provider's answer to Plinth. Prints `{"url": ...}` once listening; SIGTERM stops it.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { startFakeOpenAI } from '../test/support/fake-openai.ts';

const pauses: number[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) pauses.push(e.duration);
}).observe({ entryTypes: ['gc'] });

const fake = await startFakeOpenAI();
process.stdout.write(`${JSON.stringify({ url: fake.url })}\n`);
process.on('SIGTERM', () => {
  const sorted = pauses.sort((a, b) => a - b);
  if (process.env.BENCH_AI_FAKE_GC) process.stderr.write(`fake provider: ${fake.requests.length} requests, ${sorted.length} GC pauses, p50 ${sorted[sorted.length >> 1]?.toFixed(2)} max ${sorted.at(-1)?.toFixed(2)} ms\n`);
  void fake.close().finally(() => process.exit(0));
});
