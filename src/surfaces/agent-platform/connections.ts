import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../core/http/context.ts';
import { tenantWork } from '../../core/http/work.ts';
import { checkConnectionUrl, CONNECTION_TYPES, createConnection, deleteConnection, connectionDto, findConnection, listConnections, updateConnection, type ConnectionDto } from '../../modules/agents/index.ts';
import { surfaceRoute } from '../surface.ts';
import { appOf, body, DateTime, Deleted, ERRORS, IdParam, json, PageQuery, pageOf, pageWindow, paginated, routeOptions } from './http.ts';

/**
 * Connections (application-scoped; the seed names them without describing them): the credentials an
 * application's agents use in their HTTP tools to reach an external service. The secret is write-only
 * (sealed at rest, answered as a masked `credentialHint`); it is added to a tool's request only when the
 * URL is under the connection's `baseUrl`. A connection used by an agent cannot be deleted (409).
 */

const tags = ['Connections'];

const ConnectionOut = z
  .object({
    id: z.string().openapi({ example: 'conn_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    applicationId: z.string(),
    name: z.string(),
    provider: z.string().nullable().openapi({ description: 'A label of the service', example: 'github' }),
    type: z.enum(CONNECTION_TYPES).openapi({ description: '`api_key`: the secret in the header `headerName`; `bearer`: `Authorization: Bearer`; `basic`: `Authorization: Basic`' }),
    baseUrl: z.string().openapi({ description: 'The credential is sent only to URLs under this one (same scheme, host, port; path under its path)', example: 'https://api.github.com' }),
    headerName: z.string().nullable(),
    credentialHint: z.string().openapi({ description: 'A masked hint of the secret; the secret itself is never returned', example: '••••a1b2' }),
    createdAt: DateTime,
    updatedAt: DateTime,
  })
  .openapi('Connection');

const Credentials = z
  .object({
    secret: z.string().min(1).max(4096).optional().openapi({ description: 'The key or token (`api_key`, `bearer`)' }),
    username: z.string().min(1).max(200).optional().openapi({ description: '`basic`' }),
    password: z.string().min(1).max(1024).optional().openapi({ description: '`basic`' }),
  })
  .openapi('ConnectionCredentials', { description: 'Write-only: sealed at rest with PLINTH_ENCRYPTION_KEY, never returned' });

const ConnectionInput = z.object({
  name: z.string().trim().min(1).max(100).openapi({ description: 'Unique in the application; HTTP tools and package manifests may name it' }),
  provider: z.string().trim().min(1).max(100).nullable().optional(),
  type: z.enum(CONNECTION_TYPES),
  baseUrl: z.string().url().max(2000).openapi({ description: 'Must pass the outbound guard (no private, loopback or metadata addresses)' }),
  headerName: z.string().max(100).nullable().optional().openapi({ description: '`api_key` only; default `X-API-Key`' }),
  credentials: Credentials,
});
const ConnectionPatch = ConnectionInput.partial().openapi({ description: 'A new `type` needs its `credentials`; `credentials` replace the old ones whole (rotation)' });
type In = z.infer<typeof ConnectionPatch>;

const out = (c: ConnectionDto) => ({
  id: c.id,
  applicationId: c.application_id,
  name: c.name,
  provider: c.provider,
  type: c.type,
  baseUrl: c.base_url,
  headerName: c.header_name,
  credentialHint: c.credential_hint,
  createdAt: c.created_at,
  updatedAt: c.updated_at,
});
const toModule = (b: In) => ({ name: b.name, provider: b.provider, type: b.type, base_url: b.baseUrl, header_name: b.headerName, credentials: b.credentials });

export function connectionRoutes(app: OpenAPIHono<AppEnv>) {
  const single = '/api/connections/{connectionId}';
  const create = surfaceRoute(
    {
      method: 'post',
      path: '/api/connections',
      operationId: 'connections_create',
      tags,
      summary: 'Create a connection',
      description: 'Credentials for the application\'s agents\' HTTP tools (a tool names it in `connection`). Limited to 10 requests per minute per key; supports `Idempotency-Key`.',
      request: { body: body(ConnectionInput) },
      responses: { 201: json(ConnectionOut, 'The connection (with a masked hint of its secret)'), ...ERRORS },
    },
    routeOptions('app', { category: ['creation', '/api/connections'] }),
  );
  const list = surfaceRoute(
    { method: 'get', path: '/api/connections', operationId: 'connections_list', tags, summary: 'List connections', request: { query: PageQuery }, responses: { 200: pageOf(ConnectionOut, 'A page of connections (no secrets)'), ...ERRORS } },
    routeOptions('app'),
  );
  const get = surfaceRoute(
    { method: 'get', path: single, operationId: 'connections_get', tags, summary: 'Get a connection', request: { params: IdParam('connectionId') }, responses: { 200: json(ConnectionOut, 'The connection'), ...ERRORS } },
    routeOptions('app'),
  );
  const patch = surfaceRoute(
    {
      method: 'patch',
      path: single,
      operationId: 'connections_update',
      tags,
      summary: 'Update a connection',
      description: 'Rename it, point it at another base URL or rotate its credentials. Runs use the new values at their next tool call.',
      request: { params: IdParam('connectionId'), body: body(ConnectionPatch) },
      responses: { 200: json(ConnectionOut, 'The connection'), ...ERRORS },
    },
    routeOptions('app'),
  );
  const del = surfaceRoute(
    {
      method: 'delete',
      path: single,
      operationId: 'connections_delete',
      tags,
      summary: 'Delete a connection',
      description: '409 `DEPENDENCY_EXISTS` (naming the agents) while an agent\'s HTTP tool uses it: change those agents first.',
      request: { params: IdParam('connectionId') },
      responses: { 200: json(Deleted, 'Deleted'), ...ERRORS },
    },
    routeOptions('app'),
  );
  const idOf = (c: { req: { valid(t: 'param'): unknown } }) => (c.req.valid('param') as { connectionId: string }).connectionId;

  app.openapi(create, async (c) => {
    const b = c.req.valid('json') as z.infer<typeof ConnectionInput>;
    await checkConnectionUrl(c.get('kernel'), b.baseUrl);
    return c.json(out(await tenantWork(c, (ctx) => createConnection(ctx, appOf(c).applicationId, toModule(b) as never))), 201);
  });
  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const page = await tenantWork(c, (ctx) => listConnections(ctx, appOf(c).applicationId, pageWindow(q)));
    return c.json(paginated(q, page.data.map(out), page.total), 200);
  });
  app.openapi(get, async (c) => c.json(out(connectionDto(await tenantWork(c, (ctx) => findConnection(ctx, appOf(c).applicationId, idOf(c))))), 200));
  app.openapi(patch, async (c) => {
    const b = c.req.valid('json') as In;
    await checkConnectionUrl(c.get('kernel'), b.baseUrl);
    const patchIn = Object.fromEntries(Object.entries(toModule(b)).filter(([, v]) => v !== undefined));
    return c.json(out(await tenantWork(c, (ctx) => updateConnection(ctx, appOf(c).applicationId, idOf(c), patchIn))), 200);
  });
  app.openapi(del, async (c) => c.json(await tenantWork(c, (ctx) => deleteConnection(ctx, appOf(c).applicationId, idOf(c))), 200));
}
