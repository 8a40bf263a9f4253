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

/** The modules' list screens: what their list route answers, read-only here. */
export const MODULE_LISTS: Record<string, { label: string; fetch: Call<unknown> }> = {
  automations: { label: 'Automations', fetch: (c) => c.automations.automationsList() as never },
  functions: { label: 'Functions', fetch: (c) => c.functions.functionsList() as never },
  'scheduled-jobs': { label: 'Scheduled jobs', fetch: (c) => c.scheduledJobs.scheduledJobsList() as never },
  integrations: { label: 'Integrations', fetch: (c) => c.integrations.integrationsList() as never },
  plugins: { label: 'Plugins', fetch: (c) => c.plugins.pluginsList() as never },
  'saved-reports': { label: 'Reports', fetch: (c) => c.savedReports.savedReportsList() as never },
  dashboards: { label: 'Dashboards', fetch: (c) => c.dashboards.dashboardsList() as never },
  forms: { label: 'Forms', fetch: (c) => c.forms.formsList() as never },
  agents: { label: 'AI agents', fetch: (c) => c.agents.agentsList() as never },
  'agent-runs': { label: 'Agent runs', fetch: (c) => c.agentRuns.agentRunsList() as never },
  'ai-conversations': { label: 'AI conversations', fetch: (c) => c.ai.aiConversationsList() as never },
  'accounting-accounts': { label: 'Chart of accounts', fetch: (c) => c.accounting.accountingAccountsList() as never },
  'accounting-journal-entries': { label: 'Journal entries', fetch: (c) => c.accounting.accountingJournalEntriesList() as never },
  'accounting-invoices': { label: 'Invoices', fetch: (c) => c.accounting.accountingInvoicesList() as never },
  'short-urls': { label: 'Short URLs', fetch: (c) => c.shortUrls.shortUrlsList() as never },
};

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
  ...Object.fromEntries(Object.entries(MODULE_LISTS).map(([name, def]) => [name, wholeList(async () => rowsOf(await call(def.fetch)))])),
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
