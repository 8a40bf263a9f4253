// Shard 2 of the contract fuzzer (test/support/fuzz-suite.ts), so that both test workers share the operations.
import { fuzzSuite } from './support/fuzz-suite.ts';

await fuzzSuite(1, 2);
