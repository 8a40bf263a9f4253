// Writes dist/embedded-seed.tar.gz, the data directory a new embedded install starts from (see
// EMBEDDED_SEED in src/core/db/client.ts): an in-memory PGlite, prepared as a server would prepare it,
// dumped. Run by `npm run build` after the compiler, on the compiled code. Without a seed a new install
// runs initdb and the migrations, as it did before, so a failure here warns and does not fail the build.
import fs from 'node:fs';
import { prepareDatabase } from '../dist/app.js';
import { EMBEDDED_SEED, openDatabase } from '../dist/core/db/client.js';

try {
  fs.rmSync(EMBEDDED_SEED, { force: true });
  const db = await openDatabase({ pgliteDir: 'memory://' });
  await prepareDatabase(db);
  const dump = Buffer.from(await (await db.dumpPglite('gzip')).arrayBuffer());
  await db.close();
  fs.writeFileSync(EMBEDDED_SEED, dump);
  console.log(`embedded seed: ${EMBEDDED_SEED} (${(dump.length / 1048576).toFixed(1)} MiB)`);
} catch (error) {
  console.warn(`embedded seed not written (new installs will run initdb and the migrations): ${error instanceof Error ? error.message : error}`);
}
process.exit(0);
