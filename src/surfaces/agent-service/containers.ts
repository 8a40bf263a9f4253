import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../core/http/context.ts';
import { tenantWork } from '../../core/http/work.ts';
import { bindContainer, CODE_TOOL, CONTAINER_LIMITS, createContainer, deleteContainer, findContainer, containerDto, listContainers, unbindContainer } from '../../modules/agents/index.ts';
import { surfaceRoute } from '../surface.ts';
import { authed, CONFLICT, DateTime, ERRORS, json, NOT_FOUND } from './http.ts';

const TAGS = ['containers'];

const WHAT = `A container is an agent's isolated execution environment for its code tools. In Plinth it is a sandbox profile of the functions runtime (isolated-vm): every \`${CODE_TOOL}\` call the agent makes runs in a fresh V8 isolate with the container's heap (memory_limit_mb) and wall-time (timeout_ms) limits, no Node APIs, no file system and no network; nothing persists between calls. Binding a container to an agent gives that agent the \`${CODE_TOOL}\` tool in chat.`;

const ContainerCreateRequest = z
  .object({
    name: z.string().trim().min(1).max(100),
    memory_limit_mb: z.number().int().min(CONTAINER_LIMITS.memoryMb.min).max(CONTAINER_LIMITS.memoryMb.max).optional().openapi({ description: `Heap of each isolate, MiB (default ${CONTAINER_LIMITS.memoryMb.default})` }),
    timeout_ms: z.number().int().min(CONTAINER_LIMITS.timeoutMs.min).max(CONTAINER_LIMITS.timeoutMs.max).optional().openapi({ description: `Wall time of each call (default ${CONTAINER_LIMITS.timeoutMs.default})` }),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .openapi('ContainerCreateRequest');

const ContainerResponse = z
  .object({
    id: z.string().openapi({ example: 'ctr_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    name: z.string(),
    status: z.enum(['running']).openapi({ description: 'Always `running`: isolates start per call, so a container is always ready' }),
    runtime: z.string(),
    memory_limit_mb: z.number().int(),
    timeout_ms: z.number().int(),
    agent_key: z.string().nullable().openapi({ description: 'The id of the agent it is bound to' }),
    metadata: z.record(z.string(), z.unknown()),
    invocations: z.number().int(),
    last_used_at: DateTime.nullable(),
    created_at: DateTime,
    updated_at: DateTime,
  })
  .openapi('ContainerResponse', { description: WHAT });

const ContainerListResponse = z.object({ items: z.array(ContainerResponse), total: z.number().int() }).openapi('ContainerListResponse');
const ContainerBindRequest = z.object({ container_id: z.string().min(1).max(64) }).strict().openapi('ContainerBindRequest');

const IdParam = z.object({ container_id: z.string().min(1).max(64).openapi({ param: { name: 'container_id', in: 'path' } }) });
const AgentParam = z.object({ agent_key: z.string().min(1).max(100).openapi({ param: { name: 'agent_key', in: 'path' }, description: 'The agent\'s id or name' }) });

const create = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/containers',
    operationId: 'create_container',
    tags: TAGS,
    summary: 'Create Container',
    description: `${WHAT} Requires scope \`ai\`.`,
    request: { body: { content: { 'application/json': { schema: ContainerCreateRequest } }, required: true } },
    responses: { 201: json(ContainerResponse, 'The container'), ...ERRORS },
  },
  authed('ai'),
);

const list = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/containers',
    operationId: 'list_containers',
    tags: TAGS,
    summary: 'List Containers',
    description: 'The tenant\'s containers, newest first. Requires scope `ai`.',
    request: { query: z.object({ limit: z.coerce.number().int().min(1).max(100).default(50), offset: z.coerce.number().int().min(0).max(100_000).default(0) }) },
    responses: { 200: json(ContainerListResponse, 'A page of containers'), ...ERRORS },
  },
  authed('ai'),
);

const get = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/containers/{container_id}',
    operationId: 'get_container_by_id',
    tags: TAGS,
    summary: 'Get Container By Id',
    description: 'Requires scope `ai`.',
    request: { params: IdParam },
    responses: { 200: json(ContainerResponse, 'The container'), ...ERRORS, ...NOT_FOUND('The container') },
  },
  authed('ai'),
);

const remove = surfaceRoute(
  {
    method: 'delete',
    path: '/api/v1/containers/{container_id}',
    operationId: 'delete_container',
    tags: TAGS,
    summary: 'Delete Container',
    description: 'Deletes the container; the agent it was bound to loses its code tool. Requires scope `ai`.',
    request: { params: IdParam },
    responses: { 204: { description: 'Deleted' }, ...ERRORS, ...NOT_FOUND('The container') },
  },
  authed('ai'),
);

const bind = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/containers/agents/{agent_key}/container',
    operationId: 'bind_agent_container',
    tags: TAGS,
    summary: 'Bind Agent Container',
    description: `Binds the container to the agent (replacing the agent's previous one): the agent gets \`${CODE_TOOL}\`, run in this container. Requires scope \`ai\`.`,
    request: { params: AgentParam, body: { content: { 'application/json': { schema: ContainerBindRequest } }, required: true } },
    responses: { 200: json(ContainerResponse, 'The bound container'), ...ERRORS, ...NOT_FOUND('The agent or the container'), ...CONFLICT('The container is bound to another agent, or an Idempotency-Key request is in progress') },
  },
  authed('ai'),
);

const unbind = surfaceRoute(
  {
    method: 'delete',
    path: '/api/v1/containers/agents/{agent_key}/container',
    operationId: 'unbind_agent_container',
    tags: TAGS,
    summary: 'Unbind Agent Container',
    description: 'Unbinds the agent\'s container (the container stays). Requires scope `ai`.',
    request: { params: AgentParam },
    responses: { 204: { description: 'Unbound' }, ...ERRORS, ...NOT_FOUND('The agent, or a container bound to it') },
  },
  authed('ai'),
);

export function containersRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(create, async (c) => c.json(await tenantWork(c, (ctx) => createContainer(ctx, c.req.valid('json'))), 201));
  app.openapi(list, async (c) => c.json(await tenantWork(c, (ctx) => listContainers(ctx, c.req.valid('query'))), 200));
  app.openapi(get, async (c) => c.json(containerDto(await tenantWork(c, (ctx) => findContainer(ctx, c.req.valid('param').container_id))), 200));
  app.openapi(remove, async (c) => {
    await tenantWork(c, (ctx) => deleteContainer(ctx, c.req.valid('param').container_id));
    return c.body(null, 204);
  });
  app.openapi(bind, async (c) => c.json(await tenantWork(c, (ctx) => bindContainer(ctx, c.req.valid('param').agent_key, c.req.valid('json').container_id)), 200));
  app.openapi(unbind, async (c) => {
    await tenantWork(c, (ctx) => unbindContainer(ctx, c.req.valid('param').agent_key));
    return c.body(null, 204);
  });
}
