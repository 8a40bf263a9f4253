import { createRoute, OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { guards, type Access, type GuardOptions } from '../core/auth/guard.ts';
import type { AppEnv } from '../core/http/context.ts';
import { validationError } from '../core/http/envelope.ts';
import { ApiError } from '../core/http/errors.ts';
import { requestHost } from '../core/http/headers.ts';
import { refuseDotSegments, requestContext, toApiError } from '../core/http/middleware.ts';
import { boundedJsonDepth, contractBody } from '../core/http/route.ts';
import type { EventType } from '../core/events/catalog.ts';
import type { Kernel } from '../core/kernel.ts';
import { VERSION } from '../core/version.ts';

/**
 * One of the other contracts (seeds 000-003), spoken over the platform's modules. Its routes carry the
 * seed's exact paths; the mechanism below serves them on the surface's own host and, where no contract
 * before it claims the same method and path, on the main host too (DESIGN.md, "Surfaces").
 */
export interface SurfaceDescriptor {
  /** Folder name under src/surfaces and the default host label (`<name>.localhost`). */
  readonly name: string;
  /** The seed file's number, e.g. `000`. */
  readonly seed: string;
  readonly title: string;
  readonly description: string;
  /** The prefix of the contract's paths on the main host (`/api/public/v1`). */
  readonly basePath: string;
  /** false: served on its own host only (its base path is another contract's on the main host). */
  readonly mainHost: boolean;
  /** Where its OpenAPI document is served on its host: the URL its seed names, else `<base>/openapi.json`. */
  readonly openapiPath: string;
  /** Its interactive reference (Scalar) on its host. */
  readonly docsPath: string;
  /** What it adds to a running kernel (outbox consumers, jobs), as a module's `register` does. */
  readonly register?: (kernel: Kernel) => void;
  /** Event types it emits beside the modules' (in the platform's catalogue, so webhooks can subscribe). */
  readonly events?: readonly EventType[];
  /** OpenAPI security schemes its routes name. */
  readonly securitySchemes?: Record<string, Record<string, unknown>>;
  /** How the contract answers an error: every thrown error, validation failure and unknown route comes here. */
  readonly renderError: (c: Context<AppEnv>, error: ApiError) => Response;
  /** Its routes, each declared with `surfaceRoute` on a `surfaceRouter()`. */
  readonly routes: () => OpenAPIHono<AppEnv>;
}

export function defineSurface<const D extends SurfaceDescriptor>(descriptor: D): D {
  return descriptor;
}

/** A surface's routes live on one of these: validation failures become ApiErrors its renderer shapes. */
export function surfaceRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.target, result.error);
    },
  });
}

type Config = Omit<RouteConfig, 'security'>;

export interface SurfaceRouteOptions extends GuardOptions {
  /** Who may call it; `tenant` with a null scope: the surface checks its own scopes in `middleware`. */
  access: Access;
  /** The security requirement its document names (e.g. `[{ apiKey: [] }]`); none for public routes. */
  security?: RouteConfig['security'];
  /** The contract's own checks after the platform's guard (organization header, scopes, versioning). */
  middleware?: MiddlewareHandler<AppEnv>[];
}

/**
 * A route of a contract: the platform's guard (credential, rate limit and monthly quota, body limit,
 * Idempotency-Key), strict bodies and bounded JSON depth, then the contract's own middleware. Errors are
 * documented by the surface itself (they have its shape), so none are added here.
 */
export function surfaceRoute<const R extends Config>(config: R, options: SurfaceRouteOptions) {
  const { body, json } = contractBody(config.request?.body);
  const own = config.middleware ? (Array.isArray(config.middleware) ? config.middleware : [config.middleware]) : [];
  return createRoute({
    ...config,
    ...(config.request ? { request: { ...config.request, body } } : {}),
    security: options.security ?? [],
    middleware: [...guards(options.access, options), ...(json ? [boundedJsonDepth] : []), ...(options.middleware ?? []), ...own],
  }) as unknown as R & { getRoutingPath(): string };
}

/** `GET /a/:id` and `GET /a/:other` are the same claim (Hono paths): parameters match any segment. */
export const claimOf = (method: string, path: string) => `${method.toUpperCase()} ${path.replace(/\/:[^/]+/g, '/:')}`;

export interface BuiltSurface {
  descriptor: SurfaceDescriptor;
  /** The host names it answers on with its exact paths. */
  hosts: string[];
  /** Paths (in Hono form) of the routes also served on the main host; empty when not mounted there. */
  mainHostRoutes: { method: string; path: string }[];
  /** Its OpenAPI 3.1 document, built from its routes. */
  document: () => Record<string, unknown>;
  /** Every route it serves on its own host (method, Hono path). */
  routes: { method: string; path: string }[];
}

const errorHandler =
  (descriptor: SurfaceDescriptor) =>
  (error: unknown, c: Context<AppEnv>): Response => {
    const known = toApiError(error);
    if (!known) (c.get('log') ?? console).error({ err: error }, 'unhandled error');
    return descriptor.renderError(c, known ?? new ApiError('INTERNAL_ERROR', 'Internal server error'));
  };

/**
 * The host names of each surface: `<name>.localhost` unless SURFACE_HOSTS names others
 * (`field-service=api.example.com,agent-platform=agents.example.com`).
 */
export function surfaceHosts(names: readonly string[], setting: string | undefined): Map<string, string[]> {
  const hosts = new Map(names.map((name) => [name, [`${name}.localhost`]]));
  for (const pair of (setting ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const [name, host] = pair.split('=').map((p) => p.trim().toLowerCase());
    if (name && host && hosts.has(name)) hosts.set(name, [host]);
  }
  return hosts;
}

/**
 * Serves the surfaces: each on its own host (a middleware before everything else hands the request to
 * that surface's app), and on `app` (the main host, whose own routes are already mounted) the routes no
 * earlier contract claims. Returns what `/docs/surfaces` lists and the tests check.
 */
export function mountSurfaces(
  app: OpenAPIHono<AppEnv>,
  kernel: Kernel | null,
  surfaces: readonly SurfaceDescriptor[],
  options: { hosts?: string; docsPage: (specUrl: string, title: string, scriptPath: string) => MiddlewareHandler<AppEnv>; docsScript: MiddlewareHandler<AppEnv> },
): MountedSurfaces {
  const claims = new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => claimOf(r.method, r.path)));
  const hostsByName = surfaceHosts(
    surfaces.map((s) => s.name),
    options.hosts,
  );
  const byHost = new Map<string, OpenAPIHono<AppEnv>>();
  const built: BuiltSurface[] = [];
  const onMain: SurfaceDescriptor[] = [];

  for (const descriptor of surfaces) {
    const routes = descriptor.routes();
    // Its document and reference, documented in the document they serve.
    const specRoute = createRoute({
      method: 'get',
      path: descriptor.openapiPath,
      tags: ['Docs'],
      summary: 'OpenAPI specification',
      description: `This OpenAPI 3.1 document, generated from the routes of the ${descriptor.title}.`,
      responses: { 200: { description: 'The OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' } } } } },
    });
    let documentCache: Record<string, unknown> | undefined;
    const document = () =>
      (documentCache ??= routes.getOpenAPI31Document({
        openapi: '3.1.0',
        info: { title: descriptor.title, version: VERSION, description: descriptor.description },
      }) as unknown as Record<string, unknown>);
    let specText: string | undefined;
    routes.openapi(specRoute, (c) => {
      specText ??= JSON.stringify(document());
      return c.body(specText, 200, { 'Content-Type': 'application/json; charset=UTF-8' }) as never;
    });
    const html = (summary: string, description: string, type: string) =>
      createRoute({
        method: 'get',
        path: summary === 'API reference' ? descriptor.docsPath : `${descriptor.docsPath}/scalar.js`,
        tags: ['Docs'],
        summary,
        description,
        responses: { 200: { description: summary, content: { [type]: { schema: { type: 'string' } } } }, ...(type === 'text/javascript' ? { 304: { description: 'Not modified (If-None-Match)' } } : {}) },
      });
    const page = options.docsPage(descriptor.openapiPath, descriptor.title, `${descriptor.docsPath}/scalar.js`);
    routes.openapi(html('API reference', `The interactive reference (Scalar) of ${descriptor.openapiPath}; it loads nothing from the internet.`, 'text/html'), (async (c: Context<AppEnv>) =>
      (await page(c, async () => {})) as Response) as never);
    routes.openapi(html('API reference script', 'The script of the reference page, served from the installed package.', 'text/javascript'), (async (c: Context<AppEnv>) =>
      (await options.docsScript(c, async () => {})) as Response) as never);
    for (const [name, scheme] of Object.entries(descriptor.securitySchemes ?? {})) {
      routes.openAPIRegistry.registerComponent('securitySchemes', name, scheme as never);
    }
    const onError = errorHandler(descriptor);
    const notFound = (c: Context<AppEnv>) => descriptor.renderError(c, new ApiError('NOT_FOUND', `No route for ${c.req.method} ${c.req.path}`));

    // Its own host: its paths exactly, in its own error shape from the first middleware on.
    const hostApp = new OpenAPIHono<AppEnv>();
    if (kernel) hostApp.use('*', requestContext(kernel), refuseDotSegments);
    hostApp.route('/', routes);
    hostApp.onError(onError);
    hostApp.notFound(notFound);
    const hosts = hostsByName.get(descriptor.name)!;
    for (const host of hosts) byHost.set(host, hostApp);

    // The main host: what no earlier contract claims. A plain Hono copy keeps these routes out of the
    // platform's document; middleware (`ALL`) is copied only where it is scoped to the surface's base path.
    const mainHostRoutes: { method: string; path: string }[] = [];
    if (descriptor.mainHost) {
      const mounted = new Hono<AppEnv>();
      const taken = new Set<string>();
      for (const r of routes.routes) {
        if (r.method === 'ALL') {
          if (r.path.startsWith(descriptor.basePath)) mounted.all(r.path, r.handler);
          continue;
        }
        // Only its base path: `/openapi.json` or `/` of a contract rooted at the server's root stay on its host.
        if (!(r.path === descriptor.basePath || r.path.startsWith(`${descriptor.basePath}/`))) continue;
        const claim = claimOf(r.method, r.path);
        if (claims.has(claim)) continue;
        mounted.on(r.method, r.path, r.handler);
        taken.add(claim);
        if (!mainHostRoutes.some((m) => m.method === r.method && m.path === r.path)) mainHostRoutes.push({ method: r.method, path: r.path });
      }
      for (const claim of taken) claims.add(claim);
      mounted.onError(onError);
      app.route('/', mounted);
      onMain.push(descriptor);
    }
    const served = routes.routes.filter((r) => r.method !== 'ALL').map((r) => ({ method: r.method, path: r.path }));
    built.push({
      descriptor,
      hosts,
      mainHostRoutes,
      document,
      routes: served.filter((r, i) => served.findIndex((o) => o.method === r.method && o.path === r.path) === i),
    });
  }

  // The main host's unknown routes and early errors under a surface's base path answer in its shape
  // (the longest base path first: `/api/public/v1` before `/api`).
  const bases = onMain.map((d) => ({ base: d.basePath, onError: errorHandler(d), render: d.renderError })).sort((a, b) => b.base.length - a.base.length);
  const under = (path: string) => bases.find((b) => path === b.base || path.startsWith(`${b.base}/`));
  return {
    surfaces: built,
    dispatch: async (c, next) => {
      const hostApp = byHost.get(requestHost(c));
      if (hostApp) return hostApp.fetch(c.req.raw, c.env);
      await next();
    },
    notFound: (c) => under(c.req.path)?.render(c, new ApiError('NOT_FOUND', `No route for ${c.req.method} ${c.req.path}`)),
    onError: (error, c) => under(c.req.path)?.onError(error, c),
  };
}

export interface MountedSurfaces {
  surfaces: BuiltSurface[];
  /** Hands a request for a surface's host to that surface's app; the main app runs it first of all. */
  dispatch: MiddlewareHandler<AppEnv>;
  /** The answers of the main host under a surface's base path; undefined elsewhere. */
  notFound: (c: Context<AppEnv>) => Response | undefined;
  onError: (error: unknown, c: Context<AppEnv>) => Response | undefined;
}

