import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { z } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../../core/http/context.ts';
import { IsoDate, jsonResponse, ok } from '../../core/http/envelope.ts';
import { ApiError } from '../../core/http/errors.ts';
import { requestHeader } from '../../core/http/headers.ts';
import { createRouter, defineRoute, errorResponse } from '../../core/http/route.ts';
import { SERVICE, VERSION } from '../../core/version.ts';
import type { Kernel } from '../../core/kernel.ts';
import type { SurfaceListing } from '../../core/module.ts';
import { vectorIndexKind } from '../ai/index.ts';
import { consoleFile, consoleIndex, consolePage, serveConsoleFile, serveConsolePage } from './console.ts';
import { landingPage } from './landing.ts';

const PROBE = { kind: 'probe' } as const;
const html = (description: string) => ({ description, content: { 'text/html': { schema: z.string() } } });

const landing = defineRoute(PROBE, {
  method: 'get',
  path: '/',
  tags: ['Public'],
  summary: 'Landing page',
  description: 'Returns the HTML landing page for the API.',
  responses: { 200: html('The landing page') },
});

const docs = defineRoute(PROBE, {
  method: 'get',
  path: '/docs',
  tags: ['Public'],
  summary: 'API documentation UI',
  description: 'Returns the interactive HTML API documentation (Scalar) for /docs/openapi.json.',
  responses: { 200: html('The documentation page') },
});

const docsScript = defineRoute(PROBE, {
  method: 'get',
  path: '/docs/scalar.js',
  tags: ['Public'],
  summary: 'API documentation script',
  description:
    'The script of the documentation UI (Scalar), served from the installed package so that /docs works without internet access. Cached by browsers: the URL /docs names carries the version.',
  responses: {
    200: { description: 'The script', content: { 'text/javascript': { schema: z.string() } } },
    304: { description: 'Not modified (If-None-Match)' },
  },
});

const spec = defineRoute(PROBE, {
  method: 'get',
  path: '/docs/openapi.json',
  tags: ['Public'],
  summary: 'OpenAPI specification',
  description: 'Returns this OpenAPI 3.1 JSON specification, generated from the routes the server serves.',
  responses: { 200: { description: 'The OpenAPI 3.1 document', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } },
});

const SurfaceSchema = z
  .object({
    name: z.string().openapi({ example: 'field-service' }),
    seed: z.string().openapi({ description: 'The seed (contract) it serves', example: '000' }),
    title: z.string(),
    host: z.string().openapi({ description: 'Its own host name, where it answers at its exact paths', example: 'field-service.localhost' }),
    base_paths: z.array(z.string()).openapi({ description: 'Where it is also mounted on this (main) host; empty when it is served on its own host only', example: ['/api/public/v1'] }),
    openapi: z.string().openapi({ description: 'The path of its OpenAPI document on its host', example: '/api/public/v1/openapi.json' }),
    docs: z.string().openapi({ description: 'The path of its interactive reference on its host', example: '/api/public/v1/docs' }),
  })
  .openapi('Surface');

const surfaceList = defineRoute(PROBE, {
  method: 'get',
  path: '/docs/surfaces',
  tags: ['Public'],
  summary: 'List contract surfaces',
  description:
    'The other contracts this server speaks over the same platform, each on its own host with its exact paths and, where no other contract has the same method and path, on this host at its base path.',
  responses: { 200: jsonResponse(z.array(SurfaceSchema), 'The surfaces') },
});

const surfaceSpec = defineRoute(PROBE, {
  method: 'get',
  path: '/docs/surfaces/{name}/openapi.json',
  tags: ['Public'],
  summary: 'A surface\'s OpenAPI specification',
  description: 'The OpenAPI 3.1 document of one surface, as its own host serves it (what /docs offers besides this document).',
  request: { params: z.object({ name: z.string().max(64).openapi({ param: { name: 'name', in: 'path' }, example: 'field-service' }) }) },
  responses: {
    200: { description: 'The OpenAPI 3.1 document', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } },
    400: errorResponse('The path has a `.` or `..` segment'),
    404: errorResponse('No surface has this name'),
  },
});

const health = defineRoute(PROBE, {
  method: 'get',
  path: '/health',
  tags: ['Public'],
  summary: 'Health check',
  description: 'Returns service status, version, deployment region, and timestamp. It does not touch dependencies; see /ready.',
  responses: {
    200: jsonResponse(
      z
        .object({
          status: z.literal('ok'),
          service: z.string(),
          version: z.string(),
          timestamp: IsoDate,
          region: z.string(),
          uptime: z.string().openapi({ example: '2h 5m 12s' }),
          uptime_seconds: z.number().int(),
          vector_index: z.enum(['pgvector', 'hnsw']).openapi({
            description:
              'Where AI search runs its vector index: `pgvector` in the database (embedded PGlite, or PostgreSQL with the extension), or `hnsw`, an in-process index built from the stored vectors (PostgreSQL without pgvector; tenants with under 5,000 vectors are searched exactly)',
          }),
        })
        .openapi('Health'),
      'The server is up',
    ),
  },
});

const CheckSchema = z.enum(['ok', 'down', 'not_configured']);
const ready = defineRoute(PROBE, {
  method: 'get',
  path: '/ready',
  tags: ['Public'],
  summary: 'Readiness probe',
  description: 'Lightweight probe for load balancer health checks: checks the database, and Redis when configured. 503 when one is down.',
  responses: {
    200: jsonResponse(
      z
        .object({
          status: z.literal('ready'),
          service: z.string(),
          timestamp: IsoDate,
          checks: z.object({ database: CheckSchema, redis: CheckSchema }),
        })
        .openapi('Ready'),
      'Ready to serve',
    ),
    503: errorResponse('A dependency is down (`details.checks` says which) or the server is shutting down'),
  },
});

function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3_600);
  const m = Math.floor((seconds % 3_600) / 60);
  const s = seconds % 60;
  return [d ? `${d}d` : '', d || h ? `${h}h` : '', d || h || m ? `${m}m` : '', `${s}s`].filter(Boolean).join(' ');
}

async function check(probe: () => Promise<unknown>, timeoutMs = 2_000): Promise<'ok' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
      }),
    ]);
    return 'ok';
  } catch {
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

export async function readiness(kernel: Kernel) {
  const [database, redis] = await Promise.all([
    check(() => kernel.db.ping()),
    kernel.redis ? check(() => kernel.redis!.ping()) : Promise.resolve('not_configured' as const),
  ]);
  return { database, redis };
}

const SCALAR_BUNDLE = createRequire(import.meta.url).resolve('@scalar/api-reference/browser/standalone.js');
// The package exports no package.json; it sits two folders above dist/browser/.
const SCALAR_VERSION = (JSON.parse(readFileSync(path.join(path.dirname(SCALAR_BUNDLE), '../../package.json'), 'utf8')) as { version: string }).version;
const SCALAR_ETAG = `"scalar-${SCALAR_VERSION}"`;

/** The standalone bundle (3.5 MB) and its gzip, read and compressed once, on first use. */
let scalarBundle: Promise<{ plain: Buffer; gzipped: Buffer }> | undefined;
function loadScalarBundle() {
  scalarBundle ??= (async () => {
    const plain = await readFile(SCALAR_BUNDLE);
    return { plain, gzipped: await promisify(gzip)(plain) };
  })();
  scalarBundle.catch(() => (scalarBundle = undefined));
  return scalarBundle;
}

/**
 * An interactive reference page (Scalar) for the document at `specUrl`, or a picker over `sources`.
 * Everything it needs comes from this server: an air-gapped install has no CDN, and no fonts,
 * telemetry or proxy from scalar.com either.
 */
export function docsPage(specUrl: string, title: string, scriptPath: string, sources: { title: string; url: string }[] = []): MiddlewareHandler<AppEnv> {
  return Scalar<AppEnv>({
    ...(sources.length > 1 ? { sources: sources.map((s, i) => ({ ...s, default: i === 0 })) } : { url: specUrl }),
    pageTitle: title,
    cdn: `${scriptPath}?v=${SCALAR_VERSION}`,
    withDefaultFonts: false,
    telemetry: false,
  } as never) as MiddlewareHandler<AppEnv>;
}

/** The reference page's script (the Scalar bundle), gzipped when the client takes it, cached for a year. */
export const serveDocsScript: MiddlewareHandler<AppEnv> = async (c) => {
  const headers: Record<string, string> = {
    'Content-Type': 'text/javascript; charset=utf-8',
    // The page asks for ?v=<version>, so a new version is a new URL.
    'Cache-Control': 'public, max-age=31536000, immutable',
    ETag: SCALAR_ETAG,
    Vary: 'Accept-Encoding',
  };
  if (requestHeader(c, 'if-none-match')?.split(',').some((tag) => tag.trim() === SCALAR_ETAG)) return c.body(null, 304, headers);
  const bundle = await loadScalarBundle();
  const gzipped = /\bgzip\b/.test(requestHeader(c, 'accept-encoding') ?? '');
  if (gzipped) headers['Content-Encoding'] = 'gzip';
  const bytes = gzipped ? bundle.gzipped : bundle.plain;
  // A view over the cached buffer, not a 3.5 MB copy per request.
  return c.body(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) as Uint8Array<ArrayBuffer>, 200, headers);
};

export function systemRoutes(document: () => Record<string, unknown>, surfaces: () => readonly SurfaceListing[]) {
  const app = createRouter();
  app.openapi(landing, (c) => c.html(landingPage(VERSION), 200));
  // Built on first use: the surfaces (the picker's other documents) are mounted after the modules.
  let page: MiddlewareHandler<AppEnv> | undefined;
  app.openapi(docs, async (c) => {
    page ??= docsPage('/docs/openapi.json', 'Plinth API', '/docs/scalar.js', [
      { title: 'Plinth API', url: '/docs/openapi.json' },
      ...surfaces().map((s) => ({ title: `${s.title} (${s.seed})`, url: `/docs/surfaces/${s.name}/openapi.json` })),
    ]);
    return (await page(c, async () => {})) as Response;
  });
  app.openapi(surfaceList, (c) =>
    c.json(
      ok(
        c,
        surfaces().map((s) => ({ name: s.name, seed: s.seed, title: s.title, host: s.host, base_paths: s.basePaths, openapi: s.openapi, docs: s.docs })),
      ),
      200,
    ),
  );
  app.openapi(surfaceSpec, (c) => {
    const surface = surfaces().find((s) => s.name === c.req.valid('param').name);
    if (!surface) throw new ApiError('NOT_FOUND', 'No surface has this name; GET /docs/surfaces lists them');
    return c.json(surface.document(), 200);
  });
  app.openapi(docsScript, async (c) => (await serveDocsScript(c, async () => {})) as Response);
  app.openapi(consolePage, (c) => serveConsolePage(c) as never);
  app.openapi(consoleIndex, (c) => serveConsolePage(c) as never);
  app.openapi(consoleFile, (c) => serveConsoleFile(c, c.req.valid('param').file) as never);
  // The document never changes while the process runs: serialise it once, not on every request.
  let specText: string | undefined;
  app.openapi(spec, (c) => {
    specText ??= JSON.stringify(document());
    return c.body(specText, 200, { 'Content-Type': 'application/json; charset=UTF-8' }) as never;
  });
  app.openapi(health, (c) => {
    const kernel = c.get('kernel');
    const uptime = Math.floor((Date.now() - kernel.startedAt.getTime()) / 1000);
    return c.json(
      ok(c, {
        status: 'ok' as const,
        service: SERVICE,
        version: VERSION,
        timestamp: new Date().toISOString(),
        region: kernel.config.REGION,
        uptime: formatUptime(uptime),
        uptime_seconds: uptime,
        vector_index: vectorIndexKind(kernel),
      }),
      200,
    );
  });
  app.openapi(ready, async (c) => {
    const kernel = c.get('kernel');
    if (kernel.draining) throw new ApiError('SERVICE_UNAVAILABLE', 'Shutting down', { details: { draining: true } });
    const checks = await readiness(kernel);
    if (checks.database === 'down' || checks.redis === 'down') {
      throw new ApiError('SERVICE_UNAVAILABLE', 'A dependency is down', { details: { checks } });
    }
    return c.json(ok(c, { status: 'ready' as const, service: SERVICE, timestamp: new Date().toISOString(), checks }), 200);
  });
  return app;
}
