/**
 * The fake OpenAI-compatible provider of the tests (test/support/fake-openai.ts) in a process of its own,
 * for bench:ai-stream: the bench's own garbage collection and bookkeeping then never hold up the
 * provider's answer to Plinth. Prints `{"url": ...}` once listening; SIGTERM stops it.
 */
import { startFakeOpenAI } from '../test/support/fake-openai.ts';

const fake = await startFakeOpenAI();
process.stdout.write(`${JSON.stringify({ url: fake.url })}\n`);
process.on('SIGTERM', () => void fake.close().finally(() => process.exit(0)));
