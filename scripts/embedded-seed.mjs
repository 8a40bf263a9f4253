// Writes dist/embedded-seed.tar.gz, the data directory a new embedded install starts from (see
// EMBEDDED_SEED in src/core/db/client.ts): an in-memory PGlite, prepared as a server would prepare it,
// dumped. Run by `npm run build` after the compiler, on the compiled code.
import fs from 'node:fs';
import { prepareDatabase } from '../dist/app.js';
import { EMBEDDED_SEED, openDatabase } from '../dist/core/db/client.js';

const db = await openDatabase({ pgliteDir: 'memory://' });
await prepareDatabase(db);
const dump = Buffer.from(await (await db.dumpPglite('gzip')).arrayBuffer());
await db.close();
fs.writeFileSync(EMBEDDED_SEED, dump);
console.log(`embedded seed: ${EMBEDDED_SEED} (${(dump.length / 1048576).toFixed(1)} MiB)`);
process.exit(0);
