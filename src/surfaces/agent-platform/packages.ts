import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../core/http/context.ts';
import { tenantWork } from '../../core/http/work.ts';
import { checkPackage, exportPackage, findPackage, importPackage, listPackages, MAX_MANIFEST_BYTES, packageDto, PackageManifestSchema, uninstallPackage, type PackageDto, type PackageManifest } from '../../modules/agents/index.ts';
import { surfaceRoute } from '../surface.ts';
import { appOf, body, DateTime, Deleted, ERRORS, IdParam, json, PageQuery, pageOf, pageWindow, paginated, routeOptions } from './http.ts';

/**
 * Packages (application-scoped; the seed names them and their import limit, 10 per minute, without
 * describing them): installable, versioned bundles of agents. `POST /api/packages/import` takes the
 * manifest and installs its agents in the application (or updates them to its version); a package can
 * be listed, exported as its manifest and uninstalled with its agents.
 */

const tags = ['Packages'];

const PackageOut = z
  .object({
    id: z.string().openapi({ example: 'pkg_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    applicationId: z.string(),
    name: z.string(),
    version: z.string().openapi({ description: 'The installed version' }),
    description: z.string().nullable(),
    checksum: z.string().openapi({ description: 'sha256 of the installed manifest (canonical JSON)' }),
    agents: z.array(z.object({ name: z.string(), id: z.string() })).openapi({ description: 'The agents it installed, by their name in the manifest' }),
    createdAt: DateTime,
    updatedAt: DateTime,
  })
  .openapi('Package');
const ImportOut = PackageOut.extend({
  outcome: z.enum(['installed', 'updated', 'unchanged']).openapi({ description: '`unchanged`: this version with this content was installed already (nothing was done)' }),
}).openapi('PackageImport');

const out = (p: PackageDto) => ({
  id: p.id,
  applicationId: p.application_id,
  name: p.name,
  version: p.version,
  description: p.description,
  checksum: p.checksum,
  agents: p.agents,
  createdAt: p.created_at,
  updatedAt: p.updated_at,
});

export function packageRoutes(app: OpenAPIHono<AppEnv>) {
  const single = '/api/packages/{packageId}';
  const importRoute = surfaceRoute(
    {
      method: 'post',
      path: '/api/packages/import',
      operationId: 'packages_import',
      tags,
      summary: 'Import a package',
      description: `Validates the manifest and installs it in the application in one transaction: its agents are created, or, when another version of the package is installed, updated (a new agent version each), with the agents the new version no longer has deleted (409 while they have runs queued or running). The connections it lists must exist in the application (by name, of the type given). Importing the installed version again changes nothing (200, \`outcome: unchanged\`); the same version with other content is 409. Manifests up to ${MAX_MANIFEST_BYTES / 1024} KiB; 10 imports per minute per key; supports \`Idempotency-Key\`.`,
      request: { body: body(PackageManifestSchema) },
      responses: { 201: json(ImportOut, 'Installed, or updated to this version'), 200: json(ImportOut, 'This version was installed already'), ...ERRORS },
    },
    { ...routeOptions('app', { category: ['packageImport', '/api/packages/import'] }), bodyLimit: MAX_MANIFEST_BYTES },
  );
  const list = surfaceRoute(
    { method: 'get', path: '/api/packages', operationId: 'packages_list', tags, summary: 'List installed packages', request: { query: PageQuery }, responses: { 200: pageOf(PackageOut, 'A page of packages'), ...ERRORS } },
    routeOptions('app'),
  );
  const get = surfaceRoute(
    { method: 'get', path: single, operationId: 'packages_get', tags, summary: 'Get an installed package', request: { params: IdParam('packageId') }, responses: { 200: json(PackageOut, 'The package'), ...ERRORS } },
    routeOptions('app'),
  );
  const exportRoute = surfaceRoute(
    {
      method: 'get',
      path: `${single}/export`,
      operationId: 'packages_export',
      tags,
      summary: 'Export a package',
      description: 'The manifest of the installed version, as it was imported (changes made to its agents since are not in it): import it into another application as is.',
      request: { params: IdParam('packageId') },
      responses: { 200: json(PackageManifestSchema, 'The manifest'), ...ERRORS },
    },
    routeOptions('app'),
  );
  const del = surfaceRoute(
    {
      method: 'delete',
      path: single,
      operationId: 'packages_uninstall',
      tags,
      summary: 'Uninstall a package',
      description: 'Deletes the package and the agents it installed (with their schedules and versions). 409 while one of them has a run queued or running: wait for it or cancel it.',
      request: { params: IdParam('packageId') },
      responses: { 200: json(Deleted, 'Uninstalled'), ...ERRORS },
    },
    routeOptions('app'),
  );
  const idOf = (c: { req: { valid(t: 'param'): unknown } }) => (c.req.valid('param') as { packageId: string }).packageId;

  app.openapi(importRoute, async (c) => {
    const manifest = c.req.valid('json') as PackageManifest;
    await checkPackage(c.get('kernel'), manifest);
    const done = await tenantWork(c, (ctx) => importPackage(ctx, appOf(c).applicationId, manifest));
    return c.json({ ...out(done.package), outcome: done.outcome }, done.outcome === 'unchanged' ? 200 : 201);
  });
  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const page = await tenantWork(c, (ctx) => listPackages(ctx, appOf(c).applicationId, pageWindow(q)));
    return c.json(paginated(q, page.data.map(out), page.total), 200);
  });
  app.openapi(get, async (c) => c.json(out(packageDto(await tenantWork(c, (ctx) => findPackage(ctx, appOf(c).applicationId, idOf(c))))), 200));
  app.openapi(exportRoute, async (c) => c.json(await tenantWork(c, (ctx) => exportPackage(ctx, appOf(c).applicationId, idOf(c))), 200));
  app.openapi(del, async (c) => c.json(await tenantWork(c, (ctx) => uninstallPackage(ctx, appOf(c).applicationId, idOf(c))), 200));
}
