import { z } from '@hono/zod-openapi';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { createRouter, defineRoute, idParam } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { checkManifest, getPlugin, installPlugin, listPlugins, MANIFEST_EXAMPLE, uninstallPlugin, updatePlugin } from './service.ts';

const READ = { kind: 'tenant', scope: 'read' } as const;
const MANAGE = { kind: 'tenant', scope: 'write' } as const;
const TAGS = ['Plugins'];
const Params = idParam('plugin_id');

const Installed = z.object({ functions: z.array(z.string()), automations: z.array(z.string()), scheduled_jobs: z.array(z.string()) }).openapi({ description: 'Ids of what the plugin installed' });

export const PluginSchema = z
  .object({
    id: z.string().openapi({ example: 'plg_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    name: z.string(),
    version: z.string(),
    manifest_json: z.record(z.string(), z.unknown()),
    config_json: z.record(z.string(), z.unknown()),
    enabled: z.boolean(),
    created_at: IsoDate,
    updated_at: IsoDate,
    installed: Installed.optional(),
  })
  .openapi('Plugin');

const CreateBody = z.object({
  name: z.string().min(1).max(100),
  version: z.string().min(1).max(50).openapi({ example: '1.0.0' }),
  manifest_json: z.record(z.string(), z.unknown()).openapi({
    description: 'What the plugin installs: `functions`, `automations` and `scheduled_jobs`, each in the shape of its own API (an action may name a function of the manifest as `fn:<name>`)',
    example: MANIFEST_EXAMPLE,
  }),
  config_json: z.record(z.string(), z.unknown()).default({}).openapi({
    description: 'The plugin\'s settings, checked against the manifest\'s `config_schema` (a 400 names each path at fault, `config_json.greeting`); stored with the schema\'s defaults filled in',
    example: { greeting: 'Welcome' },
  }),
  enabled: z.boolean().default(true),
});

const PatchBody = z
  .object({
    name: z.string().min(1).max(100),
    config_json: z.record(z.string(), z.unknown()).openapi({ description: 'Replaces the config; checked against the manifest\'s `config_schema` like on install' }),
    enabled: z.boolean(),
  })
  .partial();

const list = defineRoute(READ, {
  method: 'get',
  path: '/v1/plugins',
  tags: TAGS,
  summary: 'List plugins',
  request: { query: offsetQuery({ limit: 50, max: 200 }) },
  responses: { 200: jsonResponse(z.array(PluginSchema), 'Installed plugins, newest first') },
});

const install = defineRoute(MANAGE, {
  method: 'post',
  path: '/v1/plugins',
  tags: TAGS,
  summary: 'Install plugin',
  description:
    'Installs a manifest: its functions, automations and scheduled jobs are created in one transaction (all or none), each marked with the plugin id. A 400 names the manifest path at fault; 409 when a plugin of that name is installed.',
  request: { body: jsonBody(CreateBody) },
  responses: { 201: jsonResponse(PluginSchema, 'The plugin and what it installed') },
});

const get = defineRoute(READ, {
  method: 'get',
  path: '/v1/plugins/{plugin_id}',
  tags: TAGS,
  summary: 'Get plugin',
  request: { params: Params },
  responses: { 200: jsonResponse(PluginSchema, 'The plugin and what it installed') },
});

const patch = defineRoute(MANAGE, {
  method: 'patch',
  path: '/v1/plugins/{plugin_id}',
  tags: TAGS,
  summary: 'Update plugin',
  description: 'Renames it, replaces its config, or enables/disables it together with everything it installed.',
  request: { params: Params, body: jsonBody(PatchBody) },
  responses: { 200: jsonResponse(PluginSchema, 'The plugin') },
});

const remove = defineRoute(MANAGE, {
  method: 'delete',
  path: '/v1/plugins/{plugin_id}',
  tags: TAGS,
  summary: 'Uninstall plugin',
  description: 'Removes the plugin and exactly what it installed (with their runs and logs), in one transaction.',
  request: { params: Params },
  responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), 'Uninstalled') },
});

export function pluginRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listPlugins(ctx, c.req.valid('query')))), 200));
  app.openapi(install, async (c) => {
    const body = c.req.valid('json');
    const manifest = await checkManifest(body.manifest_json);
    return c.json(
      ok(c, await tenantWork(c, (ctx) => installPlugin(ctx, { name: body.name, version: body.version, manifest, rawManifest: body.manifest_json, config: body.config_json, enabled: body.enabled }))),
      201,
    );
  });
  app.openapi(get, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getPlugin(ctx, c.req.valid('param').plugin_id))), 200));
  app.openapi(patch, async (c) => {
    const body = c.req.valid('json');
    return c.json(ok(c, await tenantWork(c, (ctx) => updatePlugin(ctx, c.req.valid('param').plugin_id, { name: body.name, config: body.config_json, enabled: body.enabled }))), 200);
  });
  app.openapi(remove, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => uninstallPlugin(ctx, c.req.valid('param').plugin_id))), 200));
  return app;
}
