import { run } from './cli/index.ts';

// The `plinth` command (bin/plinth.mjs): see src/cli/index.ts.
await run(process.argv);
