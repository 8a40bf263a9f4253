// The contract fuzzer: for every operation of the served OpenAPI documents (the platform's and each surface's),
// FUZZ_RUNS requests (100 by default, a new seed each run) built from its schemas and broken in the ways clients and attackers break them.
// It fails on any 5xx, an error outside the contract's shape or without Request-Id, a status the operation does not
// document, and a process that stops answering. Every route gets it by being in a document. The operations are split
// over shard files (test/fuzz-*.test.ts) so that the two test workers share them.
// Reproduce a failure with FUZZ_SEED=<seed> FUZZ_ONLY="<METHOD path>" (both printed with it); FUZZ_ONLY=<path prefix> runs every operation under it.
import http from 'node:http';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/core/http/errors.ts';
import { requestsFor, SchemaArbitraries, type FuzzRequest, type Operation } from './fuzz.ts';
import { listen } from './events.ts';
import { newUser } from './identity.ts';
import { ADMIN_KEY, testPlatform, type TestPlatform } from './platform.ts';
import { fromUuid, toUuid } from '../../src/surfaces/field-service/ids.ts';


/** Registers this shard's share of the operations (every `shards`-th, from `shard`) as tests. */
export async function fuzzSuite(shard: number, shards: number): Promise<void> {
  const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
  const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
  const ONLY = process.env.FUZZ_ONLY;
  const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

  // The documents are read from a platform built at collection time, so every operation is its own test:
  // the platform's, then each contract surface's (fuzzed in its own conventions: credentials, error shape).
  const { spec, surfaceSpecs } = await (async () => {
    const t = await testPlatform();
    try {
      const surfaces = (await t.request('GET', '/docs/surfaces')).body.data as { name: string }[];
      const surfaceSpecs: Record<string, any> = {};
      for (const s of surfaces) surfaceSpecs[s.name] = (await t.request('GET', `/docs/surfaces/${s.name}/openapi.json`)).body;
      return { spec: (await t.request('GET', '/docs/openapi.json')).body, surfaceSpecs };
    } finally {
      await t.close();
    }
  })();

  type FuzzOperation = Operation & { surface?: string };
  const operationsOf = (document: any, surface?: string): FuzzOperation[] =>
    Object.entries<any>(document.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((method) => ({ method, path, op: item[method], surface })));
  const operations: FuzzOperation[] = [operationsOf(spec), ...Object.entries(surfaceSpecs).map(([name, doc]) => operationsOf(doc, name))]
    .flat()
    .filter((o) => !ONLY || `${o.method.toUpperCase()} ${o.path}` === ONLY || (!ONLY.includes(' ') && o.path.startsWith(ONLY)))
    .filter((_, i) => i % shards === shard);

  /** What an error body of each surface must look like (the platform's envelope is checked in `problems`). */
  const SURFACE_ERRORS: Record<string, (body: any) => string[]> = {
    'field-service': (body) => [
      ...(typeof body.error === 'string' && body.error ? [] : ['error body lacks its `error` message']),
      ...(body.success === undefined ? [] : ['error body is in the platform envelope, not the contract\'s']),
    ],
    'agent-platform': (body) => [
      ...(typeof body.type === 'string' && typeof body.title === 'string' && typeof body.status === 'number' && typeof body.detail === 'string' && typeof body.instance === 'string'
        ? []
        : ['error body is not an RFC 9457 problem (type, title, status, detail, instance)']),
      ...(body.success === undefined ? [] : ['error body is in the platform envelope, not the contract\'s']),
    ],
    // FastAPI's: 422 {detail: [{loc, msg, type}]}, anything else {detail: "..."}.
    'agent-service': (body) => [
      ...(typeof body.detail === 'string' && body.detail
        ? []
        : Array.isArray(body.detail) && body.detail.length && body.detail.every((d: any) => Array.isArray(d?.loc) && typeof d.msg === 'string' && typeof d.type === 'string')
          ? []
          : ['error body is not {detail} or {detail: [{loc, msg, type}]}']),
      ...(body.success === undefined ? [] : ['error body is in the platform envelope, not the contract\'s']),
    ],
    assistant: (body) => [
      ...(body.success === false ? [] : ['error body lacks success: false']),
      ...(typeof body.error?.code === 'string' && body.error.code ? [] : ['error body lacks its `error.code`']),
      ...(typeof body.error?.message === 'string' && body.error.message ? [] : ['error body lacks its `error.message`']),
      ...(body.request_id === undefined ? [] : ['error body is in the platform envelope, not the contract\'s']),
    ],
  };

  // A success answer must match the schema the document gives it, or the document lies to SDKs.
  const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
  addFormats.default(ajv);
  ajv.addSchema({ $id: 'openapi', components: spec.components });
  for (const [name, doc] of Object.entries(surfaceSpecs)) ajv.addSchema({ $id: `openapi-${name}`, components: doc.components });
  const checkedSuccesses = new Set<string>();
  const validators = new Map<string, ValidateFunction | null>();
  function responseValidator(operation: FuzzOperation, status: number): ValidateFunction | null {
    const key = `${operation.surface ?? ''} ${operation.method} ${operation.path} ${status}`;
    if (!validators.has(key)) {
      const schema = operation.op.responses?.[String(status)]?.content?.['application/json']?.schema;
      const id = operation.surface ? `openapi-${operation.surface}` : 'openapi';
      const rewritten = schema && JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', `"${id}#/components/`));
      validators.set(key, rewritten ? ajv.compile(rewritten) : null);
    }
    return validators.get(key)!;
  }

  let t: TestPlatform;
  let server: Awaited<ReturnType<typeof listen>>;
  let tenantToken: string;
  let existing: Record<string, string[]> = {};
  let receiver: http.Server;
  let userToken: string;
  // Over a real socket: fetch would refuse some of what clients send (a GET with a body), and node's own
  // parsing and URL handling are part of what is under test.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const arbs = new SchemaArbitraries(spec);
  const surfaceArbs = Object.fromEntries(Object.entries(surfaceSpecs).map(([name, doc]) => [name, new SchemaArbitraries(doc)]));
  /** Each surface's valid caller and broken credentials, set once the tenants exist. */
  const surfaceAuth: Record<string, { caller: Record<string, string>; variants: [string, Record<string, string>][] }> = {};

  beforeAll(async () => {
    t = await testPlatform({
      // Limits are tested elsewhere; here they would turn most requests into 429 before they reach a handler.
      RATE_LIMIT_PER_MINUTE: '100000000',
      ANON_RATE_LIMIT_PER_MINUTE: '100000000',
      AUTH_FAILURES_PER_MINUTE: '100000000',
      ARGON2_MEMORY_KIB: '8192',
      ARGON2_TIME_COST: '1',
      // The seeded webhook delivers to a receiver of this test.
      OUTBOUND_ALLOW_LOOPBACK: 'true',
      // Stripe webhooks are verified (and refused), not answered 503 for want of a secret.
      STRIPE_WEBHOOK_SECRET: 'whsec_fuzz',
    });
    // No fuzzed request reaches the internet: every name (an AI provider's default host, a made-up
    // base_url) resolves to a documentation address the outbound guard refuses. Loopback stays reachable.
    t.kernel.outbound.resolve = async () => [{ address: '192.0.2.1', family: 4 }];
    receiver = http.createServer((req, res) => req.resume().on('end', () => res.end('ok')));
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const tenant = await t.newTenant({ plan_tier: 'enterprise', plan_limits: { rate_limit_per_minute: 1_000_000, requests_per_month: 1_000_000_000 } });
    tenantToken = tenant.token;
    existing = await seed(t, tenantToken);
    const tenantId = tenant.tenantId;
    const other = await t.newTenant();
    Object.assign(existing, await seedFieldService(t, tenantToken, tenantId, other.tenantId));
    Object.assign(existing, await seedAgentPlatform(t, tenantToken, other.token));
    Object.assign(existing, await seedAssistant(t, tenantToken, tenantId, other.token));
    const agentService = await seedAgentService(t, tenantToken, other.token);
    Object.assign(existing, { ...agentService, object_id: [...(existing.object_id ?? []), ...agentService.object_id!] });
    Object.assign(existing, await seedStatus(t));
    // `{tenant_id}` names a spare tenant: the admin routes may suspend or delete it, and the billing routes
    // (which would change the fuzzed tenant's plan and so its quota) answer its id 404 for this tenant's key.
    const spare = await t.newTenant();
    Object.assign(existing, seedAgentServiceBilling(tenantToken, spare.tenantId, other.token));
    Object.assign(existing, await seedAgentServiceAgents(t, tenantToken, existing.appId![0]!));
    server = await listen(t.app);
  });
  afterAll(async () => {
    agent.destroy();
    await server?.close();
    receiver?.closeAllConnections();
    receiver?.close();
    await t?.close();
  });

  /** Records of each kind the API has, so that fuzzed requests reach handlers and not only lookups. */
  async function seed(t: TestPlatform, token: string): Promise<Record<string, string[]>> {
    const ok = <R extends { status: number; text: string }>(res: R, what: string): R => {
      if (res.status >= 300) throw new Error(`seeding ${what}: ${res.status} ${res.text}`);
      return res;
    };
    const type = 'fuzz_items';
    const typeId = ok(await t.request('POST', '/v1/object-types', { token, body: { name: type } }), 'type').body.data.id;
    for (const [name, data_type] of [['title', 'string'], ['amount', 'number'], ['data', 'json'], ['flag', 'boolean']]) {
      ok(await t.request('POST', `/v1/object-types/${type}/properties`, { token, body: { name, data_type } }), `property ${name}`);
    }
    const records = [];
    for (const title of ['one', 'two']) {
      records.push(ok(await t.request('POST', `/v1/objects/${type}`, { token, body: { properties: { title, amount: 1, data: { a: 1 } } } }), 'record').body.data.id);
    }
    const form = new FormData();
    form.set('file', new Blob(['hello fuzzer'], { type: 'text/plain' }), 'hello.txt');
    const file = ok(await t.request('POST', '/v1/files/upload', { token, body: form }), 'file').body.data.id;
    const user = ok(await t.request('POST', '/v1/users', { token, body: { email: 'fuzz.user@example.com', password: 'correct horse battery staple 42' } }), 'user').body.data.id;
    // An end user signed in, for the /v1/auth routes that act on the caller.
    userToken = (await newUser(t, token, { role: 'admin' })).accessToken;
    const role = ok(await t.request('POST', '/v1/roles', { token, body: { name: 'fuzz_role', permissions: ['read'] } }), 'role').body.data.id;
    const webhook = ok(await t.request('POST', '/v1/webhooks', { token, body: { url: `http://127.0.0.1:${(receiver.address() as import('node:net').AddressInfo).port}/in`, events: ['object.created'] } }), 'webhook').body.data.id;
    const key = ok(await t.request('POST', '/v1/keys', { token, body: { label: 'fuzzed', scopes: ['read'] } }), 'key').body.data.key.id;
    const accounting = await seedAccounting(t, token, ok);
    const conversation = ok(await t.request('POST', '/v1/ai/conversations', { token, body: { title: 'fuzzed' } }), 'conversation').body.data.id;
    const aiProvider = ok(await t.request('POST', '/v1/ai-providers', { token, body: { name: 'fuzz_local', provider_type: 'local' } }), 'ai provider').body.data.id;
    return {
      ...accounting,
      object_type_id: [type, typeId], type: [type], from_type: [type], to_type: [type],
      object_id: records, id: records, from_id: records, to_id: records,
      file_id: [file], user_id: [user], role_id: [role], webhook_id: [webhook], key_id: [key],
      conversation_id: [conversation], provider_id: [aiProvider],
    };
  }

  /** One record of each field-service resource, reached with the tenant's key in the contract's headers. */
  async function seedFieldService(t: TestPlatform, token: string, tenantId: string, otherTenant: string): Promise<Record<string, string[]>> {
    const org = toUuid(tenantId);
    const headers = { 'x-api-key': token, 'x-organization-id': org };
    surfaceAuth['field-service'] = {
      caller: headers,
      variants: [
        ['no credentials', {}],
        ['no organization', { 'x-api-key': token }],
        ['malformed organization', { 'x-api-key': token, 'x-organization-id': 'org-123' }],
        ['foreign organization', { 'x-api-key': token, 'x-organization-id': toUuid(otherTenant) }],
        ['garbage key', { 'x-api-key': 'ast_live_garbage', 'x-organization-id': org }],
        ['admin key', { 'x-api-key': ADMIN_KEY, 'x-organization-id': org }],
        ['bearer instead', { authorization: `Bearer ${token}`, 'x-organization-id': org }],
      ],
    };
    const post = async (path: string, body: unknown) => {
      const res = await t.request('POST', `/api/public/v1${path}`, { headers, body });
      if (res.status >= 300) throw new Error(`seeding field-service ${path}: ${res.status} ${res.text}`);
      return res.body.data.id as string;
    };
    const customerId = await post('/customers', { account_type: 'business', display_name: 'Fuzz Co', email: 'fuzz.customer@example.com' });
    const appointmentId = await post('/appointments', { customer_id: customerId, scheduled_start: '2026-03-24T13:00:00Z', scheduled_end: '2026-03-24T15:00:00Z' });
    const estimateId = await post('/estimates', { customer_id: customerId, line_items: [{ name: 'Fuzz', quantity: 2, unit_price: 10 }] });
    const invoiceId = await post('/invoices', { customer_id: customerId, due_date: '2026-04-15', line_items: [{ name: 'Fuzz', quantity: 1, unit_price: 10 }] });
    const props = async (type: string, properties: Record<string, unknown>) => {
      const res = await t.request('POST', `/v1/objects/${type}`, { token, body: { properties } });
      if (res.status >= 300) throw new Error(`seeding ${type}: ${res.status} ${res.text}`);
      return toUuid(res.body.data.id);
    };
    const receipt = await t.request('POST', '/v1/accounting/payments', { token, body: { type: 'receipt', date: '2026-04-20', amount: 5, allocations: [{ invoice_id: fromUuid('inv', invoiceId), amount: 5 }] } });
    if (receipt.status >= 300) throw new Error(`seeding a receipt: ${receipt.status} ${receipt.text}`);
    const paymentId = toUuid(receipt.body.data.id);
    await t.request('GET', '/api/public/v1/services', { headers });
    const serviceId = await props('services', { name: 'Fuzz service', price: 10, duration_minutes: 30 });
    const files = await t.request('GET', '/api/public/v1/files', { headers });
    return { customerId: [customerId], appointmentId: [appointmentId], estimateId: [estimateId], invoiceId: [invoiceId], paymentId: [paymentId], serviceId: [serviceId], fileId: files.body.data.map((f: any) => f.id) };
  }

  /** An application with an `ask_` key and one of each agent platform record, reached with that key and X-App-Id. */
  async function seedAgentPlatform(t: TestPlatform, token: string, otherToken: string): Promise<Record<string, string[]>> {
    const made = async (res: { status: number; text: string; body: any }, what: string) => {
      if (res.status >= 300) throw new Error(`seeding agent-platform ${what}: ${res.status} ${res.text}`);
      return res.body;
    };
    const app = (await made(await t.request('POST', '/api/applications', { token, body: { name: 'Fuzz app' } }), 'application')).id as string;
    const key = await made(await t.request('POST', '/api/api-keys', { token, body: { name: 'fuzz' }, headers: { 'x-app-id': app } }), 'key');
    const theirApp = (await made(await t.request('POST', '/api/applications', { token: otherToken, body: { name: 'Theirs' } }), 'foreign application')).id as string;
    const headers = { authorization: `Bearer ${key.key}`, 'x-app-id': app };
    surfaceAuth['agent-platform'] = {
      caller: headers,
      variants: [
        ['no credentials', { 'x-app-id': app }],
        ['no application', { authorization: `Bearer ${key.key}` }],
        ['foreign application', { authorization: `Bearer ${key.key}`, 'x-app-id': theirApp }],
        ['garbage key', { authorization: 'Bearer ask_garbage', 'x-app-id': app }],
        ['admin key', { authorization: `Bearer ${ADMIN_KEY}`, 'x-app-id': app }],
        ['plain key as ask_', { authorization: `Bearer ask_${token}`, 'x-app-id': app }],
        ['unknown version', { ...headers, 'appstrate-version': '1999-01-01' }],
        ['impersonating nobody', { ...headers, 'appstrate-user': 'eu_nobody' }],
      ],
    };
    const post = async (path: string, body: unknown) => (await made(await t.request('POST', path, { headers, body }), path)).id as string;
    const agentId = await post('/api/agents', { name: 'fuzz agent' });
    const runId = await post('/api/runs', { agentId, input: { message: 'hello' } });
    const scheduleId = await post('/api/schedules', { agentId, cron: '0 0 1 1 *', input: { message: 'yearly' } });
    const endUserId = await post('/api/end-users', { externalId: 'fuzz-user' });
    // DELETE /api/api-keys/{keyId} revokes this one, not the caller's own.
    const spare = await made(await t.request('POST', '/api/api-keys', { headers, body: { name: 'spare' } }), 'spare key');
    const connectionId = await post('/api/connections', { name: 'fuzz connection', type: 'bearer', baseUrl: 'https://93.184.215.14/api', credentials: { secret: 'fuzz-secret' } });
    const packageId = await post('/api/packages/import', { name: 'fuzz-kit', version: '1.0.0', agents: [{ name: 'packaged' }] });
    return { appId: [app], agentId: [agentId], runId: [runId], scheduleId: [scheduleId], endUserId: [endUserId], keyId: [spare.id], connectionId: [connectionId], packageId: [packageId] };
  }

  /** The agent service contract (seed 003) on its own host with bearer tokens; its billing routes take the tenant's id. */
  function seedAgentServiceBilling(token: string, tenantId: string, otherToken: string): Record<string, string[]> {
    const host = { host: 'agent-service.localhost' };
    surfaceAuth['agent-service'] ??= {
      caller: { ...host, authorization: `Bearer ${token}` },
      variants: [
        ['no credentials', host],
        ['garbage token', { ...host, authorization: 'Bearer garbage' }],
        ['admin key', { ...host, authorization: `Bearer ${ADMIN_KEY}` }],
        ['another tenant\'s token', { ...host, authorization: `Bearer ${otherToken}` }],
      ],
    };
    return { tenant_id: [tenantId] };
  }

  /** The assistant contract (its own host only): an account, a chat and a file in its document store. */
  async function seedAssistant(t: TestPlatform, token: string, tenantId: string, otherToken: string): Promise<Record<string, string[]>> {
    const host = { host: 'assistant.localhost' };
    const headers = { ...host, 'x-api-key': token };
    surfaceAuth.assistant = {
      caller: headers,
      variants: [
        ['no credentials', host],
        ['garbage key', { ...host, 'x-api-key': 'sk_garbage' }],
        ['admin key', { ...host, 'x-api-key': ADMIN_KEY }],
        ['another tenant\'s key', { ...host, 'x-api-key': otherToken }],
        ['bearer instead', { ...host, authorization: `Bearer ${token}` }],
      ],
    };
    const post = async (path: string, body: unknown) => {
      const res = await t.request('POST', `/api/v1${path}`, { headers, body });
      if (res.status >= 300) throw new Error(`seeding assistant ${path}: ${res.status} ${res.text}`);
      return res;
    };
    const accountId = (await post(`/tenants/${tenantId}/accounts`, { email: 'fuzz.account@example.com', role: 'member' })).body.data.id;
    const chat = await post('/chat', { tenantId, message: 'hello', accountId });
    const chatId = /"conversation_id":"([^"]+)"/.exec(chat.text)?.[1];
    const form = new FormData();
    form.set('file', new Blob(['fuzz store document'], { type: 'text/plain' }), 'store.txt');
    const fileId = (await t.request('POST', '/v1/files/upload', { token, body: form })).body.data.id;
    await post(`/tenants/${tenantId}/store/sync`, { assetIds: [fileId] });
    return { tenantId: [tenantId], accountId: [accountId], chatId: chatId ? [chatId] : [], assetId: [fileId] };
  }

  /**
   * The agent service on its own host (its root probes are only there), called with the tenant's admin
   * key; a signed-in admin's access token is one of the variants. Seeds a service-account token, an
   * invite, an access request, a storage object and a session.
   */
  async function seedAgentService(t: TestPlatform, token: string, otherToken: string): Promise<Record<string, string[]>> {
    const host = { host: 'agent-service.localhost' };
    const admin = await newUser(t, token, { role: 'admin' });
    surfaceAuth['agent-service'] = {
      caller: { ...host, authorization: `Bearer ${token}` },
      variants: [
        ['no credentials', host],
        ['garbage token', { ...host, authorization: 'Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln' }],
        ['admin key', { ...host, authorization: `Bearer ${ADMIN_KEY}` }],
        ['another tenant\'s key', { ...host, authorization: `Bearer ${otherToken}` }],
        ['user token', { ...host, authorization: `Bearer ${admin.accessToken}` }],
      ],
    };
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await t.request(method, `/api/v1${path}`, { token, headers: host, body });
      if (res.status >= 300) throw new Error(`seeding agent-service ${path}: ${res.status} ${res.text}`);
      return res.body;
    };
    const jti = (await call('POST', '/auth/service-accounts/issue', { account: 'fuzz', scopes: ['read'] })).jti;
    const invite = (await call('POST', '/auth/invites', { note: 'fuzz' })).invite.id;
    await call('PUT', '/tenants/settings', { signup_policy: 'approval' });
    await t.request('POST', '/api/v1/auth/request-access', { headers: host, token, body: { email: 'fuzz.request@example.com' } });
    const request = (await call('GET', '/auth/signup-requests')).requests[0].id;
    await call('PUT', '/tenants/settings', { signup_policy: 'open' });
    const object = (await call('POST', '/storage/objects/upload-url', { filename: 'fuzz.txt', size_bytes: 4 })).object_id;
    return { jti: [jti], invite_id: [invite], request_id: [request], object_id: [object], session_id: [admin.sessionId] };
  }

  /** An incident and a subscription of the status page, so fuzzed status requests reach their handlers. */
  async function seedStatus(t: TestPlatform): Promise<Record<string, string[]>> {
    const incident = await t.request('POST', '/api/v1/status/incidents', { token: ADMIN_KEY, body: { title: 'Fuzz incident', severity: 'minor', services: ['api'], message: 'Seeded.' } });
    const subscription = await t.request('POST', '/api/v1/status/subscriptions', { body: { channel: 'email', target: 'fuzz.status@example.com' } });
    if (incident.status !== 201 || subscription.status !== 201) throw new Error(`seeding status: ${incident.status} ${subscription.status}`);
    return { incident_id: [incident.body.incident_id], subscription_id: [subscription.body.id] };
  }

  /** The agent service's agent side: a conversation, an agent with a container, a vector store with a file, a workflow run. */
  async function seedAgentServiceAgents(t: TestPlatform, token: string, app: string): Promise<Record<string, string[]>> {
    const made = async (method: string, path: string, body?: unknown) => {
      const res = await t.request(method, path, { token, body });
      if (res.status >= 300) throw new Error(`seeding agent-service ${path}: ${res.status} ${res.text}`);
      return res.body;
    };
    const conversation = (await made('POST', '/api/v1/chat', { message: 'hello' })).conversation_id as string;
    const agent = (await made('POST', '/v1/agents', { name: 'fuzz-service-agent' })).data.id as string;
    const container = (await made('POST', '/api/v1/containers', { name: 'fuzz box' })).id as string;
    await made('POST', `/api/v1/containers/agents/${agent}/container`, { container_id: container });
    const store = (await made('POST', '/api/v1/vector-stores', { name: 'fuzz store' })).id as string;
    const form = new FormData();
    form.set('file', new Blob(['fuzz vector store document'], { type: 'text/plain' }), 'vs.txt');
    const file = (await t.request('POST', '/v1/files/upload', { token, body: form })).body.data.id as string;
    await made('POST', `/api/v1/vector-stores/${store}/files`, { file_id: file });
    const run = (await made('POST', `/api/v1/workflows/${app}/run`, { message: 'hello', wait_seconds: 0 })).workflow_run_id as string;
    return { conversation_id: [conversation], agent_key: [agent, 'fuzz-service-agent'], agent_name: ['assistant', agent], container_id: [container], vector_store_id: [store], file_id: [file], workflow_key: [app], run_id: [run] };
  }

  /** Books with one of each accounting record, so fuzzed accounting requests reach their handlers. */
  async function seedAccounting(t: TestPlatform, token: string, ok: <R extends { status: number; text: string }>(res: R, what: string) => R): Promise<Record<string, string[]>> {
    const post = async (path: string, body: unknown) => ok(await t.request('POST', `/v1/accounting${path}`, { token, body }), path).body.data;
    const usd = await post('/currencies', { code: 'USD', name: 'US dollar' });
    const eur = await post('/currencies', { code: 'EUR', name: 'Euro' });
    const rate = await post('/exchange-rates', { from_currency: 'EUR', to_currency: 'USD', rate: 1.1, effective_date: '2000-01-01' });
    const bankGl = await post('/accounts', { code: '1000', name: 'Bank', type: 'asset', sub_type: 'bank' });
    const sales = await post('/accounts', { code: '4000', name: 'Sales', type: 'revenue' });
    const spare = await post('/accounts', { code: '6000', name: 'Spare', type: 'expense' });
    const period = await post('/periods', { name: 'FY1990', start_date: '1990-01-01', end_date: '1990-12-31' });
    const tax = await post('/tax-codes', { code: 'VAT', name: 'VAT', rate: 20 });
    const posted = await post('/journal-entries', { date: '2026-01-02', post: true, lines: [{ account_id: bankGl.id, debit: 100 }, { account_id: sales.id, credit: 100 }] });
    const draft = await post('/journal-entries', { date: '2026-01-02', lines: [{ account_id: bankGl.id, debit: 5 }, { account_id: sales.id, credit: 5 }] });
    const approved = await post('/invoices', { type: 'sales', contact_name: 'Fuzz', date: '2026-01-02', lines: [{ unit_price: 50, account_id: sales.id, tax_code_id: tax.id }] });
    await post(`/invoices/${approved.id}/approve`, undefined);
    const draftInvoice = await post('/invoices', { type: 'sales', contact_name: 'Fuzz', date: '2026-01-02', lines: [{ unit_price: 5, account_id: sales.id }] });
    const bank = await post('/bank-accounts', { name: 'Fuzz bank', gl_account_id: bankGl.id });
    const payment = await post('/payments', { type: 'receipt', date: '2026-01-03', amount: 10, bank_account_id: bank.id, allocations: [{ invoice_id: approved.id, amount: 10 }] });
    const imported = await post(`/bank-accounts/${bank.id}/import`, { transactions: [{ date: '2026-01-02', description: 'Fuzz', amount: 100, type: 'credit' }] });
    const recurring = await post('/recurring', { name: 'Fuzz', template: { lines: [{ account_id: spare.id, debit: 1 }, { account_id: bankGl.id, credit: 1 }] }, frequency: 'monthly', next_run: '2026-01-01' });
    return {
      currency_id: [usd.id, eur.id], rate_id: [rate.id], account_id: [bankGl.id, sales.id, spare.id], period_id: [period.id],
      tax_code_id: [tax.id], entry_id: [posted.id, draft.id], invoice_id: [approved.id, draftInvoice.id], payment_id: [payment.id],
      bank_account_id: [bank.id], transaction_id: [imported.transactions[0].id], recurring_id: [recurring.id],
    };
  }

  interface Answer {
    status: number;
    requestId: string | null;
    contentType: string;
    text: string;
  }

  /**
   * A kept-alive socket that the server closed after its last answer (a 413 closes the connection) can be
   * picked for the next request before its close arrives; the retry goes on a new connection, so only a
   * server that drops requests fails twice.
   */
  async function send(request: FuzzRequest): Promise<Answer> {
    try {
      return await sendOnce(request, agent);
    } catch {
      return sendOnce(request, false);
    }
  }

  function sendOnce(request: FuzzRequest, via: http.Agent | false): Promise<Answer> {
    return new Promise((resolve, reject) => {
      // Node frames a GET or DELETE body only when told its length.
      const headers = request.body === undefined ? request.headers : { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) };
      const req = http.request(
        { host: '127.0.0.1', port: server.port, method: request.method, path: request.url, headers, agent: via },
        (res) => {
          const contentType = String(res.headers['content-type'] ?? '');
          const requestId = (res.headers['request-id'] as string | undefined) ?? null;
          // A stream (SSE) stays open: its status and headers are the answer.
          if (contentType.startsWith('text/event-stream')) {
            res.destroy();
            resolve({ status: res.statusCode!, requestId, contentType, text: '' });
            return;
          }
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode!, requestId, contentType, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
      req.on('error', reject);
      req.end(request.body);
    });
  }

  function problems(operation: FuzzOperation, answer: Answer): string[] {
    if (answer.status === 0) return ['the connection failed (process down or request dropped)'];
    const found: string[] = [];
    const documented = Object.keys(operation.op.responses ?? {});
    // A 502, 503 or 504 the operation documents is a provider the fuzzer switched on and this machine
    // cannot reach (a captcha verifier, an AI provider it configured); every other 5xx is a fault.
    if (answer.status >= 500 && !([502, 503, 504].includes(answer.status) && documented.includes(String(answer.status)))) found.push(`answered ${answer.status}`);
    if (!documented.includes(String(answer.status)) && !documented.includes('default')) {
      found.push(`answered ${answer.status}, which the operation does not document (${documented.join(', ')})`);
    }
    if (!answer.requestId) found.push('no Request-Id header');
    if (answer.status < 300 && answer.contentType.startsWith('application/json')) {
      const validate = responseValidator(operation, answer.status);
      if (validate) checkedSuccesses.add(`${operation.method} ${operation.path}`);
      if (validate && !validate(JSON.parse(answer.text))) {
        const e = validate.errors![0]!;
        found.push(`${answer.status} body does not match its documented schema: ${e.instancePath || '/'} ${e.message}`);
      }
    }
    if (answer.status >= 400) {
      let body: any;
      try {
        body = JSON.parse(answer.text);
      } catch {
        found.push(`error body is not JSON: ${answer.text.slice(0, 120)}`);
      }
      // A 431 is answered by the HTTP server before any route (or contract) is chosen: the platform's envelope.
      if (body && operation.surface && answer.status !== 431) {
        found.push(...SURFACE_ERRORS[operation.surface]!(body));
        if (answer.status >= 500 && /\n\s+at /.test(answer.text)) found.push('a stack trace in the body');
      } else if (body) {
        if (body.success !== false) found.push('error body lacks success: false');
        if (!ERROR_CODES.includes(body.error?.code)) found.push(`error code ${JSON.stringify(body.error?.code)} is not in the closed set`);
        if (typeof body.error?.message !== 'string' || !body.error.message) found.push('error without a message');
        if (typeof body.request_id !== 'string') found.push('error body lacks request_id');
        if (answer.status >= 500 && /\n\s+at /.test(answer.text)) found.push('a stack trace in the body');
      }
    }
    return found;
  }

  describe(`contract fuzzer, shard ${shard + 1} of ${shards} (${RUNS} requests per operation, FUZZ_SEED=${SEED})`, () => {
    it('covers its share of every operation of the documents', () => {
      const all = [spec, ...Object.values(surfaceSpecs)].reduce((n, doc) => n + Object.values<any>(doc.paths).reduce((k, item) => k + METHODS.filter((m) => item[m]).length, 0), 0);
      expect(operations.length).toBe(ONLY ? operations.length : Math.floor(all / shards) + (shard < all % shards ? 1 : 0));
      expect(operations.length).toBeGreaterThan(0);
    });

    for (const operation of operations) {
      const name = `${operation.method.toUpperCase()} ${operation.path}`;
      it(operation.surface ? `${name} (${operation.surface})` : name, async () => {
        const arbitrary = operation.surface
          ? requestsFor(surfaceArbs[operation.surface]!, operation, { tenant: tenantToken, admin: ADMIN_KEY, user: userToken }, existing, surfaceAuth[operation.surface])
          : requestsFor(arbs, operation, { tenant: tenantToken, admin: ADMIN_KEY, user: userToken }, existing);
        // Every request is sent and every kind of fault reported once, with its first example.
        const faults = new Map<string, string>();
        const requests = fc.sample(arbitrary, { numRuns: RUNS, seed: SEED });
        for (const request of requests) {
          let answer: Answer;
          try {
            answer = await send(request);
          } catch (error) {
            answer = { status: 0, requestId: null, contentType: '', text: `no answer: ${(error as Error).message}` };
          }
          if (process.env.FUZZ_DEBUG) console.log('FUZZDBG', name, answer.status, request.mutation, request.url.slice(0, 80), answer.text.slice(0, 150));
          for (const fault of problems(operation, answer)) {
            if (faults.has(fault)) continue;
            const body = typeof request.body === 'string' ? request.body.slice(0, 200) : request.body ? `<${request.body.length} bytes>` : '';
            faults.set(fault, `${request.method} ${request.url.slice(0, 200)} [${request.mutation}] ${body}\n      -> ${answer.text.slice(0, 200)}`);
          }
        }
        expect(requests.length).toBe(RUNS);
        if (faults.size) {
          const report = [...faults].map(([fault, example]) => `- ${fault}\n      ${example}`).join('\n');
          throw new Error(`${faults.size} kind(s) of fault in ${RUNS} requests (reproduce: FUZZ_SEED=${SEED} FUZZ_ONLY="${name}"):\n${report}`);
        }
        // The process and the database still answer after the batch.
        expect((await t.request('GET', '/health')).status).toBe(200);
      }, 300_000);
    }

    it('reached a handler and checked a success body in most operations', () => {
      // Guards the fuzzer itself: requests that never pass validation would test nothing past it.
      if (process.env.FUZZ_DEBUG) console.log('CHECKED', [...checkedSuccesses]);
      if (!ONLY) expect(checkedSuccesses.size).toBeGreaterThan(operations.length / 3);
    });
  });

}