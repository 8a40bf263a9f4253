import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { appRoleFor } from '../src/core/db/client.ts';

/**
 * Where a benchmark's server keeps its data: with DATABASE_URL, a database of its own on that server
 * (`admin` is connected to the server, `name` is the database), dropped with its app role by `cleanup`;
 * otherwise an embedded PGlite in a temporary directory. `env` is what the server's environment needs.
 */
export interface BenchStore {
  database: 'PostgreSQL' | 'embedded PGlite';
  env: Record<string, string>;
  admin?: pg.Client;
  name?: string;
  cleanup(): Promise<void>;
}

export async function benchStore(prefix: string): Promise<BenchStore> {
  if (process.env.DATABASE_URL) {
    const name = `plinth_bench_${prefix}_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${name}`;
    return {
      database: 'PostgreSQL',
      env: { DATABASE_URL: url.toString() },
      admin,
      name,
      async cleanup() {
        await admin.query(`drop database if exists ${name} with (force)`);
        await admin.query(`drop role if exists ${appRoleFor(name)}`).catch(() => {});
        await admin.end();
      },
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `plinth-bench-${prefix}-`));
  return { database: 'embedded PGlite', env: { DATA_DIR: dir }, cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
}
