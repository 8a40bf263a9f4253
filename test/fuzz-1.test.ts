// Shard 1 of the contract fuzzer (test/support/fuzz-suite.ts), so that both test workers share the operations.
import { fuzzSuite } from './support/fuzz-suite.ts';

await fuzzSuite(0, 2);
