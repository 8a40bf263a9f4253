/**
 * The independent baseline of bench:read-path: what a bare server does for the same read, in its own
 * process. Hono on node-server, a `pg` Pool of 10, a constant bearer-token check and one primary-key
 * SELECT as a named statement (parsed and planned once per connection). No tenant binding, no limits,
 * no logging: the floor any platform read sits on.
 *
 *   BARE_DATABASE_URL=postgres://... BARE_ID=obj_... BARE_TOKEN=... tsx bench/read-path-bare.ts
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.BARE_DATABASE_URL, max: 10 });
const expected = `Bearer ${process.env.BARE_TOKEN}`;
const app = new Hono();
app.get('/objects/:id', async (c) => {
  if (c.req.header('authorization') !== expected) return c.json({ success: false }, 401);
  const { rows } = await pool.query({ name: 'bare_object_by_id', text: 'select * from objects where id = $1', values: [c.req.param('id')] });
  if (!rows[0]) return c.json({ success: false }, 404);
  return c.json({ success: true, data: rows[0] });
});
serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => process.stdout.write(`${JSON.stringify({ port: info.port })}\n`));
process.on('SIGTERM', () => void pool.end().finally(() => process.exit(0)));
