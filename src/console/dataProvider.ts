// react-admin's dataProvider over the /v1 API, every call through the generated SDK. Each resource names
// the SDK methods behind list/getOne/create/update/delete; the envelope ({ success, data }) is unwrapped
// by `api`, offset lists pass limit/offset and read `total`, objects page by cursor.
import type { DataProvider, GetListParams, RaRecord } from 'react-admin';
import type { PlinthClient } from '../../sdk/platform/index.ts';
import { adminApi, api, ApiFailure } from './session.ts';

type Row = RaRecord & Record<string, unknown>;
type ListResult = { data: Row[]; total?: number; pageInfo?: { hasNextPage: boolean; hasPreviousPage: boolean } };

interface ResourceDef {
  list?: (params: GetListParams) => Promise<ListResult>;
  getOne?: (id: string) => Promise<Row>;
  create?: (data: Record<string, unknown>) => Promise<Row>;
  update?: (id: string, data: Record<string, unknown>, previous: Record<string, unknown>) => Promise<Row>;
  delete?: (id: string) => Promise<Row | { id: string }>;
}

type Call<T> = (client: PlinthClient) => Promise<{ data: { data: T } }>;
const call = <T>(fn: Call<T>) => api<T>(fn);

/** Filters, sorts and pages a list the API answers whole (keys, webhooks, roles...). */
export function pageLocally(items: Row[], params: GetListParams): ListResult {
  const { q, ...filters } = (params.filter ?? {}) as Record<string, unknown>;
  let rows = items.filter((row) =>
    Object.entries(filters).every(([key, value]) => value === undefined || value === '' || String(row[key]) === String(value)),
  );
  if (typeof q === 'string' && q) {
    const needle = q.toLowerCase();
    rows = rows.filter((row) => JSON.stringify(row).toLowerCase().includes(needle));
  }
  const { field, order } = params.sort ?? { field: 'id', order: 'ASC' };
  if (field) {
    rows = [...rows].sort((a, b) => {
      const x = a[field] as string | number | undefined;
      const y = b[field] as string | number | undefined;
      const c = x === y ? 0 : x === undefined || x === null ? 1 : y === undefined || y === null ? -1 : x < y ? -1 : 1;
      return order === 'DESC' ? -c : c;
    });
  }
  const { page, perPage } = params.pagination ?? { page: 1, perPage: 25 };
  return { data: rows.slice((page - 1) * perPage, page * perPage), total: rows.length };
}

const offsetOf = (params: GetListParams) => {
  const { page, perPage } = params.pagination ?? { page: 1, perPage: 25 };
  return { limit: Math.min(perPage, 100), offset: (page - 1) * perPage };
};

/** A list the API answers whole, served page by page here. */
function wholeList(fetchAll: () => Promise<Row[]>, byId?: (id: string) => Promise<Row>): Pick<ResourceDef, 'list' | 'getOne'> {
  return {
    list: async (params) => pageLocally(await fetchAll(), params),
    getOne:
      byId ??
      (async (id) => {
        const row = (await fetchAll()).find((r) => String(r.id) === id);
        if (!row) throw new ApiFailure('Not found', 404);
        return row;
      }),
  };
}

/** The array inside a list answer, whatever its key (`{ runs: [...] }`, `{ results: [...] }` or the array itself). */
export function rowsOf(data: unknown): Row[] {
  if (Array.isArray(data)) return data as Row[];
  const inner = Object.values((data ?? {}) as Record<string, unknown>).find(Array.isArray);
  return (inner ?? []) as Row[];
}

const PENDING_FOLDERS = 'plinth.console.folders';
export const pendingFolders = (): string[] => {
  try {
    return JSON.parse(sessionStorage.getItem(PENDING_FOLDERS) ?? '[]') as string[];
  } catch {
    return [];
  }
};

// Cursor pages of objects: the cursor that leads to page n of a given query, learnt while paging forward.
const cursors = new Map<string, (string | null)[]>();

async function recordsPage(type: string, params: GetListParams, trash: boolean): Promise<ListResult> {
  const { page, perPage } = params.pagination ?? { page: 1, perPage: 25 };
  const { q, ...filters } = (params.filter ?? {}) as Record<string, unknown>;
  const query: Record<string, unknown> = { limit: Math.min(perPage, 100) };
  if (!trash) {
    const conditions = Object.entries(filters)
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([property, value]) => {
        // `amount_gte: 5` from a filter input becomes amount:gte:5; a bare name means equality.
        const m = /^(.*)_(eq|neq|gt|gte|lt|lte|contains|starts_with|in)$/.exec(property);
        return m ? { property: m[1], op: m[2], value: m[2] === 'in' ? String(value).split(',') : value } : { property, op: 'eq', value };
      });
    if (conditions.length) query.filters = JSON.stringify(conditions);
    if (typeof q === 'string' && q) query.search = q;
    const { field, order } = params.sort ?? { field: 'created_at', order: 'DESC' };
    if (field && field !== 'id') {
      query.sort = field.startsWith('properties.') ? field.slice('properties.'.length) : field;
      query.order = order === 'ASC' ? 'asc' : 'desc';
    }
  }
  const key = JSON.stringify([type, trash, query]);
  const known = cursors.get(key) ?? [null];
  cursors.set(key, known);
  // Walk forward to the asked page when it was not reached by paging (a page number typed in the URL).
  for (let p = known.length; p < page; p++) {
    const prev = known[p - 1];
    if (p > 1 && !prev) break;
    const data = await call((c) => (trash ? c.objects.objectsTrashList({ objectTypeId: type, ...query, cursor: prev ?? undefined } as never) : c.objects.objectsListList({ objectTypeId: type, ...query, cursor: prev ?? undefined } as never)));
    known[p] = data.next_cursor;
  }
  const cursor = page === 1 ? undefined : known[page - 1];
  if (page > 1 && !cursor) return { data: [], pageInfo: { hasNextPage: false, hasPreviousPage: true } };
  const data = await call((c) =>
    trash ? c.objects.objectsTrashList({ objectTypeId: type, ...query, cursor } as never) : c.objects.objectsListList({ objectTypeId: type, ...query, cursor } as never),
  );
  known[page] = data.next_cursor;
  const rows = data.results as unknown as Row[];
  // `total` is exact up to the server's cap; past it, pages say only whether there is a next one.
  return typeof data.total === 'number' && !data.total_capped
    ? { data: rows, total: data.total }
    : { data: rows, pageInfo: { hasNextPage: Boolean(data.next_cursor), hasPreviousPage: page > 1 } };
}

function records(type: string): ResourceDef {
  return {
    list: (params) => recordsPage(type, params, false),
    getOne: async (id) => (await call((c) => c.objects.objectsDetail({ objectTypeId: type, objectId: id } as never))) as unknown as Row,
    create: async (data) => (await call((c) => c.objects.objectsCreate({ objectTypeId: type } as never, { properties: (data.properties ?? {}) as Record<string, unknown> } as never))) as unknown as Row,
    update: async (id, data, previous) =>
      (await call((c) =>
        c.objects.objectsPartialUpdate({ objectTypeId: type, objectId: id } as never, {
          properties: changedProperties((data.properties ?? {}) as Record<string, unknown>, (previous.properties ?? {}) as Record<string, unknown>),
          version: previous.version as number,
        } as never),
      )) as unknown as Row,
    delete: async (id) => {
      await call((c) => c.objects.objectsDelete({ objectTypeId: type, objectId: id } as never));
      return { id };
    },
  };
}

/** Only what the form changed is sent: a read-only or masked property left as it was is not written back. */
function changedProperties(next: Record<string, unknown>, previous: Record<string, unknown>) {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(next)) if (JSON.stringify(v) !== JSON.stringify(previous[k])) out[k] = v === '' ? null : v;
  return out;
}

function trash(type: string): ResourceDef {
  return { list: (params) => recordsPage(type, params, true) };
}

/** A column of a structured editor (rows of inputs that can be added and removed). */
export interface ColumnSpec {
  source: string;
  label?: string;
  /** `account`: a select over the chart of accounts; `json`: a free-form object typed as JSON. */
  kind?: 'text' | 'number' | 'select' | 'boolean' | 'json' | 'account';
  choices?: string[];
  required?: boolean;
  width?: number;
}

/** An input of a module's create and edit forms (rendered by screens/modules.tsx as react-admin inputs). */
export interface FieldSpec {
  source: string;
  label?: string;
  kind?: 'text' | 'multiline' | 'json' | 'select' | 'boolean' | 'number' | 'rows';
  choices?: string[];
  required?: boolean;
  defaultValue?: unknown;
  helperText?: string;
  /** `rows`: the columns of each row, and the row the Add button appends. */
  columns?: ColumnSpec[];
  newRow?: Record<string, unknown>;
  /** `rows`: columns summed under the rows as they are typed (two: shown as balanced or not). */
  totals?: string[];
  /** Set at creation only: the API's PATCH does not take it, so the edit form leaves it out. */
  createOnly?: boolean;
  /** A secret: never in the answer, so the edit form starts empty and sends it only when typed. */
  writeOnly?: boolean;
  /** The form's value as the API takes it (rows to the API's objects, strings to numbers). */
  toApi?: (value: any) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any
}

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any
type Answer = Promise<{ data: { data: unknown } }>;

/** A module's screens: its list, and where the API has them, its detail, create, edit and delete. */
export interface ModuleDef {
  label: string;
  list: Call<unknown>;
  getOne?: (c: PlinthClient, id: string) => Answer;
  create?: { fields: FieldSpec[]; call: (c: PlinthClient, data: Record<string, Any>) => Answer };
  /** PATCH: `fields` default to the create form's less its `createOnly` ones; `editable` hides Edit on a row the API would refuse (a posted entry). */
  update?: { fields?: FieldSpec[]; call: (c: PlinthClient, id: string, data: Record<string, Any>, previous: Record<string, Any>) => Answer; editable?: (record: Record<string, Any>) => boolean };
  delete?: (c: PlinthClient, id: string) => Promise<unknown>;
  /** The scope a write needs (default `write`), so that a viewer sees no write buttons. */
  writeScope?: 'write' | 'schema' | 'ai' | '*';
}

/** The edit form's inputs of a module. */
export function editFields(def: ModuleDef): FieldSpec[] {
  return def.update?.fields ?? (def.create?.fields ?? []).filter((f) => !f.createOnly);
}

const blank = (v: unknown) => v === undefined || v === null || v === '';

/** A create body: every field, each as the API takes it. */
function createBody(fields: FieldSpec[], data: Record<string, unknown>): Record<string, unknown> {
  const body = { ...data };
  for (const f of fields) {
    if (f.writeOnly && blank(body[f.source])) delete body[f.source];
    else if (f.toApi && !blank(body[f.source])) body[f.source] = f.toApi(body[f.source]);
  }
  return body;
}

/** A PATCH body: only the fields whose value changed (a blank left blank is no change; a secret only when typed). */
export function patchBody(fields: FieldSpec[], data: Record<string, unknown>, previous: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const api = (f: FieldSpec, v: unknown) => (blank(v) ? undefined : f.toApi ? f.toApi(v) : v);
  for (const f of fields) {
    const next = api(f, data[f.source]);
    if (f.writeOnly) {
      if (next !== undefined) body[f.source] = next;
      continue;
    }
    if (JSON.stringify(next) === JSON.stringify(api(f, previous[f.source]))) continue;
    body[f.source] = next === undefined ? null : next;
  }
  return body;
}

const json = (source: string, label: string, required = false, helperText?: string, defaultValue?: unknown): FieldSpec => ({ source, label, kind: 'json', required, helperText, defaultValue });
const text = (v: unknown) => (blank(v) ? undefined : String(v));
const amount = (v: unknown) => (blank(v) || Number(v) === 0 ? undefined : Number(v));

const ACTION_TYPES = ['create_object', 'update_object', 'delete_object', 'send_email', 'send_notification', 'call_webhook', 'run_function', 'ai_step', 'emit_event'];

/** The later modules (automations, functions, schedules, AI, reports, accounting...): list, detail, and create where the body is simple. */
export const MODULES: Record<string, ModuleDef> = {
  automations: {
    label: 'Automations',
    list: (c) => c.automations.automationsList() as never,
    getOne: (c, id) => c.automations.automationsDetail({ automationId: id }) as never,
    create: {
      fields: [
        { source: 'name', required: true },
        { source: 'trigger_event', label: 'Trigger event', required: true, helperText: 'e.g. object.created' },
        { source: 'description' },
        json('conditions', 'Conditions (JSON array of JsonLogic rules, all must hold)', false, 'e.g. [{"==":[{"var":"data.object_type"},"deals"]}]', []),
        {
          source: 'actions',
          label: 'Actions (run in order)',
          kind: 'rows',
          required: true,
          defaultValue: [{ type: 'emit_event', input: { event_type: 'custom.hello' }, on_error: 'stop' }],
          newRow: { type: 'emit_event', input: {}, on_error: 'stop' },
          columns: [
            { source: 'id', label: 'Step id (optional)', width: 150 },
            { source: 'type', label: 'Type', kind: 'select', choices: ACTION_TYPES, required: true, width: 190 },
            { source: 'input', label: 'Input (JSON object)', kind: 'json' },
            { source: 'on_error', label: 'On error', kind: 'select', choices: ['stop', 'continue'], width: 120 },
          ],
          helperText: 'Input, e.g. create_object {"object_type":"tasks","properties":{"title":"Follow up {{ data.properties.name }}"}}; emit_event {"event_type":"custom.x"}',
          toApi: (rows: Record<string, unknown>[]) => rows.map((r) => ({ id: text(r.id), type: r.type, input: r.input ?? {}, on_error: r.on_error ?? 'stop' })),
        },
        { source: 'enabled', kind: 'boolean', defaultValue: true },
      ],
      call: (c, d) => c.automations.automationsCreate(d as never) as never,
    },
    update: { call: (c, id, d) => c.automations.automationsPartialUpdate({ automationId: id }, d as never) as never },
    delete: (c, id) => c.automations.automationsDelete({ automationId: id }),
  },
  functions: {
    label: 'Functions',
    list: (c) => c.functions.functionsList() as never,
    getOne: (c, id) => c.functions.functionsDetail({ functionId: id }) as never,
    create: {
      fields: [
        { source: 'name', required: true, helperText: 'lowercase, e.g. add_tax' },
        { source: 'description' },
        { source: 'trigger_type', label: 'Trigger', kind: 'select', choices: ['manual', 'http', 'event', 'schedule'], defaultValue: 'manual', createOnly: true },
        { source: 'code', kind: 'multiline', required: true, defaultValue: 'async function handler(input) {\n  return { ok: true, input };\n}\n' },
        { source: 'timeout_ms', label: 'Timeout (ms)', kind: 'number' },
      ],
      call: (c, d) => c.functions.functionsCreate(d as never) as never,
    },
    update: {
      fields: [
        { source: 'name', required: true },
        { source: 'description' },
        { source: 'code', kind: 'multiline', required: true },
        { source: 'timeout_ms', label: 'Timeout (ms)', kind: 'number' },
        { source: 'enabled', kind: 'boolean' },
      ],
      call: (c, id, d) => c.functions.functionsPartialUpdate({ functionId: id }, d as never) as never,
    },
    delete: (c, id) => c.functions.functionsDelete({ functionId: id }),
  },
  'scheduled-jobs': {
    label: 'Scheduled jobs',
    list: (c) => c.scheduledJobs.scheduledJobsList() as never,
    getOne: (c, id) => c.scheduledJobs.scheduledJobsDetail({ jobId: id }) as never,
    create: {
      fields: [
        { source: 'name', required: true },
        { source: 'cron_expression', label: 'Cron', helperText: 'e.g. 0 9 * * 1-5', defaultValue: '0 9 * * *' },
        { source: 'timezone', defaultValue: 'UTC' },
        { source: 'action_type', label: 'Action', kind: 'select', choices: ACTION_TYPES, required: true, defaultValue: 'emit_event' },
        json('action_config', 'Action input (JSON)', false, 'The fields of the action, as an automation action\'s input', { event_type: 'custom.tick' }),
        { source: 'enabled', kind: 'boolean', defaultValue: true },
      ],
      call: (c, d) => c.scheduledJobs.scheduledJobsCreate(d as never) as never,
    },
    update: { call: (c, id, d) => c.scheduledJobs.scheduledJobsPartialUpdate({ jobId: id }, d as never) as never },
    delete: (c, id) => c.scheduledJobs.scheduledJobsDelete({ jobId: id }),
  },
  integrations: {
    label: 'Integrations',
    list: (c) => c.integrations.integrationsList() as never,
    getOne: (c, id) => c.integrations.integrationsDetail({ integrationId: id }) as never,
    update: {
      fields: [{ source: 'name', required: true }, json('config_json', 'Config (JSON)'), { source: 'status', kind: 'select', choices: ['active', 'paused'] }],
      call: (c, id, d) => c.integrations.integrationsPartialUpdate({ integrationId: id }, d as never) as never,
    },
    delete: (c, id) => c.integrations.integrationsDelete({ integrationId: id }),
  },
  plugins: {
    label: 'Plugins',
    list: (c) => c.plugins.pluginsList() as never,
    getOne: (c, id) => c.plugins.pluginsDetail({ pluginId: id }) as never,
    update: {
      fields: [{ source: 'name', required: true }, json('config_json', 'Config (JSON)'), { source: 'enabled', kind: 'boolean' }],
      call: (c, id, d) => c.plugins.pluginsPartialUpdate({ pluginId: id }, d as never) as never,
    },
    delete: (c, id) => c.plugins.pluginsDelete({ pluginId: id }),
  },
  'saved-reports': {
    label: 'Reports',
    list: (c) => c.savedReports.savedReportsList() as never,
    getOne: (c, id) => c.savedReports.savedReportsDetail({ reportId: id }) as never,
    create: {
      fields: [
        { source: 'name', required: true },
        { source: 'description' },
        { source: 'type', kind: 'select', choices: ['timeseries', 'funnel', 'leaderboard', 'pipeline'], required: true, defaultValue: 'timeseries', createOnly: true },
        json('config_json', 'Config (JSON)', true, 'As the /v1/reports/<type> body, e.g. {"object_type":"deals","interval":"day"}'),
        { source: 'schedule', helperText: 'cron, optional' },
      ],
      call: (c, d) => c.savedReports.savedReportsCreate(d as never) as never,
    },
    update: { call: (c, id, d) => c.savedReports.savedReportsPartialUpdate({ reportId: id }, d as never) as never },
    delete: (c, id) => c.savedReports.savedReportsDelete({ reportId: id }),
  },
  dashboards: {
    label: 'Dashboards',
    list: (c) => c.dashboards.dashboardsList() as never,
    getOne: (c, id) => c.dashboards.dashboardsDetail({ dashboardId: id }) as never,
    create: { fields: [{ source: 'name', required: true }, { source: 'description' }, { source: 'is_public', label: 'Public', kind: 'boolean' }], call: (c, d) => c.dashboards.dashboardsCreate(d as never) as never },
    update: { call: (c, id, d) => c.dashboards.dashboardsPartialUpdate({ dashboardId: id }, d as never) as never },
    delete: (c, id) => c.dashboards.dashboardsDelete({ dashboardId: id }),
  },
  forms: {
    label: 'Forms',
    list: (c) => c.forms.formsList() as never,
    getOne: (c, id) => c.forms.formsDetail({ formId: id } as never) as never,
    create: {
      fields: [
        { source: 'name', required: true },
        { source: 'description' },
        { source: 'object_type_id', label: 'Object type (id or name)', required: true, createOnly: true },
        {
          source: 'fields',
          label: 'Fields (in order)',
          kind: 'rows',
          required: true,
          defaultValue: [{ property: '', label: '', required: false }],
          newRow: { property: '', label: '', required: false },
          columns: [
            { source: 'property', label: 'Property', required: true, width: 180 },
            { source: 'label', label: 'Label', width: 180 },
            { source: 'placeholder', label: 'Placeholder', width: 160 },
            { source: 'help_text', label: 'Help text' },
            { source: 'required', label: 'Required', kind: 'boolean', width: 110 },
          ],
          toApi: (rows: Record<string, unknown>[]) =>
            rows.map((r) => ({ property: r.property, label: text(r.label), required: Boolean(r.required), placeholder: text(r.placeholder), help_text: text(r.help_text) })),
        },
        { source: 'status', kind: 'select', choices: ['draft', 'active', 'archived'], defaultValue: 'draft' },
      ],
      call: (c, d) => c.forms.formsCreate(d as never) as never,
    },
    update: { call: (c, id, d) => c.forms.formsPartialUpdate({ formId: id }, d as never) as never },
    delete: (c, id) => c.forms.formsDelete({ formId: id }),
  },
  'ai-providers': {
    label: 'AI providers',
    writeScope: 'ai',
    list: (c) => c.aiProviders.aiProvidersList() as never,
    getOne: (c, id) => c.aiProviders.aiProvidersDetail({ providerId: id }) as never,
    create: {
      fields: [
        { source: 'name', required: true },
        { source: 'provider_type', label: 'Provider', kind: 'select', choices: ['local', 'openai', 'anthropic'], required: true, defaultValue: 'local', createOnly: true },
        { source: 'api_key', label: 'API key (write-only: stored encrypted, never shown; type to replace)', writeOnly: true },
        json('config_json', 'Config (JSON)', false, 'e.g. {"base_url":"http://localhost:11434/v1","chat_model":"llama3"}'),
      ],
      call: (c, d) => c.aiProviders.aiProvidersCreate(d as never) as never,
    },
    update: { call: (c, id, d) => c.aiProviders.aiProvidersPartialUpdate({ providerId: id }, d as never) as never },
    delete: (c, id) => c.aiProviders.aiProvidersDelete({ providerId: id }),
  },
  agents: {
    label: 'AI agents',
    writeScope: 'ai',
    list: (c) => c.agents.agentsList() as never,
    getOne: (c, id) => c.agents.agentsDetail({ agentId: id }) as never,
    create: {
      fields: [
        { source: 'name', required: true },
        { source: 'description' },
        { source: 'model', helperText: "`<provider>/<model>`, a model of the default provider, or empty for the default provider's model" },
        { source: 'instructions', kind: 'multiline', required: true, defaultValue: 'You are a helpful assistant for this workspace.' },
        json('tools', 'Platform tools (JSON array, optional)', false, 'e.g. ["search_objects","get_object"]; also create_object, update_object, search_files'),
        json('knowledge', 'Knowledge (JSON, optional)', false, 'e.g. {"enabled":true,"sources":["objects"],"types":["deals"],"k":5}'),
        json('limits', 'Limits (JSON, optional)', false, 'e.g. {"max_steps":5,"max_tokens":4096,"timeout_ms":120000}'),
      ],
      call: (c, d) => c.agents.agentsCreate(d as never) as never,
    },
    update: {
      fields: [
        { source: 'name', required: true },
        { source: 'description' },
        { source: 'model', helperText: 'empty: the default provider\'s model' },
        { source: 'instructions', kind: 'multiline', required: true },
      ],
      call: (c, id, d) => c.agents.agentsPartialUpdate({ agentId: id }, d as never) as never,
    },
    delete: (c, id) => c.agents.agentsDelete({ agentId: id }),
  },
  'agent-runs': { label: 'Agent runs', list: (c) => c.agentRuns.agentRunsList() as never, getOne: (c, id) => c.agentRuns.agentRunsDetail({ runId: id }) as never },
  'ai-conversations': {
    label: 'AI conversations',
    writeScope: 'ai',
    list: (c) => c.ai.aiConversationsList() as never,
    getOne: (c, id) => c.ai.aiConversationsDetail({ conversationId: id }) as never,
    update: { fields: [{ source: 'title' }], call: (c, id, d) => c.ai.aiConversationsPartialUpdate({ conversationId: id }, d as never) as never },
  },
  'accounting-accounts': {
    label: 'Chart of accounts',
    list: (c) => c.accounting.accountingAccountsList() as never,
    getOne: (c, id) => c.accounting.accountingAccountsDetail({ accountId: id }) as never,
    create: {
      fields: [
        { source: 'code', required: true, helperText: 'e.g. 1000', createOnly: true },
        { source: 'name', required: true },
        { source: 'type', kind: 'select', choices: ['asset', 'liability', 'equity', 'revenue', 'expense'], required: true, createOnly: true },
        { source: 'sub_type', label: 'Sub-type' },
        { source: 'description' },
        { source: 'currency', helperText: 'ISO code, e.g. EUR', createOnly: true },
      ],
      call: (c, d) => c.accounting.accountingAccountsCreate(d as never) as never,
    },
    update: {
      fields: [{ source: 'name', required: true }, { source: 'sub_type', label: 'Sub-type' }, { source: 'description' }, { source: 'is_active', label: 'Active', kind: 'boolean' }],
      call: (c, id, d) => c.accounting.accountingAccountsPartialUpdate({ accountId: id }, d as never) as never,
    },
    delete: (c, id) => c.accounting.accountingAccountsDelete({ accountId: id }),
  },
  'accounting-journal-entries': {
    label: 'Journal entries',
    list: (c) => c.accounting.accountingJournalEntriesList() as never,
    getOne: (c, id) => c.accounting.accountingJournalEntriesDetail({ entryId: id }) as never,
    create: {
      fields: [
        { source: 'date', required: true, helperText: 'YYYY-MM-DD', defaultValue: new Date().toISOString().slice(0, 10) },
        { source: 'description' },
        { source: 'reference' },
        {
          source: 'lines',
          label: 'Lines (debits equal credits)',
          kind: 'rows',
          required: true,
          defaultValue: [{ account_id: '', debit: null, credit: null }, { account_id: '', debit: null, credit: null }],
          newRow: { account_id: '', debit: null, credit: null },
          totals: ['debit', 'credit'],
          columns: [
            { source: 'account_id', label: 'Account', kind: 'account', required: true, width: 260 },
            { source: 'debit', label: 'Debit', kind: 'number', width: 130 },
            { source: 'credit', label: 'Credit', kind: 'number', width: 130 },
            { source: 'description', label: 'Description' },
          ],
          toApi: (rows: Record<string, unknown>[]) => rows.map((r) => ({ account_id: r.account_id, debit: amount(r.debit), credit: amount(r.credit), description: text(r.description) })),
        },
        { source: 'post', label: 'Post at once', kind: 'boolean', createOnly: true },
      ],
      call: (c, d) => c.accounting.accountingJournalEntriesCreate(d as never) as never,
    },
    // Only a draft changes; a posted entry is reversed instead.
    update: { call: (c, id, d) => c.accounting.accountingJournalEntriesPartialUpdate({ entryId: id }, d as never) as never, editable: (r) => r.status === 'draft' },
    delete: (c, id) => c.accounting.accountingJournalEntriesDelete({ entryId: id }),
  },
  'accounting-invoices': {
    label: 'Invoices',
    list: (c) => c.accounting.accountingInvoicesList() as never,
    getOne: (c, id) => c.accounting.accountingInvoicesDetail({ invoiceId: id }) as never,
    update: {
      fields: [
        { source: 'contact_name', label: 'Contact', required: true },
        { source: 'date', helperText: 'YYYY-MM-DD', required: true },
        { source: 'due_date', label: 'Due date', helperText: 'YYYY-MM-DD', required: true },
        { source: 'notes', kind: 'multiline' },
        {
          source: 'lines',
          label: 'Lines',
          kind: 'rows',
          required: true,
          newRow: { account_id: '', description: '', quantity: 1, unit_price: null },
          columns: [
            { source: 'account_id', label: 'Account', kind: 'account', required: true, width: 240 },
            { source: 'description', label: 'Description' },
            { source: 'quantity', label: 'Quantity', kind: 'number', width: 110 },
            { source: 'unit_price', label: 'Unit price', kind: 'number', required: true, width: 130 },
            { source: 'tax_code_id', label: 'Tax code id', width: 150 },
          ],
          toApi: (rows: Record<string, unknown>[]) =>
            rows.map((r) => ({ account_id: r.account_id, description: text(r.description), quantity: blank(r.quantity) ? undefined : Number(r.quantity), unit_price: Number(r.unit_price), tax_code_id: text(r.tax_code_id) })),
        },
      ],
      call: (c, id, d) => c.accounting.accountingInvoicesPartialUpdate({ invoiceId: id }, d as never) as never,
      editable: (r) => r.status === 'draft',
    },
  },
  'short-urls': {
    label: 'Short URLs',
    list: (c) => c.shortUrls.shortUrlsList() as never,
    update: {
      fields: [{ source: 'target_url', label: 'Target URL', required: true }, { source: 'title' }, { source: 'expires_at', label: 'Expires at (ISO date-time)' }, { source: 'max_clicks', label: 'Max clicks', kind: 'number' }],
      call: (c, _id, d, previous) => c.shortUrls.shortUrlsPartialUpdate({ slug: String(previous.slug) }, d as never) as never,
    },
  },
};

function moduleResource(def: ModuleDef): ResourceDef {
  return {
    ...wholeList(
      async () => rowsOf(await call(def.list)),
      def.getOne ? async (id) => (await call((c) => def.getOne!(c, id) as never)) as Row : undefined,
    ),
    create: def.create ? async (data) => (await call((c) => def.create!.call(c, createBody(def.create!.fields, data)) as never)) as Row : undefined,
    update: def.update
      ? async (id, data, previous) => (await call((c) => def.update!.call(c, id, patchBody(editFields(def), data, previous), previous) as never)) as Row
      : undefined,
    delete: def.delete
      ? async (id) => {
          await call((c) => def.delete!(c, id) as never);
          return { id };
        }
      : undefined,
  };
}

// Per-type governance: resources `policies/<type>`, `workflows/<type>`, `reviews/<type>`.

/** The keys of `next` whose value differs from `previous` (both already as the API takes them): a PATCH body. */
function changed(next: Record<string, unknown>, previous: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(next).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(previous[k])));
}

function policies(type: string): ResourceDef {
  return {
    ...wholeList(async () => (await call((c) => c.objectTypes.objectTypesPoliciesList({ objectTypeId: type }))) as unknown as Row[]),
    create: async (data) =>
      (await call((c) =>
        c.objectTypes.objectTypesPoliciesCreate({ objectTypeId: type }, { name: data.name, action: data.action, role: data.role || null, condition_json: data.condition_json ?? {}, enabled: data.enabled ?? true } as never),
      )) as unknown as Row,
    update: async (id, data, previous) => {
      const norm = (d: Record<string, unknown>) => ({ name: d.name, action: d.action, role: d.role || null, condition_json: d.condition_json ?? {}, enabled: Boolean(d.enabled) });
      const body = changed(norm(data), norm(previous));
      if (!Object.keys(body).length) return { ...previous, id } as Row;
      return (await call((c) => c.objectTypes.objectTypesPoliciesPartialUpdate({ objectTypeId: type, policyId: id }, body as never))) as unknown as Row;
    },
    delete: async (id) => {
      await call((c) => c.objectTypes.objectTypesPoliciesDelete({ objectTypeId: type, policyId: id }));
      return { id };
    },
  };
}

function workflows(type: string): ResourceDef {
  return {
    ...wholeList(async () => (await call((c) => c.objectTypes.objectTypesWorkflowsList({ objectTypeId: type }))) as unknown as Row[]),
    create: async (data) =>
      (await call((c) =>
        c.objectTypes.objectTypesWorkflowsCreate({ objectTypeId: type }, { name: data.name, stages: data.stages, enabled: data.enabled ?? true, allow_self_approval: Boolean(data.allow_self_approval) } as never),
      )) as unknown as Row,
    update: async (id, data, previous) => {
      const norm = (d: Record<string, unknown>) => ({
        name: d.name,
        stages: ((d.stages as Record<string, unknown>[] | undefined) ?? []).map((s) => ({
          name: s.name,
          approver_roles: splitList(s.approver_roles),
          // Not on the form: kept as stored, so that saving the stages does not drop a stage's named approvers.
          approver_user_ids: Array.isArray(s.approver_user_ids) ? s.approver_user_ids : [],
          required_approvals: Number(s.required_approvals ?? 1),
        })),
        enabled: Boolean(d.enabled),
        allow_self_approval: Boolean(d.allow_self_approval),
      });
      // Stages are sent only when they changed: the API refuses new stages while records are in review.
      const body = changed(norm(data), norm(previous));
      if (!Object.keys(body).length) return { ...previous, id } as Row;
      return (await call((c) => c.objectTypes.objectTypesWorkflowsPartialUpdate({ objectTypeId: type, workflowId: id }, body as never))) as unknown as Row;
    },
    delete: async (id) => {
      await call((c) => c.objectTypes.objectTypesWorkflowsDelete({ objectTypeId: type, workflowId: id }));
      return { id };
    },
  };
}

function reviews(type: string): ResourceDef {
  return {
    list: async (params) => {
      const { status } = (params.filter ?? {}) as Record<string, string | undefined>;
      const data = await call((c) => c.objectTypes.objectTypesReviewsList({ objectTypeId: type, ...offsetOf(params), status: (status || undefined) as never }));
      return { data: data.reviews.map((r) => ({ ...r, id: r.object_id })) as unknown as Row[], total: data.total };
    },
  };
}

/** A record's comments: resource `comments/<type>/<id>`. */
function comments(type: string, objectId: string): ResourceDef {
  return {
    list: async (params) => {
      const data = await call((c) => c.objects.objectsCommentsList({ objectTypeId: type, objectId, limit: 100 } as never));
      return pageLocally(rowsOf(data), params);
    },
    create: async (data) => (await call((c) => c.objects.objectsCommentsCreate({ objectTypeId: type, objectId }, { body: String(data.body ?? '') }))) as unknown as Row,
    delete: async (id) => {
      await call((c) => c.objects.objectsCommentsDelete({ objectTypeId: type, objectId, commentId: id } as never));
      return { id };
    },
  };
}

/** A record's associations (both directions): resource `associations/<type>/<id>`. */
function associationsOf(type: string, objectId: string): ResourceDef {
  return {
    list: async (params) => {
      const data = await call((c) => c.objects.objectsAssociationsList({ type, id: objectId, limit: 100 } as never));
      return pageLocally(data.results as unknown as Row[], params);
    },
    create: async (data) =>
      (await call((c) =>
        c.objects.objectsAssociationsUpdate(
          { fromType: type, fromId: objectId, associationType: String(data.association_type), toType: String(data.to_type), toId: String(data.to_id) },
          { meta: {} },
        ),
      )) as unknown as Row,
  };
}

/** Removes one association, by the link as the list shows it. */
export async function deleteAssociation(row: { association_type: string; from_type: string | null; from_type_id: string; from_id: string; to_type: string | null; to_type_id: string; to_id: string }) {
  await call((c) =>
    c.objects.objectsAssociationsDelete({
      fromType: row.from_type ?? row.from_type_id,
      fromId: row.from_id,
      associationType: row.association_type,
      toType: row.to_type ?? row.to_type_id,
      toId: row.to_id,
    } as never),
  );
}

/**
 * OAuth and SAML providers: the API keeps them as lists inside the auth config (POST /v1/auth-config
 * replaces a list whole), so each write reads the current list, changes one provider and sends the
 * list back. A provider is named by `name`, which is also how its stored secret is found: an OAuth
 * provider sent without `client_secret` keeps the stored one, so the secret is never read back here.
 */
type SsoKind = 'oauth_providers' | 'saml_providers';
const SSO_FIELDS: Record<SsoKind, string[]> = {
  oauth_providers: ['name', 'client_id', 'client_secret', 'authorization_url', 'token_url', 'userinfo_url', 'jwks_uri', 'issuer', 'scopes', 'trust_email'],
  saml_providers: ['name', 'entry_point', 'idp_issuer', 'idp_cert', 'email_attribute', 'allow_idp_initiated'],
};

function ssoProviders(kind: SsoKind): ResourceDef {
  const read = async () => ((await call((c) => c.authConfig.authConfigList())) as unknown as Record<SsoKind, Row[]>)[kind] ?? [];
  /** The provider as the API takes it: its own fields only (not `client_secret_set`), blanks left out. */
  const body = (row: Record<string, unknown>) => {
    const out: Record<string, unknown> = {};
    for (const f of SSO_FIELDS[kind]) {
      const v = f === 'scopes' && typeof row[f] === 'string' ? splitList(row[f]) : row[f];
      if (!(v === undefined || v === null || v === '')) out[f] = v;
    }
    return out;
  };
  const write = async (change: (rows: Record<string, unknown>[]) => Record<string, unknown>[], name: string) => {
    const next = change((await read()).map(body));
    const saved = ((await call((c) => c.authConfig.authConfigCreate({ [kind]: next } as never))) as unknown as Record<SsoKind, Row[]>)[kind] ?? [];
    const row = saved.find((r) => r.name === name);
    return (row ? { ...row, id: row.name } : { id: name }) as Row;
  };
  return {
    ...wholeList(async () => (await read()).map((r) => ({ ...r, id: r.name as string }))),
    create: async (data) => write((rows) => [...rows, body(data)], String(data.name)),
    // The name is the provider's key (and its secret's): the edit form does not change it.
    update: async (id, data) => write((rows) => rows.map((r) => (r.name === id ? body({ ...data, name: id }) : r)), id),
    delete: async (id) => {
      await write((rows) => rows.filter((r) => r.name !== id), id);
      return { id };
    },
  };
}

const RESOURCES: Record<string, ResourceDef> = {
  keys: {
    ...wholeList(async () => (await call((c) => c.keys.keysList())) as unknown as Row[]),
    // The token is in the answer only this once; the create screen shows it.
    create: async (data) => {
      const created = await call((c) => c.keys.keysCreate(data as never));
      return { ...(created.key as unknown as Row), token: created.token };
    },
    update: async (id, data) => {
      const { label, scopes, expires_at, rate_limit } = data;
      return (await call((c) => c.keys.keysPartialUpdate({ keyId: id }, { label, scopes, expires_at: expires_at || null, rate_limit: rate_limit ?? null } as never))) as unknown as Row;
    },
    delete: async (id) => (await call((c) => c.keys.keysDelete({ keyId: id }))) as unknown as Row,
  },
  'object-types': {
    ...wholeList(
      async () => (await call((c) => c.objectTypes.objectTypesList())) as unknown as Row[],
      async (id) => (await call((c) => c.objectTypes.objectTypesDetail({ objectTypeId: id }))) as unknown as Row,
    ),
    create: async (data) => (await call((c) => c.objectTypes.objectTypesCreate({ name: data.name, display_name: data.display_name || undefined } as never))) as unknown as Row,
    update: async (id, data) => (await call((c) => c.objectTypes.objectTypesPartialUpdate({ objectTypeId: id }, { display_name: data.display_name } as never))) as unknown as Row,
    delete: async (id) => {
      await call((c) => c.objectTypes.objectTypesDelete({ objectTypeId: id } as never));
      return { id };
    },
  },
  files: {
    list: async (params) => {
      const { page, perPage } = params.pagination ?? { page: 1, perPage: 25 };
      const { q, folder, mime_category } = (params.filter ?? {}) as Record<string, string | undefined>;
      const { field, order } = params.sort ?? { field: 'created_at', order: 'DESC' };
      const body = {
        filename: q || undefined,
        folder: folder || undefined,
        mime_category: mime_category || undefined,
        sort: (['created_at', 'updated_at', 'size_bytes', 'filename'].includes(field) ? field : 'created_at') as never,
        sort_dir: order === 'ASC' ? 'asc' : 'desc',
        limit: Math.min(perPage, 100),
      };
      // Files page by cursor too: walk to the page (file lists are short next to records).
      let cursor: string | null | undefined;
      let data;
      for (let p = 1; p <= page; p++) {
        data = await call((c) => c.files.filesSearchCreate({ ...body, cursor } as never));
        cursor = data.next_cursor;
        if (!cursor && p < page) return { data: [], total: data.total };
      }
      return { data: data!.results as unknown as Row[], total: data!.total };
    },
    getOne: async (id) => (await call((c) => c.files.filesDetail({ fileId: id }))) as unknown as Row,
    update: async (id, data) => (await call((c) => c.files.filesPartialUpdate({ fileId: id }, { filename: data.filename, folder: data.folder || null, tags: data.tags } as never))) as unknown as Row,
    delete: async (id) => {
      await call((c) => c.files.filesDelete({ fileId: id } as never));
      return { id };
    },
  },
  webhooks: {
    ...wholeList(async () => (await call((c) => c.webhooks.webhooksList())) as unknown as Row[]),
    create: async (data) =>
      (await call((c) =>
        c.webhooks.webhooksCreate({ url: data.url, events: (data.events as string[] | undefined)?.length ? data.events : undefined, status: data.status || undefined } as never),
      )) as unknown as Row,
    update: async (id, data) =>
      (await call((c) => c.webhooks.webhooksPartialUpdate({ webhookId: id }, { url: data.url, events: data.events, status: data.status } as never))) as unknown as Row,
    delete: async (id) => {
      await call((c) => c.webhooks.webhooksDelete({ webhookId: id }));
      return { id };
    },
  },
  // Folders are paths on files: a folder exists while it holds a file. One named here and still empty
  // is kept in this tab (sessionStorage) until a file is moved or uploaded into it.
  folders: {
    list: async (params) => {
      const stored = (await call((c) => c.files.filesFoldersList({ limit: 1000 }))) as unknown as { folder: string | null; file_count: number; size_bytes: number; last_updated_at: string }[];
      const rows: Row[] = stored.map((f) => ({ ...f, id: f.folder ?? '/', folder: f.folder ?? '/' }));
      for (const name of pendingFolders()) if (!rows.some((r) => r.id === name)) rows.push({ id: name, folder: name, file_count: 0, size_bytes: 0, last_updated_at: null });
      return pageLocally(rows, params);
    },
    create: async (data) => {
      const name = trimSlashes(String(data.folder ?? '').trim());
      if (!name || name.split('/').some((part) => part === '' || part === '.' || part === '..')) throw new ApiFailure('A folder is a path like invoices/2026, without empty, . or .. parts', 400);
      sessionStorage.setItem(PENDING_FOLDERS, JSON.stringify([...new Set([...pendingFolders(), name])]));
      return { id: name, folder: name, file_count: 0, size_bytes: 0 };
    },
  },
  'webhook-deliveries': {
    list: async (params) => {
      const { webhook_id, status } = (params.filter ?? {}) as Record<string, string | undefined>;
      const data = await call((c) => c.webhookDeliveries.webhookDeliveriesList({ ...offsetOf(params), webhook_id: webhook_id || undefined, status: (status || undefined) as never }));
      return { data: data.deliveries as unknown as Row[], total: data.total };
    },
  },
  dlq: {
    list: async (params) => {
      const { source, status } = (params.filter ?? {}) as Record<string, string | undefined>;
      const data = await call((c) => c.dlq.getDlq({ ...offsetOf(params), source: source || undefined, status: (status || undefined) as never }));
      return { data: data.messages as unknown as Row[], total: data.total };
    },
    delete: async (id) => {
      await call((c) => c.dlq.deleteDlq({ msgId: id }));
      return { id };
    },
  },
  users: {
    list: async (params) => {
      const { q, role } = (params.filter ?? {}) as Record<string, string | undefined>;
      const data = await call((c) => c.users.usersList({ ...offsetOf(params), search: q || undefined, role: role || undefined }));
      return { data: data.users as unknown as Row[], total: data.total };
    },
    getOne: async (id) => (await call((c) => c.users.usersDetail({ userId: id }))) as unknown as Row,
    // An invitation: a user with an email and a role and no password, who signs in by magic link or reset.
    create: async (data) =>
      (await call((c) => c.users.usersCreate({ email: data.email, role: data.role || undefined, password: data.password || undefined } as never))) as unknown as Row,
    update: async (id, data) =>
      (await call((c) => c.users.usersPartialUpdate({ userId: id }, { role: data.role, banned: data.banned, ban_reason: data.banned ? data.ban_reason || null : null } as never))) as unknown as Row,
    delete: async (id) => {
      await call((c) => c.users.usersDelete({ userId: id } as never));
      return { id };
    },
  },
  roles: {
    ...wholeList(async () => (await call((c) => c.roles.rolesList())) as unknown as Row[]),
    create: async (data) =>
      (await call((c) => c.roles.rolesCreate({ name: data.name, permissions: splitList(data.permissions) } as never))) as unknown as Row,
    update: async (id, data) => (await call((c) => c.roles.rolesPermissionsUpdate({ roleId: id }, { permissions: splitList(data.permissions) } as never))) as unknown as Row,
    delete: async (id) => {
      await call((c) => c.roles.rolesDelete({ roleId: id }));
      return { id };
    },
  },
  sessions: {
    ...wholeList(async () => (await call((c) => c.auth.authSessionsList())) as unknown as Row[]),
    delete: async (id) => {
      await call((c) => c.auth.authSessionsDelete2({ sessionId: id }));
      return { id };
    },
  },
  'audit-logs': {
    list: async (params) => {
      const { action, resource_type } = (params.filter ?? {}) as Record<string, string | undefined>;
      const data = await call((c) => c.auditLogs.auditLogsList({ ...offsetOf(params), action: action || undefined, resource_type: resource_type || undefined }));
      return { data: data.logs as unknown as Row[], total: data.total };
    },
  },
  tenants: {
    list: async (params) => {
      const { status } = (params.filter ?? {}) as Record<string, string | undefined>;
      const data = await adminApi((c) => c.admin.adminTenantsList({ ...offsetOf(params), status: (status || undefined) as never }));
      return { data: data.tenants as unknown as Row[], total: data.total };
    },
    getOne: async (id) => (await adminApi((c) => c.admin.adminTenantsDetail({ tenantId: id }))) as unknown as Row,
    create: async (data) => {
      const created = await adminApi((c) => c.admin.adminTenantsCreate({ name: data.name, slug: data.slug || undefined, plan_tier: data.plan_tier || undefined } as never));
      return { ...(created.tenant as unknown as Row), token: created.api_key.token };
    },
    update: async (id, data) =>
      (await adminApi((c) => c.admin.adminTenantsPartialUpdate({ tenantId: id }, { name: data.name, status: data.status, plan_tier: data.plan_tier, suspended_reason: data.status === 'suspended' ? data.suspended_reason || null : null } as never))) as unknown as Row,
  },
  'oauth-providers': ssoProviders('oauth_providers'),
  'saml-providers': ssoProviders('saml_providers'),
  ...Object.fromEntries(Object.entries(MODULES).map(([name, def]) => [name, moduleResource(def)])),
};

const splitList = (value: unknown) =>
  Array.isArray(value)
    ? (value as string[])
    : String(value ?? '')
        .split(/[\s,]+/)
        .filter(Boolean);

function resource(name: string): ResourceDef {
  if (name.startsWith('records/')) return records(name.slice('records/'.length));
  if (name.startsWith('trash/')) return trash(name.slice('trash/'.length));
  const [kind, type, id] = name.split('/');
  if (type && kind === 'policies') return policies(type);
  if (type && kind === 'workflows') return workflows(type);
  if (type && kind === 'reviews') return reviews(type);
  if (type && id && kind === 'comments') return comments(type, id);
  if (type && id && kind === 'associations') return associationsOf(type, id);
  const def = RESOURCES[name];
  if (!def) throw new ApiFailure(`The console has no screen for ${name}`);
  return def;
}

function need<K extends keyof ResourceDef>(name: string, op: K): NonNullable<ResourceDef[K]> {
  const fn = resource(name)[op];
  if (!fn) throw new ApiFailure(`${name}: the API has no ${op} for this`);
  return fn as NonNullable<ResourceDef[K]>;
}

export const dataProvider: DataProvider = {
  getList: async (name, params) => (await need(name, 'list')(params)) as never,
  getOne: async (name, params) => ({ data: (await need(name, 'getOne')(String(params.id))) as never }),
  getMany: async (name, params) => ({ data: (await Promise.all(params.ids.map((id) => need(name, 'getOne')(String(id))))) as never }),
  getManyReference: async (name, params) => (await need(name, 'list')({ ...params, filter: { ...params.filter, [params.target]: params.id } })) as never,
  create: async (name, params) => ({ data: (await need(name, 'create')(params.data)) as never }),
  update: async (name, params) => ({ data: (await need(name, 'update')(String(params.id), params.data, params.previousData)) as never }),
  updateMany: async (name, params) => {
    for (const id of params.ids) await need(name, 'update')(String(id), params.data, {});
    return { data: params.ids };
  },
  delete: async (name, params) => ({ data: (await need(name, 'delete')(String(params.id))) as never }),
  deleteMany: async (name, params) => {
    for (const id of params.ids) await need(name, 'delete')(String(id));
    return { data: params.ids };
  },
};

/** `path` without leading and trailing slashes (a loop: /^\/+|\/+$/g is quadratic on a long run of slashes). */
function trimSlashes(path: string): string {
  let start = 0;
  let end = path.length;
  while (start < end && path[start] === '/') start++;
  while (end > start && path[end - 1] === '/') end--;
  return path.slice(start, end);
}
