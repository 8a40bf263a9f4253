import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../../test/support/events.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';

let t: TestPlatform;
let a: { token: string; tenantId: string };
let b: { token: string; tenantId: string };

beforeAll(async () => {
  t = await testPlatform({ EVENTS_POLL_MS: '100' });
  a = await t.newTenant();
  b = await t.newTenant();
});
afterAll(async () => {
  await t?.close();
});

const manifest = () => ({
  description: 'Greets',
  functions: [{ name: 'greet', code: 'async function handler(input) { console.log("greeting", input.name); return { greeting: `Hello ${input.name}` } }' }],
  automations: [
    {
      name: 'Greet on custom.greet',
      trigger_event: 'custom.greet',
      actions: [{ id: 'hello', type: 'run_function', input: { function_id: 'fn:greet', input: { name: '{{ data.name }}' } } }],
    },
  ],
  scheduled_jobs: [{ name: 'yearly greeting', cron_expression: '0 0 1 1 *', action_type: 'run_function', action_config: { function_id: 'fn:greet', input: { name: 'year' } } }],
});
const install = (token: string, body: Record<string, unknown>) => t.request('POST', '/v1/plugins', { token, body });

describe('plugins', () => {
  it('installs a manifest in one go, runs what it installed, disables and uninstalls it cleanly', async () => {
    const res = await install(a.token, { name: 'greeter', version: '1.0.0', manifest_json: manifest(), config_json: { tone: 'warm' } });
    expect(res.status, res.text).toBe(201);
    const plugin = res.body.data;
    expect(plugin).toMatchObject({ name: 'greeter', version: '1.0.0', enabled: true, config_json: { tone: 'warm' } });
    expect(plugin.installed.functions).toHaveLength(1);
    expect(plugin.installed.automations).toHaveLength(1);
    expect(plugin.installed.scheduled_jobs).toHaveLength(1);
    const [fnId] = plugin.installed.functions;
    const [autoId] = plugin.installed.automations;
    const [jobId] = plugin.installed.scheduled_jobs;
    expect((await t.request('GET', `/v1/functions/${fnId}`, { token: a.token })).body.data.plugin_id).toBe(plugin.id);
    expect((await t.request('GET', `/v1/automations/${autoId}`, { token: a.token })).body.data.actions[0].input.function_id).toBe(fnId);

    await t.request('POST', '/v1/events', { token: a.token, body: { event_type: 'custom.greet', data: { name: 'Ann' } } });
    const run = await waitFor(async () => (await t.request('GET', `/v1/automations/${autoId}/runs`, { token: a.token })).body.data.runs.find((r: { status: string }) => r.status === 'succeeded'), 'run');
    expect(run.steps[0].output).toEqual({ greeting: 'Hello Ann' });
    const executed = await t.request('POST', `/v1/scheduled-jobs/${jobId}/execute`, { token: a.token });
    expect(executed.body.data).toMatchObject({ status: 'succeeded', output: { greeting: 'Hello year' } });
    expect((await t.request('GET', `/v1/functions/${fnId}/logs`, { token: a.token })).body.data.some((l: { message: string }) => l.message === 'greeting Ann')).toBe(true);

    expect((await t.request('GET', '/v1/plugins', { token: a.token })).body.data.map((p: { id: string }) => p.id)).toEqual([plugin.id]);
    const off = await t.request('PATCH', `/v1/plugins/${plugin.id}`, { token: a.token, body: { enabled: false, config_json: { tone: 'dry' }, name: 'greeter2' } });
    expect(off.status, off.text).toBe(200);
    expect(off.body.data).toMatchObject({ enabled: false, name: 'greeter2', config_json: { tone: 'dry' } });
    expect((await t.request('GET', `/v1/automations/${autoId}`, { token: a.token })).body.data.enabled).toBe(false);
    expect((await t.request('GET', `/v1/functions/${fnId}`, { token: a.token })).body.data.enabled).toBe(false);
    expect((await t.request('GET', `/v1/scheduled-jobs/${jobId}`, { token: a.token })).body.data).toMatchObject({ enabled: false, next_run_at: null });

    expect((await t.request('DELETE', `/v1/plugins/${plugin.id}`, { token: a.token })).body.data).toEqual({ id: plugin.id, deleted: true });
    for (const path of [`/v1/plugins/${plugin.id}`, `/v1/functions/${fnId}`, `/v1/automations/${autoId}`, `/v1/scheduled-jobs/${jobId}`]) {
      expect((await t.request('GET', path, { token: a.token })).status, path).toBe(404);
    }
  });

  it('installs all or nothing, names the manifest path at fault, and refuses a second install of a name', async () => {
    const broken = { ...manifest(), automations: [{ ...manifest().automations[0]!, actions: [{ type: 'send_email', input: { to: 'x@example.com', subject: '{{ ) }}' } }] }] };
    const res = await install(a.token, { name: 'broken', version: '1', manifest_json: broken });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/^manifest_json\.automations\.0\.actions\[0\]\.input\.subject:/);
    expect((await t.request('GET', '/v1/functions', { token: a.token })).body.data.some((f: { name: string }) => f.name === 'greet')).toBe(false);
    const syntax = await install(a.token, { name: 'syntax', version: '1', manifest_json: { functions: [{ name: 'f', code: 'function (' }] } });
    expect(syntax.status).toBe(400);
    expect(syntax.body.error.message).toMatch(/^manifest_json\.functions\.0\.code:/);
    const unknownRef = await install(a.token, { name: 'ref', version: '1', manifest_json: { automations: [{ name: 'x', trigger_event: 'custom.x', actions: [{ type: 'run_function', input: { function_id: 'fn:nope' } }] }] } });
    expect(unknownRef.status).toBe(400);
    const unknownField = await install(a.token, { name: 'unk', version: '1', manifest_json: { widgets: [] } });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error.message).toMatch(/^manifest_json\.widgets/);
    expect((await install(a.token, { name: 'twice', version: '1', manifest_json: {} })).status).toBe(201);
    expect((await install(a.token, { name: 'twice', version: '2', manifest_json: {} })).status).toBe(409);
    expect((await install(a.token, { name: 'x', version: '1', manifest_json: {}, extra: 1 })).status).toBe(400);
  });

  it('checks the config against the manifest\'s JSON schema on install and on change, naming each path', async () => {
    const config_schema = {
      type: 'object',
      properties: {
        greeting: { type: 'string', maxLength: 20, default: 'Hello' },
        api: { type: 'object', properties: { url: { type: 'string', format: 'uri' }, retries: { type: 'integer', minimum: 0 } }, required: ['url'], additionalProperties: false },
        tone: { enum: ['warm', 'dry'] },
      },
      required: ['api'],
      additionalProperties: false,
    };
    const bad = await install(a.token, { name: 'schema', version: '1', manifest_json: { config_schema }, config_json: { api: { retries: -1, extra: true }, tone: 'loud', colour: 'red' } });
    expect(bad.status).toBe(400);
    expect(bad.body.success).toBe(false);
    expect(bad.body.error.code).toBe('VALIDATION_ERROR');
    const fields = bad.body.error.details.issues.map((i: { field: string }) => i.field).sort();
    expect(fields).toEqual(['config_json.api.extra', 'config_json.api.retries', 'config_json.api.url', 'config_json.colour', 'config_json.tone']);
    expect(bad.body.error.details.issues.every((i: { location: string }) => i.location === 'body')).toBe(true);
    expect(bad.body.error.message).toMatch(/^config_json\.\w+(\.\w+)?: .+ \(and 4 more\)$/);
    expect((await t.request('GET', '/v1/plugins', { token: a.token })).body.data.some((p: { name: string }) => p.name === 'schema')).toBe(false);

    const good = await install(a.token, { name: 'schema', version: '1', manifest_json: { config_schema }, config_json: { api: { url: 'https://api.example.com' } } });
    expect(good.status, good.text).toBe(201);
    // The schema's defaults are filled in.
    expect(good.body.data.config_json).toEqual({ api: { url: 'https://api.example.com' }, greeting: 'Hello' });
    const id = good.body.data.id;
    const patched = await t.request('PATCH', `/v1/plugins/${id}`, { token: a.token, body: { config_json: { api: { url: 'not a url' } } } });
    expect(patched.status).toBe(400);
    expect(patched.body.error.details.issues).toEqual([{ field: 'config_json.api.url', location: 'body', code: 'format', message: 'must match format "uri"' }]);
    expect((await t.request('GET', `/v1/plugins/${id}`, { token: a.token })).body.data.config_json.api.url).toBe('https://api.example.com');
    const ok = await t.request('PATCH', `/v1/plugins/${id}`, { token: a.token, body: { config_json: { api: { url: 'https://other.example.com' }, tone: 'dry' } } });
    expect(ok.body.data.config_json).toEqual({ api: { url: 'https://other.example.com' }, tone: 'dry', greeting: 'Hello' });

    // A schema that is not one, or that ajv should not compile from a tenant, is refused where it is wrong.
    const notSchema = await install(a.token, { name: 's2', version: '1', manifest_json: { config_schema: { type: 'banana' } } });
    expect(notSchema.status).toBe(400);
    expect(notSchema.body.error.message).toMatch(/^manifest_json\.config_schema\.type:/);
    const regex = await install(a.token, { name: 's3', version: '1', manifest_json: { config_schema: { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$' } } } } });
    expect(regex.status).toBe(400);
    expect(regex.body.error.message).toMatch(/^manifest_json\.config_schema\.properties\.a\.pattern: 'pattern' is not supported/);
    const remote = await install(a.token, { name: 's4', version: '1', manifest_json: { config_schema: { $ref: 'https://example.com/schema.json' } } });
    expect(remote.status).toBe(400);
    expect(remote.body.error.message).toMatch(/^manifest_json\.config_schema\.\$ref:/);
  });

  it('shows another tenant 404 on every route', async () => {
    const id = (await install(a.token, { name: 'mine', version: '1', manifest_json: {} })).body.data.id;
    for (const [method, path, body] of [
      ['GET', `/v1/plugins/${id}`],
      ['PATCH', `/v1/plugins/${id}`, { enabled: false }],
      ['DELETE', `/v1/plugins/${id}`],
    ] as const) {
      expect((await t.request(method, path, { token: b.token, body })).status, `${method} ${path}`).toBe(404);
    }
    expect((await t.request('GET', '/v1/plugins', { token: b.token })).body.data).toEqual([]);
  });
});
