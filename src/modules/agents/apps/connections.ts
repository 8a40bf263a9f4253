import { and, count, desc, eq, inArray, sql } from 'drizzle-orm';
import { runInTenant, type TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { assertOutboundUrls } from '../../../core/net/outbound.ts';
import { systemMeta } from '../runs/log.ts';
import { agentConnections, agents, type ConnectionRow, type ConnectionType, type HttpTool } from '../tables.ts';

/**
 * Connections: the credentials an application's agents use to reach external services. A connection
 * has a kind (`api_key`: a header of its choosing; `bearer` and `basic`: `Authorization`), a base URL
 * it may be sent to, and a secret sealed with the kernel's secret box and never returned (callers see a
 * masked hint). An HTTP tool names one (`connection`); when a run calls the tool, the runner adds the
 * credential only if the request's URL is under the connection's base URL, and the request still goes
 * through the outbound guard. A connection that agents use cannot be deleted (409 DEPENDENCY_EXISTS).
 */

export const CONNECTION_TYPES = ['api_key', 'bearer', 'basic'] as const satisfies readonly ConnectionType[];

const CONTROL = /[\u0000-\u001f\u007f]/;
/** An HTTP header name (RFC 9110 token). */
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;

/** Headers a connection may not set: they frame the request or name its target. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive', 'expect']);

export interface ConnectionCredentials {
  /** api_key and bearer */
  secret?: string;
  /** basic */
  username?: string;
  password?: string;
}

export interface ConnectionInput {
  name: string;
  provider?: string | null;
  type: ConnectionType;
  base_url: string;
  header_name?: string | null;
  credentials: ConnectionCredentials;
}

export type ConnectionPatch = Partial<ConnectionInput>;

export function connectionDto(row: ConnectionRow) {
  return {
    id: row.id,
    application_id: row.applicationId,
    name: row.name,
    provider: row.provider,
    type: row.type,
    base_url: row.baseUrl,
    header_name: row.headerName,
    credential_hint: row.hint,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}
export type ConnectionDto = ReturnType<typeof connectionDto>;

const invalid = (field: string, message: string) => new ApiError('VALIDATION_ERROR', `${field}: ${message}`, { details: { issues: [{ field, location: 'body', code: 'invalid', message }] } });

/** The credentials a type takes, checked field by field (the error names the field). */
function checkCredentials(type: ConnectionType, creds: ConnectionCredentials): Required<Pick<ConnectionCredentials, 'secret'>> | Required<Pick<ConnectionCredentials, 'username' | 'password'>> {
  const wants = type === 'basic' ? ['username', 'password'] : ['secret'];
  for (const key of ['secret', 'username', 'password'] as const) {
    const value = creds[key];
    if (value !== undefined && !wants.includes(key)) throw invalid(`credentials.${key}`, `${type} connections take ${wants.join(' and ')}`);
    if (value === undefined && wants.includes(key)) throw invalid(`credentials.${key}`, `Required for ${type} connections`);
    // It goes into a header: no control characters (CR/LF would split the request).
    if (value !== undefined && (value.length === 0 || CONTROL.test(value))) throw invalid(`credentials.${key}`, 'Must be non-empty, without control characters');
  }
  if (type === 'basic') {
    if (creds.username!.includes(':')) throw invalid('credentials.username', 'A basic username cannot contain ":"');
    return { username: creds.username!, password: creds.password! };
  }
  return { secret: creds.secret! };
}

/** What a caller may see of a credential: never more than its last four characters, and those only of a long secret. */
function hintOf(creds: ConnectionCredentials): string {
  const tail = (s: string) => (s.length >= 16 ? `••••${s.slice(-4)}` : '••••');
  return creds.secret !== undefined ? tail(creds.secret) : `${creds.username}:${tail(creds.password ?? '')}`;
}

function checkHeaderName(type: ConnectionType, header: string | null | undefined): string | null {
  if (type !== 'api_key') {
    if (header) throw invalid('headerName', `${type} connections use Authorization; headerName is for api_key connections`);
    return null;
  }
  const name = header ?? 'X-API-Key';
  if (!TOKEN.test(name)) throw invalid('headerName', 'Not an HTTP header name');
  if (RESERVED_HEADERS.has(name.toLowerCase()) || name.toLowerCase().startsWith('proxy-')) throw invalid('headerName', `${name} cannot carry a credential`);
  return name;
}

/** A path without its trailing slashes (a loop: `/\/+$/` is quadratic on a run of slashes). */
function trimSlashes(path: string): string {
  let end = path.length;
  while (end > 0 && path[end - 1] === '/') end--;
  return path.slice(0, end);
}

/** A base URL: http(s), no query, fragment or user info; stored without a trailing slash on its path. */
export function normalizeBaseUrl(raw: string, field = 'baseUrl'): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(field, 'Not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid(field, 'Only http and https URLs');
  if (url.username || url.password) throw invalid(field, 'Credentials go in credentials, not in the URL');
  if (url.search || url.hash || raw.includes('?') || raw.includes('#')) throw invalid(field, 'A base URL has no query or fragment');
  return `${url.protocol}//${url.host}${trimSlashes(url.pathname)}`;
}

/** Save-time check of a base URL against the outbound guard (DNS: call it before the transaction). */
export async function checkConnectionUrl(kernel: Kernel, raw: string | undefined, field = 'baseUrl'): Promise<void> {
  if (raw === undefined) return;
  await assertOutboundUrls(kernel.outbound, [{ field, url: normalizeBaseUrl(raw, field) }]);
}

/** Whether a request to `target` may carry a connection's credential: same scheme, host and port, and a path under the base URL's. */
export function connectionAllows(baseUrl: string, target: string): boolean {
  let base: URL;
  let url: URL;
  try {
    base = new URL(baseUrl);
    url = new URL(target);
  } catch {
    return false;
  }
  if (base.protocol !== url.protocol || base.host !== url.host || url.username || url.password) return false;
  const path = trimSlashes(base.pathname);
  return path === '' || url.pathname === path || url.pathname.startsWith(`${path}/`);
}

const appWhere = (ctx: TenantContext, applicationId: string) => and(eq(agentConnections.tenantId, ctx.tenantId), eq(agentConnections.applicationId, applicationId));

async function assertNameFree(ctx: TenantContext, applicationId: string, name: string, except?: string) {
  const [dup] = await ctx.db
    .select({ id: agentConnections.id })
    .from(agentConnections)
    .where(and(appWhere(ctx, applicationId), eq(agentConnections.name, name)));
  if (dup && dup.id !== except) throw new ApiError('ALREADY_EXISTS', `A connection named ${name} exists in this application`, { details: { issues: [{ field: 'name', message: 'Already used in this application' }] } });
}

export async function createConnection(ctx: TenantContext, applicationId: string, input: ConnectionInput): Promise<ConnectionDto> {
  const creds = checkCredentials(input.type, input.credentials);
  const headerName = checkHeaderName(input.type, input.header_name);
  const baseUrl = normalizeBaseUrl(input.base_url);
  await assertNameFree(ctx, applicationId, input.name);
  const [row] = await ctx.db
    .insert(agentConnections)
    .values({
      tenantId: ctx.tenantId,
      id: newId('conn'),
      applicationId,
      name: input.name,
      provider: input.provider ?? null,
      type: input.type,
      baseUrl,
      headerName,
      secret: ctx.kernel.secrets.seal(JSON.stringify(creds)),
      hint: hintOf(creds),
    })
    .returning();
  await ctx.emit({ type: 'agent.connection.created', resourceType: 'agent_connection', resourceId: row!.id, data: { name: row!.name, type: row!.type, application_id: applicationId } });
  return connectionDto(row!);
}

export async function findConnection(ctx: TenantContext, applicationId: string, id: string, lock: 'update' | 'share' | false = false): Promise<ConnectionRow> {
  const q = ctx.db.select().from(agentConnections).where(and(appWhere(ctx, applicationId), eq(agentConnections.id, id)));
  const [row] = lock ? await q.for(lock) : await q;
  if (!row) throw notFound('Connection');
  return row;
}

export async function listConnections(ctx: TenantContext, applicationId: string, page: { limit: number; offset: number }) {
  const where = appWhere(ctx, applicationId);
  const list = await ctx.db.select().from(agentConnections).where(where).orderBy(desc(agentConnections.createdAt), desc(agentConnections.id)).limit(page.limit).offset(page.offset);
  const [total] = await ctx.db.select({ n: count() }).from(agentConnections).where(where);
  return { data: list.map(connectionDto), total: total?.n ?? 0 };
}

/** A new type needs new credentials; new credentials replace the old ones whole. */
export async function updateConnection(ctx: TenantContext, applicationId: string, id: string, patch: ConnectionPatch): Promise<ConnectionDto> {
  const row = await findConnection(ctx, applicationId, id, 'update');
  const type = patch.type ?? row.type;
  if (patch.type && patch.type !== row.type && !patch.credentials) throw invalid('credentials', `Changing the type to ${patch.type} needs its credentials`);
  const set: Partial<typeof agentConnections.$inferInsert> = { updatedAt: new Date(), type };
  if (patch.name !== undefined && patch.name !== row.name) {
    await assertNameFree(ctx, applicationId, patch.name, id);
    set.name = patch.name;
  }
  if (patch.provider !== undefined) set.provider = patch.provider;
  if (patch.base_url !== undefined) set.baseUrl = normalizeBaseUrl(patch.base_url);
  set.headerName = checkHeaderName(type, patch.header_name !== undefined ? patch.header_name : type === row.type ? row.headerName : null);
  if (patch.credentials) {
    const creds = checkCredentials(type, patch.credentials);
    set.secret = ctx.kernel.secrets.seal(JSON.stringify(creds));
    set.hint = hintOf(creds);
  }
  const [updated] = await ctx.db.update(agentConnections).set(set).where(and(eq(agentConnections.tenantId, ctx.tenantId), eq(agentConnections.id, id))).returning();
  await ctx.emit({
    type: 'agent.connection.updated',
    resourceType: 'agent_connection',
    resourceId: id,
    data: { name: updated!.name, type: updated!.type, application_id: applicationId, credentials_rotated: patch.credentials !== undefined },
  });
  return connectionDto(updated!);
}

/** The application's agents whose current definition has an HTTP tool using the connection. */
async function agentsUsing(ctx: TenantContext, applicationId: string, connectionId: string): Promise<string[]> {
  const used = await ctx.db
    .select({ id: agents.id })
    .from(agents)
    .where(and(eq(agents.tenantId, ctx.tenantId), eq(agents.applicationId, applicationId), sql`${agents.definition}->'httpTools' @> ${JSON.stringify([{ connection: connectionId }])}::jsonb`))
    .limit(100);
  return used.map((a) => a.id);
}

/**
 * Refused (409 DEPENDENCY_EXISTS, naming the agents) while an agent's HTTP tool uses it: deleting it
 * would leave those tools calling the service unauthenticated. Change the agents first.
 */
export async function deleteConnection(ctx: TenantContext, applicationId: string, id: string) {
  const row = await findConnection(ctx, applicationId, id, 'update');
  const users = await agentsUsing(ctx, applicationId, id);
  if (users.length > 0) {
    throw new ApiError('DEPENDENCY_EXISTS', `The connection is used by the HTTP tools of ${users.length} agent(s): ${users.join(', ')}; remove it from their tools first`, {
      details: { dependencies: [{ type: 'agents', count: users.length, ids: users }] },
    });
  }
  await ctx.db.delete(agentConnections).where(and(eq(agentConnections.tenantId, ctx.tenantId), eq(agentConnections.id, id)));
  await ctx.emit({ type: 'agent.connection.deleted', resourceType: 'agent_connection', resourceId: id, data: { name: row.name, application_id: applicationId } });
  return { id, deleted: true as const };
}

/**
 * Binds the connections HTTP tools name (an id or a name of the application's connections) to their
 * ids, and checks each tool's URL is one the connection allows. A tool of an agent outside any
 * application (/v1) cannot name a connection. `field` names a tool's place in the body.
 */
export async function bindConnections(ctx: TenantContext, applicationId: string | null | undefined, tools: HttpTool[] | undefined, field: (i: number) => string = (i) => `http_tools.${i}`): Promise<HttpTool[] | undefined> {
  if (!tools) return tools;
  const bound: HttpTool[] = [];
  for (const [i, tool] of tools.entries()) {
    if (!tool.connection) {
      bound.push(tool);
      continue;
    }
    if (!applicationId) throw invalid(`${field(i)}.connection`, 'Connections belong to applications; this agent has none');
    const [row] = await ctx.db
      .select()
      .from(agentConnections)
      .where(and(appWhere(ctx, applicationId), sql`(${agentConnections.id} = ${tool.connection} or ${agentConnections.name} = ${tool.connection})`))
      .orderBy(sql`${agentConnections.id} = ${tool.connection} desc`)
      .limit(1)
      .for('share');
    if (!row) throw invalid(`${field(i)}.connection`, `The application has no connection ${tool.connection}`);
    if (!connectionAllows(row.baseUrl, tool.url)) throw invalid(`${field(i)}.url`, `The connection ${row.name} may only be used for ${row.baseUrl}`);
    bound.push({ ...tool, connection: row.id });
  }
  return bound;
}

/** Why a run's tool call gets no credential (the tool answers this error instead of calling). */
export class ConnectionRefused extends Error {
  constructor(
    readonly code: 'CONNECTION_NOT_FOUND' | 'CONNECTION_NOT_ALLOWED',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The headers that carry a connection's credential on a request to `url`, for a run's HTTP tool. The
 * connection is read at call time (a rotated secret applies to the next call); a URL outside its base
 * URL gets nothing (ConnectionRefused), whatever the tool says.
 */
export async function connectionHeaders(kernel: Kernel, tenantId: string, applicationId: string | null, connectionId: string, url: string): Promise<Record<string, string>> {
  const row = applicationId
    ? await runInTenant(kernel, systemMeta(tenantId), async (ctx) => (await ctx.db.select().from(agentConnections).where(and(appWhere(ctx, applicationId), eq(agentConnections.id, connectionId))))[0], { readOnly: true })
    : undefined;
  if (!row) throw new ConnectionRefused('CONNECTION_NOT_FOUND', 'The connection of this tool no longer exists');
  if (!connectionAllows(row.baseUrl, url)) throw new ConnectionRefused('CONNECTION_NOT_ALLOWED', `The connection ${row.name} may only be used for ${row.baseUrl}`);
  const creds = JSON.parse(kernel.secrets.open(row.secret)) as ConnectionCredentials;
  if (row.type === 'api_key') return { [row.headerName ?? 'X-API-Key']: creds.secret! };
  if (row.type === 'bearer') return { authorization: `Bearer ${creds.secret}` };
  return { authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` };
}

/** Connections of an application by name (package imports name the connections they need). */
export async function connectionsByName(ctx: TenantContext, applicationId: string, names: string[]): Promise<Map<string, ConnectionRow>> {
  if (names.length === 0) return new Map();
  const found = await ctx.db.select().from(agentConnections).where(and(appWhere(ctx, applicationId), inArray(agentConnections.name, names))).for('share');
  return new Map(found.map((r) => [r.name, r]));
}
