import { readdir, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { getMimeType } from 'hono/utils/mime';
import type { AppEnv } from '../../core/http/context.ts';
import { requestHeader } from '../../core/http/headers.ts';
import { defineRoute, errorResponse } from '../../core/http/route.ts';

/**
 * The admin console (src/console, a react-admin app) as `npm run build` leaves it in dist/console:
 * index.html and content-hashed files in one flat folder. src/ and dist/ sit at the same depth, so
 * this path is right from either.
 */
const CONSOLE_DIR = new URL('../../../dist/console/', import.meta.url);

const html = { 'text/html': { schema: z.string() } };

export const consolePage = defineRoute({ kind: 'probe' }, {
  method: 'get',
  path: '/console',
  tags: ['Public'],
  summary: 'Admin console',
  description:
    'The admin console: a browser app over this API (sign in with an API key, as a tenant user, or with the system admin key). Everything it loads comes from this server, so it works offline. 503 when the server was not built (`npm run build`).',
  responses: {
    200: { description: 'The console page', content: html },
    503: { description: 'The console was not built', content: html },
  },
});

/** The same page at `/console/`, where a browser's address bar or a relative link may take it. */
export const consoleIndex = defineRoute({ kind: 'probe' }, {
  method: 'get',
  path: '/console/',
  tags: ['Public'],
  summary: 'Admin console (trailing slash)',
  description: 'The admin console page, as at /console.',
  responses: {
    200: { description: 'The console page', content: html },
    503: { description: 'The console was not built', content: html },
  },
});

export const consoleFile = defineRoute({ kind: 'probe' }, {
  method: 'get',
  path: '/console/{file}',
  tags: ['Public'],
  summary: 'Admin console file',
  description:
    'A script, style sheet or image of the admin console (content-hashed names, cached for a year). Any other name answers the console page, whose router reads the URL.',
  request: { params: z.object({ file: z.string().max(200) }) },
  responses: {
    200: { description: 'The file, or the console page', content: { 'application/octet-stream': { schema: z.string() }, ...html } },
    304: { description: 'Not modified (If-None-Match)' },
    400: errorResponse('The path has a `.` or `..` segment (plain or percent-encoded)'),
    503: { description: 'The console was not built', content: html },
  },
});

interface Asset {
  type: string;
  plain: Buffer;
  gzipped?: Promise<Buffer>;
  etag: string;
}

const gzipAsync = promisify(gzip);
const COMPRESSIBLE = /^(text\/|application\/(javascript|json)|image\/svg)/;

/** The built files, read once: a few MB, and the set of names is the only one ever served (no path from the URL reaches the disk). */
let assets: Promise<Map<string, Asset> | null> | undefined;

async function loadAssets(): Promise<Map<string, Asset> | null> {
  let names: string[];
  try {
    names = (await readdir(CONSOLE_DIR, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  } catch {
    return null;
  }
  if (!names.includes('index.html')) return null;
  const map = new Map<string, Asset>();
  for (const name of names) {
    const plain = await readFile(new URL(name, CONSOLE_DIR));
    const type = getMimeType(name) ?? 'application/octet-stream';
    map.set(name, { type, plain, etag: `"${createHash('sha256').update(plain).digest('base64url').slice(0, 27)}"` });
  }
  return map;
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Plinth console</title>
<p>The console has not been built. Run <code>npm run build</code> (<code>npm install</code> runs it) and restart the server.</p>`;

async function send(c: Context<AppEnv>, name: string) {
  assets ??= loadAssets();
  const files = await assets;
  // A build made after this process first looked is picked up on the next request.
  if (!files) {
    assets = undefined;
    return c.html(NOT_BUILT, 503);
  }
  const asset = files.get(name) ?? files.get('index.html')!;
  const page = asset === files.get('index.html');
  const headers: Record<string, string> = {
    'Content-Type': asset.type.startsWith('text/') || asset.type === 'application/javascript' ? `${asset.type}; charset=utf-8` : asset.type,
    // Hashed names never change content; the page must be asked for again to pick up a new build.
    'Cache-Control': page ? 'no-cache' : 'public, max-age=31536000, immutable',
    ETag: asset.etag,
    Vary: 'Accept-Encoding',
  };
  if (requestHeader(c, 'if-none-match')?.split(',').some((tag) => tag.trim() === asset.etag)) return c.body(null, 304, headers);
  let bytes = asset.plain;
  if (COMPRESSIBLE.test(asset.type) && bytes.length > 1024 && /\bgzip\b/.test(requestHeader(c, 'accept-encoding') ?? '')) {
    asset.gzipped ??= gzipAsync(asset.plain);
    bytes = await asset.gzipped;
    headers['Content-Encoding'] = 'gzip';
  }
  return c.body(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) as Uint8Array<ArrayBuffer>, 200, headers);
}

export const serveConsolePage = (c: Context<AppEnv>) => send(c, 'index.html');
export const serveConsoleFile = (c: Context<AppEnv>, file: string) => send(c, file);
