// Builds the run's template database for test/support/global-setup.ts: migrations, then the modules'
// job queues (a queue is a partition with its indexes: sixty of them cost every test platform a second
// of DDL on PGlite). Run as its own process through tsx, which loads the app as the server does.
// Usage: make-template.ts --pglite <dump file> | --postgres <database url>
import fs from 'node:fs';
import pino from 'pino';
import { createKernel, registerModules } from '../../src/app.ts';
import { openDatabase } from '../../src/core/db/client.ts';
import { migrate } from '../../src/core/db/migrate.ts';
import { loadConfig } from '../../src/config.ts';

const [mode, target] = process.argv.slice(2);
if (!target || (mode !== '--pglite' && mode !== '--postgres')) throw new Error('usage: make-template.ts --pglite <file> | --postgres <url>');
const db = mode === '--pglite' ? await openDatabase({ pgliteDir: 'memory://' }) : await openDatabase({ databaseUrl: target, poolMax: 2 });
await migrate(db);
const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: 'memory://', LOG_LEVEL: 'silent' });
const kernel = await createKernel(config, { db: { ...db, close: async () => {} }, migrate: false, logger: pino({ level: 'silent' }) });
registerModules(kernel);
await kernel.jobs.start({ work: false });
await kernel.close();
if (mode === '--pglite') fs.writeFileSync(target, Buffer.from(await (await db.dumpPglite!()).arrayBuffer()));
await db.close();
process.exit(0);
