import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeServer } from '../../../test/support/fake-openai.ts';
import { newUser } from '../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { parseSse } from '../../../test/support/sse.ts';

/** The agent-side parts of the agent service contract (seed 003): chat, agents, tools, workflows, conversations, containers, vector stores. */

let t: TestPlatform;
let oa: FakeServer;
let org: { tenantId: string; token: string };
let stranger: { tenantId: string; token: string };
let user: string;
let agentId: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const as = (token: string) => (method: string, path: string, body?: unknown) => t.request(method, path, { token, body });

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await sleep(100);
  }
}

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true' });
  oa = await startFakeOpenAI();
  org = await t.newTenant();
  stranger = await t.newTenant();
  for (const who of [org, stranger]) {
    const p = await t.request('POST', '/v1/ai-providers', { token: who.token, body: { name: 'oa', provider_type: 'openai', api_key: 'sk-test', config_json: { base_url: oa.url, default: true } } });
    expect(p.status, p.text).toBe(201);
  }
  user = (await newUser(t, org.token)).accessToken;
  const agent = await t.request('POST', '/v1/agents', { token: org.token, body: { name: 'analyst', instructions: 'You analyse records.', tools: ['search_objects'] } });
  expect(agent.status, agent.text).toBe(201);
  agentId = agent.body.data.id;
});
afterAll(async () => {
  await t?.close();
  await oa?.close();
});

describe('agent service: document', () => {
  it('documents the agent-side paths with the seed\'s schema names, in valid OpenAPI 3.1', async () => {
    const spec = (await t.request('GET', '/docs/surfaces/agent-service/openapi.json')).body;
    expect((await new Validator().validate(spec)).errors ?? []).toEqual([]);
    const paths = ['/api/v1/chat', '/api/v1/chat/stream', '/api/v1/agents', '/api/v1/agents/{agent_name}/status', '/api/v1/tools', '/api/v1/workflows', '/api/v1/workflows/{workflow_key}',
      '/api/v1/workflows/{workflow_key}/run', '/api/v1/workflows/{workflow_key}/run-stream', '/api/v1/workflows/runs', '/api/v1/workflows/runs/{run_id}', '/api/v1/workflows/runs/{run_id}/cancel',
      '/api/v1/conversations', '/api/v1/conversations/search', '/api/v1/conversations/{conversation_id}', '/api/v1/conversations/{conversation_id}/events', '/api/v1/containers',
      '/api/v1/containers/{container_id}', '/api/v1/containers/agents/{agent_key}/container', '/api/v1/vector-stores', '/api/v1/vector-stores/{vector_store_id}',
      '/api/v1/vector-stores/{vector_store_id}/files', '/api/v1/vector-stores/{vector_store_id}/files/upload', '/api/v1/vector-stores/{vector_store_id}/files/{file_id}', '/api/v1/vector-stores/{vector_store_id}/search'];
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(paths));
    const names = ['AgentChatRequest', 'AgentChatResponse', 'AgentStatus', 'AgentSummary', 'StreamingChatEvent', 'StreamingWorkflowEvent', 'WorkflowDescriptorResponse', 'WorkflowStageDescriptor',
      'WorkflowStepDescriptor', 'WorkflowRunDetail', 'WorkflowRunListResponse', 'WorkflowRunRequestBody', 'WorkflowRunResponse', 'WorkflowStepResultSchema', 'WorkflowSummary', 'ConversationEventItem',
      'ConversationEventsResponse', 'ConversationHistory', 'ConversationListResponse', 'ConversationSearchResponse', 'ConversationSummary', 'ChatMessage', 'LocationHint', 'ContainerResponse',
      'ContainerCreateRequest', 'ContainerBindRequest', 'ContainerListResponse', 'VectorStoreResponse', 'VectorStoreSearchResponse', 'VectorStoreFileResponse', 'VectorStoreCreateRequest'];
    expect(names.filter((n) => !spec.components.schemas[n])).toEqual([]);
  });
});

describe('agent service: chat', () => {
  it('answers in a new AI conversation with a user token, then continues it', async () => {
    const res = await as(user)('POST', '/api/v1/chat', { message: 'Hello there' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ response: 'You said: Hello there', agent_used: 'assistant', handoff_occurred: false, tools_used: [], metadata: { provider: 'oa', memory_compaction: null } });
    const id = res.body.conversation_id;
    // The same conversation through the platform's AI routes.
    const platform = await t.request('GET', `/v1/ai/conversations/${id}`, { token: user });
    expect(platform.status, platform.text).toBe(200);
    expect(platform.body.data.messages.map((m: any) => m.content)).toEqual(['Hello there', 'You said: Hello there']);
    const next = await as(user)('POST', '/api/v1/chat', { message: 'Again', conversation_id: id });
    expect(next.status).toBe(200);
    // History was sent with the question.
    const sent = oa.requests.at(-1)!.body.messages.map((m: any) => m.content);
    expect(sent).toEqual(expect.arrayContaining(['Hello there', 'You said: Hello there', 'Again']));
  });

  it('streams events with kind and run_item_type, tool calls included', async () => {
    oa.reply({ toolCalls: [{ name: 'search_objects', arguments: { object_type: 'nothing_here' } }] }, { text: 'Nothing found.' });
    const res = await as(org.token)('POST', '/api/v1/chat/stream', { message: 'Find deals', agent_type: 'analyst' });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = parseSse(res.text).map((e) => e.data);
    expect(events[0]).toMatchObject({ kind: 'response.created', agent_used: 'analyst', is_terminal: false });
    const items = events.filter((e) => e.kind === 'run_item_stream_event').map((e) => e.run_item_type);
    expect(items).toEqual(['user_message', 'tool_call', 'tool_result', 'assistant_message']);
    expect(events.find((e) => e.run_item_type === 'tool_call')).toMatchObject({ tool_name: 'search_objects', payload: { arguments: expect.stringContaining('nothing_here') } });
    expect(events.some((e) => e.kind === 'response.output_text.delta')).toBe(true);
    const last = events.at(-1);
    expect(last).toMatchObject({ kind: 'response.completed', is_terminal: true, content: 'Nothing found.' });
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i + 1));
  });

  it('answers the contract\'s errors: 422 with loc, 404 {detail}', async () => {
    const missing = await as(org.token)('POST', '/api/v1/chat', {});
    expect(missing.status).toBe(422);
    expect(missing.body.detail[0]).toMatchObject({ loc: ['body', 'message'], type: 'missing' });
    const extra = await as(org.token)('POST', '/api/v1/chat', { message: 'x', run_options: {} });
    expect(extra.status).toBe(422);
    expect(extra.body.detail[0].type).toBe('extra_forbidden');
    const stream = await as(org.token)('POST', '/api/v1/chat/stream', { message: 'x', run_options: { max_turns: 1 } });
    expect(stream.status).toBe(422);
    const agent = await as(org.token)('POST', '/api/v1/chat', { message: 'x', agent_type: 'nobody' });
    expect(agent.status).toBe(404);
    expect(agent.body).toEqual({ detail: expect.any(String) });
    const conv = await as(org.token)('POST', '/api/v1/chat', { message: 'x', conversation_id: 'conv_nope' });
    expect(conv.status).toBe(404);
    const anon = await t.request('POST', '/api/v1/chat', { body: { message: 'x' } });
    expect(anon.status).toBe(401);
    expect(anon.body).toEqual({ detail: expect.any(String) });
  });

  it('compacts a long conversation: old tool inputs cleared, a memory_compaction event with the seed\'s payload keys', async () => {
    oa.reply({ toolCalls: [{ name: 'search_objects', arguments: { object_type: 'secret_type_name' } }] }, { text: 'First answer.' });
    const first = await as(org.token)('POST', '/api/v1/chat', { message: 'turn 1', agent_type: agentId });
    expect(first.status, first.text).toBe(200);
    expect(first.body.tools_used).toEqual(['search_objects']);
    const id = first.body.conversation_id;
    for (let i = 2; i <= 8; i++) {
      const r = await as(org.token)('POST', '/api/v1/chat', { message: `turn ${i}`, agent_type: 'analyst', conversation_id: id });
      expect(r.status).toBe(200);
      expect(r.body.metadata.memory_compaction).toBeNull();
    }
    // Turn 2's request replayed turn 1's tool input.
    const ninth = await as(org.token)('POST', '/api/v1/chat/stream', { message: 'turn 9', agent_type: 'analyst', conversation_id: id });
    const events = parseSse(ninth.text).map((e) => e.data);
    const compacted = events.find((e) => e.kind === 'response.memory.compacted');
    expect(compacted).toMatchObject({ run_item_type: 'memory_compaction' });
    expect(compacted.payload).toEqual({
      compacted_count: expect.any(Number),
      compacted_call_ids: [expect.any(String)],
      compacted_tool_names: ['search_objects'],
      keep_turns: 4,
      trigger_turns: 8,
      clear_tool_inputs: true,
      excluded_tools: [],
      total_items_before: expect.any(Number),
      total_items_after: expect.any(Number),
      turns_before: 9,
      turns_after: 4,
    });
    expect(compacted.payload.total_items_after).toBeLessThan(compacted.payload.total_items_before);
    // What the model got: a summary instead of turns 1-5, tool input cleared; turns 6-8 and the question.
    const sent = oa.requests.at(-1)!.body.messages;
    const system = sent.find((m: any) => m.role === 'system').content;
    expect(system).toContain('Summary of the 5 earliest turns');
    expect(system).toContain('[tools: search_objects]');
    expect(JSON.stringify(sent)).not.toContain('secret_type_name');
    expect(sent.filter((m: any) => m.role === 'user').map((m: any) => m.content)).toEqual(['turn 6', 'turn 7', 'turn 8', 'turn 9']);
    // Turn 10 compacts one more turn; a turn that compacts nothing new sends no event.
    const tenth = await as(org.token)('POST', '/api/v1/chat', { message: 'turn 10', agent_type: 'analyst', conversation_id: id });
    expect(tenth.body.metadata.memory_compaction).toMatchObject({ turns_before: 10, compacted_call_ids: [] });
    // The event history shows the tool call with its input, and the compactions.
    const history = await as(org.token)('GET', `/api/v1/conversations/${id}/events`);
    expect(history.status).toBe(200);
    const types = history.body.items.map((i: any) => i.run_item_type);
    expect(types.slice(0, 4)).toEqual(['user_message', 'tool_call', 'tool_result', 'assistant_message']);
    expect(history.body.items[1]).toMatchObject({ tool_name: 'search_objects', call_arguments: { object_type: 'secret_type_name' } });
    expect(types.filter((x: string) => x === 'memory_compaction')).toHaveLength(2);
    const only = await as(org.token)('GET', `/api/v1/conversations/${id}/events?run_item_type=memory_compaction`);
    expect(only.body.items).toHaveLength(2);
    const detail = await as(org.token)('GET', `/api/v1/conversations/${id}`);
    expect(detail.body.agent_context).toMatchObject({ agent_entrypoint: 'analyst', active_agent: 'analyst', agents: ['analyst'], tool_calls: 1, memory_compactions: 2 });
    expect(detail.body.messages).toHaveLength(20);
  });
});

describe('agent service: agents and tools', () => {
  it('lists agents with the built-in one, their status and the tools', async () => {
    const list = await as(org.token)('GET', '/api/v1/agents');
    expect(list.status).toBe(200);
    expect(list.body.map((a: any) => a.name)).toEqual(['assistant', 'analyst']);
    expect(list.body[1]).toMatchObject({ agent_key: agentId, tools: ['search_objects'], is_default: false });
    const status = await as(org.token)('GET', '/api/v1/agents/analyst/status');
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ name: 'analyst', agent_key: agentId, status: 'active', last_used: expect.any(String) });
    expect(status.body.total_conversations).toBeGreaterThanOrEqual(2);
    const none = await as(org.token)('GET', '/api/v1/agents/nobody/status');
    expect(none.status).toBe(404);
    expect(none.body).toEqual({ detail: expect.any(String) });
    expect((await as(stranger.token)('GET', `/api/v1/agents/${agentId}/status`)).status).toBe(404);
    const tools = await as(org.token)('GET', '/api/v1/tools');
    expect(tools.status).toBe(200);
    expect(tools.body.tools.map((x: any) => x.name)).toEqual(expect.arrayContaining(['search_objects', 'get_object', 'run_code']));
    expect(tools.body.tools.find((x: any) => x.name === 'search_objects').agents).toEqual(['assistant', 'analyst']);
  });
});

describe('agent service: conversations', () => {
  it('lists, searches, reads and deletes; another tenant sees 404', async () => {
    const a = await as(org.token)('POST', '/api/v1/chat', { message: 'The quarterly zebra report' });
    const id = a.body.conversation_id;
    const list = await as(org.token)('GET', '/api/v1/conversations?limit=2');
    expect(list.status).toBe(200);
    expect(list.body.items[0]).toMatchObject({ conversation_id: id, agent_entrypoint: 'assistant', active_agent: 'assistant', message_count: 2, status: 'active', last_message_preview: 'You said: The quarterly zebra report' });
    expect(list.body.next_cursor).toBe('2');
    const page2 = await as(org.token)('GET', `/api/v1/conversations?limit=2&cursor=${list.body.next_cursor}`);
    expect(page2.body.items.map((c: any) => c.conversation_id)).not.toContain(id);
    const found = await as(org.token)('GET', '/api/v1/conversations/search?q=ZEBRA');
    expect(found.status).toBe(200);
    expect(found.body.items).toHaveLength(1);
    expect(found.body.items[0]).toMatchObject({ conversation_id: id, preview: expect.stringContaining('zebra'), score: expect.any(Number) });
    expect((await as(org.token)('GET', '/api/v1/conversations/search?q=%25')).body.items).toEqual([]);
    const noQ = await as(org.token)('GET', '/api/v1/conversations/search');
    expect(noQ.status).toBe(422);
    expect(noQ.body.detail[0].loc).toEqual(['query', 'q']);
    // Another tenant: nothing to see.
    const other = as(stranger.token);
    expect((await other('GET', `/api/v1/conversations/${id}`)).status).toBe(404);
    expect((await other('GET', `/api/v1/conversations/${id}/events`)).status).toBe(404);
    expect((await other('DELETE', `/api/v1/conversations/${id}`)).status).toBe(404);
    expect((await other('GET', '/api/v1/conversations/search?q=zebra')).body.items).toEqual([]);
    expect((await other('POST', '/api/v1/chat', { message: 'x', conversation_id: id })).status).toBe(404);
    // A user sees only the conversations they started.
    expect((await as(user)('GET', `/api/v1/conversations/${id}`)).status).toBe(404);
    const del = await as(org.token)('DELETE', `/api/v1/conversations/${id}`);
    expect(del.status).toBe(204);
    const gone = await as(org.token)('GET', `/api/v1/conversations/${id}`);
    expect(gone.status).toBe(404);
    expect(gone.body).toEqual({ detail: expect.any(String) });
  });
});

describe('agent service: containers', () => {
  it('binds a container to an agent whose code tool runs in the sandbox', async () => {
    const bad = await as(org.token)('POST', '/api/v1/containers', { name: 'box', memory_limit_mb: 4096 });
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0].loc).toEqual(['body', 'memory_limit_mb']);
    // A generous time limit: a cold isolate on a busy machine takes a second.
    const created = await as(org.token)('POST', '/api/v1/containers', { name: 'box', memory_limit_mb: 32, timeout_ms: 20_000 });
    expect(created.status, created.text).toBe(201);
    const cid = created.body.id;
    expect(created.body).toMatchObject({ name: 'box', status: 'running', memory_limit_mb: 32, agent_key: null });
    const bound = await as(org.token)('POST', '/api/v1/containers/agents/analyst/container', { container_id: cid });
    expect(bound.status, bound.text).toBe(200);
    expect(bound.body.agent_key).toBe(agentId);
    expect((await as(org.token)('GET', '/api/v1/agents')).body[1]).toMatchObject({ container_id: cid, tools: ['search_objects', 'run_code'] });

    oa.reply({ toolCalls: [{ name: 'run_code', arguments: { code: 'console.log("adding"); return input.a + input.b;', input: { a: 2, b: 3 } } }] }, { text: 'It is 5.' });
    const res = await as(org.token)('POST', '/api/v1/chat/stream', { message: 'Add 2 and 3', agent_type: 'analyst' });
    const events = parseSse(res.text).map((e) => e.data);
    expect(events.find((e) => e.run_item_type === 'tool_result')).toMatchObject({ tool_name: 'run_code', payload: { ok: true, output: { output: 5, logs: ['adding'], container_id: cid } } });
    // The sandbox's limits hold: no Node APIs, and a loop ends at the container's time limit.
    const second = await as(org.token)('POST', '/api/v1/containers', { name: 'other', timeout_ms: 300 });
    const busy = await t.request('POST', '/v1/agents', { token: org.token, body: { name: 'helper' } });
    expect((await as(org.token)('POST', '/api/v1/containers/agents/helper/container', { container_id: second.body.id })).status).toBe(200);
    oa.reply({ toolCalls: [{ name: 'run_code', arguments: { code: 'return typeof process + ":" + typeof require;' } }, { name: 'run_code', arguments: { code: 'while (true) {}' } }] }, { text: 'ok' });
    const limited = await as(org.token)('POST', '/api/v1/chat', { message: 'Escape', agent_type: 'helper' });
    expect(limited.status).toBe(200);
    const conv = await as(org.token)('GET', `/api/v1/conversations/${limited.body.conversation_id}/events?run_item_type=tool_result`);
    expect(conv.body.items.map((i: any) => i.call_output.result.output ?? i.call_output.result.error.code)).toContain('timeout');
    expect((await as(org.token)('GET', `/api/v1/containers/${second.body.id}`)).body.invocations).toBe(2);
    expect((await as(org.token)('GET', `/api/v1/containers/${cid}`)).body.invocations).toBe(1);

    const conflict = await as(org.token)('POST', `/api/v1/containers/agents/${busy.body.data.id}/container`, { container_id: cid });
    expect(conflict.status).toBe(409);
    expect(conflict.body).toEqual({ detail: expect.any(String) });
    expect((await as(org.token)('POST', '/api/v1/containers/agents/nobody/container', { container_id: second.body.id })).status).toBe(404);
    expect((await as(org.token)('POST', '/api/v1/containers/agents/analyst/container', { container_id: second.body.id })).status).toBe(409);
    expect((await as(org.token)('POST', '/api/v1/containers/agents/analyst/container', { container_id: 'ctr_nope' })).status).toBe(404);
    const list = await as(org.token)('GET', '/api/v1/containers');
    expect(list.body.total).toBe(2);

    // Another tenant sees none of it.
    const other = as(stranger.token);
    expect((await other('GET', `/api/v1/containers/${cid}`)).status).toBe(404);
    expect((await other('DELETE', `/api/v1/containers/${cid}`)).status).toBe(404);
    expect((await other('POST', `/api/v1/containers/agents/${agentId}/container`, { container_id: cid })).status).toBe(404);
    expect((await other('DELETE', `/api/v1/containers/agents/${agentId}/container`)).status).toBe(404);
    expect((await other('GET', '/api/v1/containers')).body.total).toBe(0);

    expect((await as(org.token)('DELETE', '/api/v1/containers/agents/analyst/container')).status).toBe(204);
    expect((await as(org.token)('DELETE', '/api/v1/containers/agents/analyst/container')).status).toBe(404);
    expect((await as(org.token)('DELETE', `/api/v1/containers/${cid}`)).status).toBe(204);
    expect((await as(org.token)('GET', `/api/v1/containers/${cid}`)).status).toBe(404);
  });
});

describe('agent service: vector stores', () => {
  it('uploads a file into a store, indexes it and searches it; another tenant sees 404', async () => {
    const store = await as(org.token)('POST', '/api/v1/vector-stores', { name: 'Handbook' });
    expect(store.status, store.text).toBe(201);
    const sid = store.body.id;
    const form = new FormData();
    form.append('file', new Blob(['Employees get twenty-five days of paid vacation every year. Expense reports are due monthly.'], { type: 'text/plain' }), 'handbook.txt');
    const up = await t.request('POST', `/api/v1/vector-stores/${sid}/files/upload?agent_key=analyst`, { token: org.token, body: form });
    expect(up.status, up.text).toBe(201);
    const fid = up.body.id;
    expect(up.body).toMatchObject({ vector_store_id: sid, filename: 'handbook.txt' });
    const done = await until(() => as(org.token)('GET', `/api/v1/vector-stores/${sid}/files/${fid}`), (r) => r.body.status !== 'in_progress', 90_000);
    expect(done.body).toMatchObject({ status: 'completed', chunks: expect.any(Number) });
    const got = await as(org.token)('GET', `/api/v1/vector-stores/${sid}`);
    expect(got.body).toMatchObject({ status: 'completed', file_counts: { total: 1, completed: 1 } });
    const search = await as(org.token)('POST', `/api/v1/vector-stores/${sid}/search`, { query: 'how many vacation days', max_num_results: 3 });
    expect(search.status, search.text).toBe(200);
    expect(search.body.data[0]).toMatchObject({ file_id: fid, filename: 'handbook.txt', text: expect.stringContaining('vacation') });
    // Another store holds none of it; a key without `files` finds nothing.
    const empty = await as(org.token)('POST', '/api/v1/vector-stores', { name: 'Empty' });
    expect((await as(org.token)('POST', `/api/v1/vector-stores/${empty.body.id}/search`, { query: 'vacation' })).body.data).toEqual([]);
    const aiOnly = await t.newKey(org.token, { label: 'ai only', scopes: ['ai'] });
    expect((await as(aiOnly.token)('POST', `/api/v1/vector-stores/${sid}/search`, { query: 'vacation' })).body.data).toEqual([]);
    // Attach an existing file to the other store.
    const attach = await as(org.token)('POST', `/api/v1/vector-stores/${empty.body.id}/files`, { file_id: fid });
    expect(attach.status, attach.text).toBe(201);
    expect((await as(org.token)('GET', `/api/v1/vector-stores/${empty.body.id}/files`)).body).toMatchObject({ total: 1, items: [{ id: fid }] });
    // Errors.
    expect((await as(org.token)('POST', `/api/v1/vector-stores/${sid}/files`, { file_id: 'file_nope' })).status).toBe(404);
    const noName = await as(org.token)('POST', '/api/v1/vector-stores', { name: '' });
    expect(noName.status).toBe(422);
    expect(noName.body.detail[0].loc).toEqual(['body', 'name']);
    const noAgent = await t.request('POST', `/api/v1/vector-stores/${sid}/files/upload`, { token: org.token, body: new FormData() });
    expect(noAgent.status).toBe(422);
    expect(noAgent.body.detail[0].loc).toEqual(['query', 'agent_key']);
    // Another tenant.
    const other = as(stranger.token);
    expect((await other('GET', `/api/v1/vector-stores/${sid}`)).status).toBe(404);
    expect((await other('GET', `/api/v1/vector-stores/${sid}/files`)).status).toBe(404);
    expect((await other('GET', `/api/v1/vector-stores/${sid}/files/${fid}`)).status).toBe(404);
    expect((await other('DELETE', `/api/v1/vector-stores/${sid}/files/${fid}`)).status).toBe(404);
    expect((await other('POST', `/api/v1/vector-stores/${sid}/search`, { query: 'vacation' })).status).toBe(404);
    expect((await other('POST', `/api/v1/vector-stores/${sid}/files`, { file_id: fid })).status).toBe(404);
    expect((await other('DELETE', `/api/v1/vector-stores/${sid}`)).status).toBe(404);
    // Remove the file, then the store.
    expect((await as(org.token)('DELETE', `/api/v1/vector-stores/${sid}/files/${fid}`)).status).toBe(204);
    expect((await as(org.token)('GET', `/api/v1/vector-stores/${sid}/files/${fid}`)).status).toBe(404);
    expect((await as(org.token)('POST', `/api/v1/vector-stores/${sid}/search`, { query: 'vacation' })).body.data).toEqual([]);
    expect((await as(org.token)('DELETE', `/api/v1/vector-stores/${sid}`)).status).toBe(204);
    expect((await as(org.token)('GET', `/api/v1/vector-stores/${sid}`)).status).toBe(404);
  });
});

describe('agent service: workflows', () => {
  let key: string;

  beforeAll(async () => {
    const app = await t.request('POST', '/api/applications', { token: org.token, body: { name: 'Research pipeline', description: 'Draft, then review' } });
    expect(app.status, app.text).toBe(201);
    key = app.body.id;
    for (const name of ['drafter', 'reviewer']) {
      const a = await t.request('POST', '/api/agents', { token: org.token, body: { name }, headers: { 'x-app-id': key } });
      expect(a.status, a.text).toBe(201);
    }
  });

  it('lists workflows and describes their stages and steps', async () => {
    const list = await as(org.token)('GET', '/api/v1/workflows');
    expect(list.status).toBe(200);
    expect(list.body.items).toContainEqual(expect.objectContaining({ key, display_name: 'Research pipeline', stage_count: 2, step_count: 2 }));
    const d = await as(org.token)('GET', `/api/v1/workflows/${key}`);
    expect(d.status).toBe(200);
    expect(d.body.stages).toEqual([
      { name: 'stage_1', mode: 'sequential', steps: [{ name: 'drafter', agent_key: expect.any(String), agent_name: 'drafter' }] },
      { name: 'stage_2', mode: 'sequential', steps: [{ name: 'reviewer', agent_key: expect.any(String), agent_name: 'reviewer' }] },
    ]);
    const none = await as(org.token)('GET', '/api/v1/workflows/app_nope');
    expect(none.status).toBe(404);
    expect(none.body).toEqual({ detail: expect.any(String) });
  });

  it('runs a workflow: each stage a durable agent run, answers chained', async () => {
    const res = await as(org.token)('POST', `/api/v1/workflows/${key}/run`, { message: 'topic' });
    expect(res.status, res.text).toBe(200);
    expect(res.body, res.text).toMatchObject({ status: 'succeeded', final_output: 'You said: You said: topic' });
    expect(res.body.step_results.map((s: any) => [s.step_name, s.status, s.response_text])).toEqual([
      ['drafter', 'succeeded', 'You said: topic'],
      ['reviewer', 'succeeded', 'You said: You said: topic'],
    ]);
    // Each step is an agent run of the runtime.
    const run = await t.request('GET', `/v1/agent-runs/${res.body.step_results[0].agent_run_id}`, { token: org.token });
    expect(run.body.data).toMatchObject({ status: 'succeeded', input: { message: 'topic' } });
    const detail = await as(org.token)('GET', `/api/v1/workflows/runs/${res.body.workflow_run_id}`);
    expect(detail.body).toMatchObject({ workflow_key: key, status: 'succeeded', message: 'topic', ended_at: expect.any(String) });
    const runs = await as(org.token)('GET', `/api/v1/workflows/runs?workflow_key=${key}`);
    expect(runs.body.items[0]).toMatchObject({ workflow_run_id: res.body.workflow_run_id, status: 'succeeded' });
    const bad = await as(org.token)('POST', `/api/v1/workflows/${key}/run`, { message: '' });
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0].loc).toEqual(['body', 'message']);
  });

  it('streams a run with step and item events', async () => {
    const res = await as(org.token)('POST', `/api/v1/workflows/${key}/run-stream`, { message: 'stream me' });
    expect(res.status, res.text).toBe(200);
    const events = parseSse(res.text).map((e) => e.data);
    const kinds = events.map((e) => e.kind);
    expect(kinds[0]).toBe('workflow.run.created');
    expect(kinds.filter((k) => k === 'workflow.step.started')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'workflow.step.completed')).toHaveLength(2);
    expect(kinds).toContain('response.output_text.delta');
    expect(events.filter((e) => e.run_item_type === 'assistant_message').map((e) => e.step_name)).toEqual(['drafter', 'reviewer']);
    expect(events.at(-1)).toMatchObject({ kind: 'workflow.run.completed', is_terminal: true, content: 'You said: You said: stream me' });
  });

  it('cancels a running workflow; a run that ended answers 409; another tenant sees 404', async () => {
    oa.reply({ text: 'slow', delayMs: 5_000 });
    const started = await as(org.token)('POST', `/api/v1/workflows/${key}/run`, { message: 'long', wait_seconds: 0 });
    expect(started.status).toBe(202);
    const id = started.body.workflow_run_id;
    await until(() => as(org.token)('GET', `/api/v1/workflows/runs/${id}`), (r) => r.body.steps[0].agent_run_id !== null);
    const other = as(stranger.token);
    expect((await other('POST', `/api/v1/workflows/runs/${id}/cancel`)).status).toBe(404);
    expect((await other('GET', `/api/v1/workflows/runs/${id}`)).status).toBe(404);
    expect((await other('GET', `/api/v1/workflows/${key}`)).status).toBe(404);
    expect((await other('POST', `/api/v1/workflows/${key}/run`, { message: 'x' })).status).toBe(404);
    expect((await other('POST', `/api/v1/workflows/${key}/run-stream`, { message: 'x' })).status).toBe(404);
    expect((await other('GET', '/api/v1/workflows/runs')).body.items).toEqual([]);
    const cancel = await as(org.token)('POST', `/api/v1/workflows/runs/${id}/cancel`);
    expect(cancel.status, cancel.text).toBe(200);
    expect(cancel.body.cancel_requested).toBe(true);
    const ended = await until(() => as(org.token)('GET', `/api/v1/workflows/runs/${id}`), (r) => r.body.status === 'cancelled');
    expect(ended.body.status).toBe('cancelled');
    expect(ended.body.steps.map((s: any) => s.status)).toEqual(['cancelled', 'skipped']);
    const again = await as(org.token)('POST', `/api/v1/workflows/runs/${id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ detail: expect.any(String) });
    expect((await as(org.token)('POST', '/api/v1/workflows/runs/wfr_nope/cancel')).status).toBe(404);
  });
});
