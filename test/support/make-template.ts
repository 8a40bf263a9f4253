// Builds the run's template database for test/support/global-setup.ts: migrations, then the modules'
// job queues (prepareDatabase, as the build's embedded seed). Run as its own process through tsx,
// which loads the app as the server does.
// Usage: make-template.ts --pglite <dump file> | --postgres <database url>
import fs from 'node:fs';
import { prepareDatabase } from '../../src/app.ts';
import { openDatabase } from '../../src/core/db/client.ts';

const [mode, target] = process.argv.slice(2);
if (!target || (mode !== '--pglite' && mode !== '--postgres')) throw new Error('usage: make-template.ts --pglite <file> | --postgres <url>');
const db = mode === '--pglite' ? await openDatabase({ pgliteDir: 'memory://' }) : await openDatabase({ databaseUrl: target, poolMax: 2 });
await prepareDatabase(db);
if (mode === '--pglite') fs.writeFileSync(target, Buffer.from(await (await db.dumpPglite!()).arrayBuffer()));
await db.close();
process.exit(0);
