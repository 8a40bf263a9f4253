import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { tenantWork } from '../../core/http/work.ts';
import {
  checkHttpTools,
  createAgent,
  createApplication,
  createAppKey,
  createEndUser,
  createSchedule,
  deleteAgent,
  deleteApplication,
  deleteEndUser,
  deleteSchedule,
  findApplication,
  applicationDto,
  getAgent,
  getScheduleDto,
  endUserDto,
  findEndUser,
  HttpToolSchema,
  KnowledgeSchema,
  listAgents,
  listApplications,
  listAppKeys,
  listEndUsers,
  listSchedules,
  listModelProviders,
  revokeAppKey,
  TOOL_NAMES_FOR_AGENTS,
  updateAgent,
  updateApplication,
  updateEndUser,
  updateSchedule,
  type AgentDto,
} from '../../modules/agents/index.ts';
import { deleteWebhook, pageWebhooks } from '../../modules/webhooks/index.ts';
import { surfaceRoute } from '../surface.ts';
import { appOf, body, caller, DateTime, Deleted, ERRORS, IdParam, json, PageQuery, pageOf, pageWindow, paginated, routeOptions } from './http.ts';

const strictObject = <T extends z.ZodRawShape>(shape: T) => z.object(shape);

// ---------------------------------------------------------------- applications

const ApplicationSchema = z
  .object({ id: z.string().openapi({ example: 'app_01jh3x2k7d9f8g6h5j4k3m2n1p' }), name: z.string(), description: z.string().nullable(), metadata: z.record(z.string(), z.unknown()), createdAt: DateTime, updatedAt: DateTime })
  .openapi('Application');
const ApplicationInput = strictObject({ name: z.string().trim().min(1).max(200), description: z.string().max(2000).nullable().optional(), metadata: z.record(z.string(), z.unknown()).optional() });
const ApplicationPatch = strictObject({ name: z.string().trim().min(1).max(200).optional(), description: z.string().max(2000).nullable().optional(), metadata: z.record(z.string(), z.unknown()).optional() });
const appOut = (a: ReturnType<typeof applicationDto>) => ({ id: a.id, name: a.name, description: a.description, metadata: a.metadata, createdAt: a.created_at, updatedAt: a.updated_at });

// ---------------------------------------------------------------- agents

const LimitsIn = z.object({
  maxSteps: z.number().int().min(1).max(50).optional(),
  maxTokens: z.number().int().min(1).max(200_000).optional(),
  timeoutMs: z.number().int().min(100).max(3_600_000).optional(),
});
const AgentInput = strictObject({
  name: z.string().trim().min(1).max(100),
  description: z.string().max(2000).nullable().optional(),
  model: z.string().max(200).nullable().optional(),
  instructions: z.string().max(100_000).optional(),
  tools: z.array(z.enum(TOOL_NAMES_FOR_AGENTS)).max(10).optional(),
  httpTools: z.array(HttpToolSchema).max(20).optional(),
  knowledge: KnowledgeSchema.nullable().optional(),
  limits: LimitsIn.optional(),
});
const AgentPatch = AgentInput.partial();
const AgentOut = z
  .object({
    id: z.string().openapi({ example: 'agt_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    applicationId: z.string().nullable(),
    version: z.number().int(),
    name: z.string(),
    description: z.string().nullable(),
    model: z.string().nullable(),
    instructions: z.string(),
    tools: z.array(z.string()),
    httpTools: z.array(HttpToolSchema),
    knowledge: KnowledgeSchema.nullable(),
    limits: z.object({ maxSteps: z.number().int(), maxTokens: z.number().int(), timeoutMs: z.number().int() }),
    createdAt: DateTime,
    updatedAt: DateTime,
  })
  .openapi('Agent');
const agentOut = (a: AgentDto) => ({
  id: a.id,
  applicationId: a.application_id,
  version: a.version,
  name: a.name,
  description: a.description,
  model: a.model,
  instructions: a.instructions,
  tools: a.tools,
  httpTools: a.http_tools,
  knowledge: a.knowledge,
  limits: { maxSteps: a.limits.max_steps, maxTokens: a.limits.max_tokens, timeoutMs: a.limits.timeout_ms },
  createdAt: a.created_at,
  updatedAt: a.updated_at,
});
function agentIn(input: z.infer<typeof AgentPatch>) {
  return {
    name: input.name,
    description: input.description,
    model: input.model,
    instructions: input.instructions,
    tools: input.tools,
    http_tools: input.httpTools as never,
    knowledge: input.knowledge,
    limits: input.limits ? { max_steps: input.limits.maxSteps, max_tokens: input.limits.maxTokens, timeout_ms: input.limits.timeoutMs } : undefined,
  };
}

// ---------------------------------------------------------------- schedules

const ScheduleOut = z
  .object({
    id: z.string(),
    agentId: z.string(),
    applicationId: z.string().nullable(),
    cron: z.string().nullable(),
    timezone: z.string(),
    input: z.record(z.string(), z.unknown()),
    enabled: z.boolean(),
    nextRunAt: DateTime.nullable(),
    lastRunAt: DateTime.nullable(),
    createdAt: DateTime,
  })
  .openapi('Schedule');
const RunInput = strictObject({ message: z.string().min(1).max(100_000), context: z.record(z.string(), z.unknown()).optional() });
const ScheduleInput = strictObject({
  agentId: z.string().min(1).max(64),
  cron: z.string().min(1).max(100).nullable().optional(),
  runAt: z.string().datetime({ offset: true }).optional(),
  timezone: z.string().min(1).max(64).default('UTC'),
  input: RunInput,
  enabled: z.boolean().default(true),
});
const SchedulePatch = strictObject({ cron: z.string().min(1).max(100).optional(), timezone: z.string().min(1).max(64).optional(), input: RunInput.optional(), enabled: z.boolean().optional() });
const scheduleOut = (s: Awaited<ReturnType<typeof getScheduleDto>>) => ({
  id: s.id,
  agentId: s.agent_id,
  applicationId: s.application_id,
  cron: s.cron,
  timezone: s.timezone,
  input: s.input,
  enabled: s.enabled,
  nextRunAt: s.next_run_at,
  lastRunAt: s.last_run_at,
  createdAt: s.created_at,
});

// ---------------------------------------------------------------- end users, keys

const EndUserOut = z
  .object({ id: z.string().openapi({ example: 'eu_01jh3x2k7d9f8g6h5j4k3m2n1p' }), applicationId: z.string(), externalId: z.string().nullable(), name: z.string().nullable(), email: z.string().nullable(), userId: z.string().nullable().openapi({ description: 'The organization\'s user this end user is: runs acting for the end user (Appstrate-User) read only what that user may see; without one they read none of the organization\'s data' }), metadata: z.record(z.string(), z.unknown()), createdAt: DateTime, updatedAt: DateTime })
  .openapi('EndUser');
const UserRef = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'not an id').nullable().optional();
const EndUserInput = strictObject({ externalId: z.string().min(1).max(200).nullable().optional(), name: z.string().max(200).nullable().optional(), email: z.string().email().max(254).nullable().optional(), userId: UserRef, metadata: z.record(z.string(), z.unknown()).optional() });
const EndUserPatch = strictObject({ name: z.string().max(200).nullable().optional(), email: z.string().email().max(254).nullable().optional(), userId: UserRef, metadata: z.record(z.string(), z.unknown()).optional() });
const endUserOut = (e: ReturnType<typeof endUserDto>) => ({ id: e.id, applicationId: e.application_id, externalId: e.external_id, name: e.name, email: e.email, userId: e.user_id, metadata: e.metadata, createdAt: e.created_at, updatedAt: e.updated_at });

const endUserPatch = (b: z.infer<typeof EndUserPatch>) => ({ name: b.name, email: b.email, user_id: b.userId, metadata: b.metadata });

const ApiKeyOut = z.object({ id: z.string(), applicationId: z.string(), name: z.string(), revokedAt: DateTime.nullable(), createdAt: DateTime }).openapi('ApplicationApiKey');
const ApiKeyCreated = ApiKeyOut.extend({ key: z.string().openapi({ description: 'The `ask_` key, shown once', example: 'ask_sk_...' }) }).openapi('ApplicationApiKeyCreated');
const ApiKeyInput = strictObject({ name: z.string().trim().min(1).max(100) });
const keyOut = (k: { id: string; application_id: string; name: string; revoked_at: string | null; created_at: string }) => ({ id: k.id, applicationId: k.application_id, name: k.name, revokedAt: k.revoked_at, createdAt: k.created_at });

const ProviderOut = z
  .object({
    id: z.string(),
    name: z.string().openapi({ description: 'Name agents use in `model` (`<name>/<model>`)' }),
    type: z.enum(['local', 'openai', 'anthropic']),
    isDefault: z.boolean(),
    apiKeySet: z.boolean(),
    createdAt: DateTime,
  })
  .openapi('Provider');

/** CRUD of applications (organization), agents, schedules, end users and application keys (application). */
export function resourceRoutes(app: OpenAPIHono<AppEnv>) {
  const crud = <P extends string>(opts: {
    tag: string;
    path: string;
    param: P;
    scope: 'org' | 'app';
    Out: z.ZodType;
    Input?: z.ZodType;
    Patch?: z.ZodType;
    what: string;
    op: string;
  }) => {
    const tags = [opts.tag];
    const single = `${opts.path}/{${opts.param}}`;
    const create = surfaceRoute(
      { method: 'post', path: opts.path, operationId: `${opts.op}_create`, tags, summary: `Create ${opts.what}`, request: { body: body(opts.Input!) }, responses: { 201: json(opts.Out, `The new ${opts.what}`), ...ERRORS } },
      routeOptions(opts.scope, { category: ['creation', opts.path] }),
    );
    const list = surfaceRoute(
      { method: 'get', path: opts.path, operationId: `${opts.op}_list`, tags, summary: `List ${opts.what}s`, request: { query: PageQuery }, responses: { 200: pageOf(opts.Out, `A page of ${opts.what}s`), ...ERRORS } },
      routeOptions(opts.scope),
    );
    const get = surfaceRoute(
      { method: 'get', path: single, operationId: `${opts.op}_get`, tags, summary: `Get ${opts.what}`, request: { params: IdParam(opts.param) }, responses: { 200: json(opts.Out, `The ${opts.what}`), ...ERRORS } },
      routeOptions(opts.scope),
    );
    const patch = opts.Patch
      ? surfaceRoute(
          { method: 'patch', path: single, operationId: `${opts.op}_update`, tags, summary: `Update ${opts.what}`, request: { params: IdParam(opts.param), body: body(opts.Patch) }, responses: { 200: json(opts.Out, `The ${opts.what}`), ...ERRORS } },
          routeOptions(opts.scope),
        )
      : undefined;
    const del = surfaceRoute(
      { method: 'delete', path: single, operationId: `${opts.op}_delete`, tags, summary: `Delete ${opts.what}`, request: { params: IdParam(opts.param) }, responses: { 200: json(Deleted, 'Deleted'), ...ERRORS } },
      routeOptions(opts.scope),
    );
    return { create, list, get, patch, del };
  };

  // Applications: an application key sees its own application only.
  const apps = crud({ tag: 'Applications', path: '/api/applications', param: 'appId', scope: 'org', Out: ApplicationSchema, Input: ApplicationInput, Patch: ApplicationPatch, what: 'application', op: 'applications' });
  const ownApp = (c: Parameters<Parameters<typeof app.openapi>[1]>[0], id: string) => {
    const k = caller(c).keyApplication;
    if (k && k !== id) throw new ApiError('NOT_FOUND', 'Application not found');
  };
  app.openapi(apps.create, async (c) => {
    if (caller(c).appKey) throw new ApiError('FORBIDDEN', 'An application key cannot create applications');
    return c.json(appOut(await tenantWork(c, (ctx) => createApplication(ctx, c.req.valid('json') as z.infer<typeof ApplicationInput>))), 201);
  });
  app.openapi(apps.list, async (c) => {
    const q = c.req.valid('query');
    const k = caller(c).keyApplication;
    if (k) {
      const one = await tenantWork(c, (ctx) => findApplication(ctx, k));
      return c.json(paginated(q, q.page === 1 ? [appOut(applicationDto(one))] : [], 1), 200);
    }
    const page = await tenantWork(c, (ctx) => listApplications(ctx, pageWindow(q)));
    return c.json(paginated(q, page.data.map(appOut), page.total), 200);
  });
  app.openapi(apps.get, async (c) => {
    const id = (c.req.valid('param') as { appId: string }).appId;
    ownApp(c, id);
    return c.json(appOut(applicationDto(await tenantWork(c, (ctx) => findApplication(ctx, id)))), 200);
  });
  app.openapi(apps.patch!, async (c) => {
    const id = (c.req.valid('param') as { appId: string }).appId;
    ownApp(c, id);
    return c.json(appOut(await tenantWork(c, (ctx) => updateApplication(ctx, id, c.req.valid('json') as z.infer<typeof ApplicationPatch>))), 200);
  });
  app.openapi(apps.del, async (c) => {
    const id = (c.req.valid('param') as { appId: string }).appId;
    ownApp(c, id);
    if (caller(c).appKey) throw new ApiError('FORBIDDEN', 'An application key cannot delete its application');
    // Its webhooks go with it, in the same transaction (an application that still has agents stays, webhooks too).
    return c.json(
      await tenantWork(c, async (ctx) => {
        const deleted = await deleteApplication(ctx, id);
        for (;;) {
          const page = await pageWebhooks(ctx, { limit: 100, offset: 0 }, { applicationId: id });
          for (const w of page.data) await deleteWebhook(ctx, w.id, {}, { applicationId: id }, { cascade: true });
          if (page.data.length < 100) break;
        }
        return deleted;
      }),
      200,
    );
  });

  // Agents
  const ag = crud({ tag: 'Agents', path: '/api/agents', param: 'agentId', scope: 'app', Out: AgentOut, Input: AgentInput, Patch: AgentPatch, what: 'agent', op: 'agents' });
  app.openapi(ag.create, async (c) => {
    const input = agentIn(c.req.valid('json') as z.infer<typeof AgentInput>);
    await checkHttpTools(c.get('kernel'), input.http_tools);
    return c.json(agentOut(await tenantWork(c, (ctx) => createAgent(ctx, input as never, appOf(c)))), 201);
  });
  app.openapi(ag.list, async (c) => {
    const q = c.req.valid('query');
    const page = await tenantWork(c, (ctx) => listAgents(ctx, pageWindow(q), appOf(c)));
    return c.json(paginated(q, page.agents.map(agentOut), page.total), 200);
  });
  app.openapi(ag.get, async (c) => c.json(agentOut(await tenantWork(c, (ctx) => getAgent(ctx, (c.req.valid('param') as { agentId: string }).agentId, appOf(c)))), 200));
  app.openapi(ag.patch!, async (c) => {
    const input = agentIn(c.req.valid('json') as z.infer<typeof AgentPatch>);
    await checkHttpTools(c.get('kernel'), input.http_tools);
    const patch = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
    return c.json(agentOut(await tenantWork(c, (ctx) => updateAgent(ctx, (c.req.valid('param') as { agentId: string }).agentId, patch, appOf(c)))), 200);
  });
  app.openapi(ag.del, async (c) => c.json(await tenantWork(c, (ctx) => deleteAgent(ctx, (c.req.valid('param') as { agentId: string }).agentId, appOf(c))), 200));

  // Schedules
  const sc = crud({ tag: 'Schedules', path: '/api/schedules', param: 'scheduleId', scope: 'app', Out: ScheduleOut, Input: ScheduleInput, Patch: SchedulePatch, what: 'schedule', op: 'schedules' });
  app.openapi(sc.create, async (c) => {
    const b = c.req.valid('json') as z.infer<typeof ScheduleInput>;
    const s = await tenantWork(c, (ctx) => createSchedule(ctx, { agent_id: b.agentId, cron: b.cron, run_at: b.runAt, timezone: b.timezone, input: b.input, enabled: b.enabled }, appOf(c)));
    return c.json(scheduleOut(s), 201);
  });
  app.openapi(sc.list, async (c) => {
    const q = c.req.valid('query');
    const page = await tenantWork(c, (ctx) => listSchedules(ctx, pageWindow(q), appOf(c)));
    return c.json(paginated(q, page.schedules.map(scheduleOut), page.total), 200);
  });
  app.openapi(sc.get, async (c) => c.json(scheduleOut(await tenantWork(c, (ctx) => getScheduleDto(ctx, (c.req.valid('param') as { scheduleId: string }).scheduleId, appOf(c)))), 200));
  app.openapi(sc.patch!, async (c) =>
    c.json(scheduleOut(await tenantWork(c, (ctx) => updateSchedule(ctx, (c.req.valid('param') as { scheduleId: string }).scheduleId, c.req.valid('json') as z.infer<typeof SchedulePatch>, appOf(c)))), 200),
  );
  app.openapi(sc.del, async (c) => c.json(await tenantWork(c, (ctx) => deleteSchedule(ctx, (c.req.valid('param') as { scheduleId: string }).scheduleId, appOf(c))), 200));

  // End users
  const eu = crud({ tag: 'End users', path: '/api/end-users', param: 'endUserId', scope: 'app', Out: EndUserOut, Input: EndUserInput, Patch: EndUserPatch, what: 'end user', op: 'endUsers' });
  app.openapi(eu.create, async (c) => {
    const b = c.req.valid('json') as z.infer<typeof EndUserInput>;
    return c.json(endUserOut(await tenantWork(c, (ctx) => createEndUser(ctx, appOf(c).applicationId, { external_id: b.externalId, name: b.name, email: b.email, user_id: b.userId, metadata: b.metadata }))), 201);
  });
  app.openapi(eu.list, async (c) => {
    const q = c.req.valid('query');
    const page = await tenantWork(c, (ctx) => listEndUsers(ctx, appOf(c).applicationId, pageWindow(q)));
    return c.json(paginated(q, page.data.map(endUserOut), page.total), 200);
  });
  app.openapi(eu.get, async (c) =>
    c.json(endUserOut(endUserDto(await tenantWork(c, (ctx) => findEndUser(ctx, appOf(c).applicationId, (c.req.valid('param') as { endUserId: string }).endUserId)))), 200),
  );
  app.openapi(eu.patch!, async (c) =>
    c.json(endUserOut(await tenantWork(c, (ctx) => updateEndUser(ctx, appOf(c).applicationId, (c.req.valid('param') as { endUserId: string }).endUserId, endUserPatch(c.req.valid('json') as z.infer<typeof EndUserPatch>)))), 200),
  );
  app.openapi(eu.del, async (c) => c.json(await tenantWork(c, (ctx) => deleteEndUser(ctx, appOf(c).applicationId, (c.req.valid('param') as { endUserId: string }).endUserId)), 200));

  // Providers: the organization's AI providers (managed through the platform's /v1/ai-providers), read-only here.
  const providers = surfaceRoute(
    {
      method: 'get',
      path: '/api/providers',
      operationId: 'providers_list',
      tags: ['Providers'],
      summary: 'List model providers',
      description: 'The model providers agents of this application can name in `model` (`<provider name>/<model>`): the organization\'s AI providers. Without one, agents use the server\'s default provider.',
      request: { query: PageQuery },
      responses: { 200: pageOf(ProviderOut, 'A page of providers'), ...ERRORS },
    },
    routeOptions('app'),
  );
  app.openapi(providers, async (c) => {
    const q = c.req.valid('query');
    const all = await tenantWork(c, (ctx) => listModelProviders(ctx));
    const { limit, offset } = pageWindow(q);
    const data = all.slice(offset, offset + limit).map((p) => ({ id: p.id, name: p.name, type: p.provider_type, isDefault: p.is_default, apiKeySet: p.api_key_set, createdAt: p.created_at }));
    return c.json(paginated(q, data, all.length), 200);
  });

  // Application API keys (create, list, revoke)
  const keyTags = ['API keys'];
  const createKey = surfaceRoute(
    {
      method: 'post',
      path: '/api/api-keys',
      operationId: 'apiKeys_create',
      tags: keyTags,
      summary: 'Create an application API key',
      description: 'An `ask_` key of the application (X-App-Id), shown once. It is a Plinth API key of the organization with scopes `ai` and `read`, bound to the application.',
      request: { body: body(ApiKeyInput) },
      responses: { 201: json(ApiKeyCreated, 'The key, with its secret'), ...ERRORS },
    },
    routeOptions('app', { category: ['creation', '/api/api-keys'] }),
  );
  const listKeys = surfaceRoute(
    { method: 'get', path: '/api/api-keys', operationId: 'apiKeys_list', tags: keyTags, summary: 'List application API keys', request: { query: PageQuery }, responses: { 200: pageOf(ApiKeyOut, 'A page of keys (no secrets)'), ...ERRORS } },
    routeOptions('app'),
  );
  const revoke = surfaceRoute(
    { method: 'delete', path: '/api/api-keys/{keyId}', operationId: 'apiKeys_revoke', tags: keyTags, summary: 'Revoke an application API key', request: { params: IdParam('keyId') }, responses: { 200: json(ApiKeyOut, 'The revoked key'), ...ERRORS } },
    routeOptions('app'),
  );
  app.openapi(createKey, async (c) => {
    const k = await tenantWork(c, (ctx) => createAppKey(ctx, appOf(c).applicationId, { name: (c.req.valid('json') as { name: string }).name }));
    return c.json({ ...keyOut(k), key: k.token }, 201);
  });
  app.openapi(listKeys, async (c) => {
    const q = c.req.valid('query');
    const page = await tenantWork(c, (ctx) => listAppKeys(ctx, appOf(c).applicationId, pageWindow(q)));
    return c.json(paginated(q, page.data.map(keyOut), page.total), 200);
  });
  app.openapi(revoke, async (c) => c.json(keyOut(await tenantWork(c, (ctx) => revokeAppKey(ctx, appOf(c).applicationId, (c.req.valid('param') as { keyId: string }).keyId))), 200));
}
