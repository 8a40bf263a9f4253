import { randomBytes } from 'node:crypto';
import { and, asc, desc, eq } from 'drizzle-orm';
import { runInTenant, type TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { subjectOf } from '../../objects/index.ts';
import { parseReport, REPORT_TYPES, runReport, type ReportType } from '../reports/engine.ts';
import { ownerSubject } from '../reports/saved.ts';
import { dashboardWidgets, dashboards, savedReports, type DashboardRow, type WidgetRow } from '../tables.ts';

/**
 * Dashboards: a layout of widgets, each a report definition (`config_json.report` and `config_json.query`,
 * or `config_json.saved_report_id`) plus presentation. Sharing issues a random token; the public route
 * computes that dashboard's widgets only, with the access of the dashboard's owner at most (a user
 * owner's policies and masks apply), and answers presentation and aggregates, never a definition or a
 * record.
 */

export const WIDGET_TYPES = ['number', 'line', 'bar', 'area', 'pie', 'table', 'funnel', 'leaderboard', 'pipeline', 'text'] as const;
export type WidgetType = (typeof WIDGET_TYPES)[number];

export interface DashboardInput {
  name: string;
  description?: string | null;
  layout_json?: Record<string, unknown>;
  is_public?: boolean;
  rotate_share_token?: boolean;
}

export interface WidgetInput {
  type: WidgetType;
  title?: string | null;
  config_json?: Record<string, unknown>;
  position_json?: Record<string, unknown>;
}

const newShareToken = () => `dsh_${randomBytes(32).toString('base64url')}`;

export function dashboardDto(d: DashboardRow, widgets?: WidgetRow[]) {
  return {
    id: d.id,
    name: d.name,
    description: d.description,
    layout_json: d.layout,
    is_public: d.isPublic,
    share_token: d.shareToken,
    public_path: d.shareToken ? `/v1/dashboards/public/${d.shareToken}` : null,
    ...(widgets ? { widgets: widgets.map(widgetDto) } : {}),
    created_at: d.createdAt.toISOString(),
    updated_at: d.updatedAt.toISOString(),
  };
}

export function widgetDto(w: WidgetRow) {
  return {
    id: w.id,
    dashboard_id: w.dashboardId,
    type: w.type as WidgetType,
    title: w.title,
    config_json: w.config,
    position_json: w.position,
    created_at: w.createdAt.toISOString(),
    updated_at: w.updatedAt.toISOString(),
  };
}

async function find(ctx: TenantContext, id: string): Promise<DashboardRow> {
  const [row] = await ctx.db.select().from(dashboards).where(and(eq(dashboards.tenantId, ctx.tenantId), eq(dashboards.id, id)));
  if (!row) throw notFound('Dashboard');
  return row;
}

const widgetsOf = (ctx: TenantContext, dashboardId: string) =>
  ctx.db
    .select()
    .from(dashboardWidgets)
    .where(and(eq(dashboardWidgets.tenantId, ctx.tenantId), eq(dashboardWidgets.dashboardId, dashboardId)))
    .orderBy(asc(dashboardWidgets.id));

export async function listDashboards(ctx: TenantContext, q: { limit: number; offset: number }) {
  const rows = await ctx.db.select().from(dashboards).where(eq(dashboards.tenantId, ctx.tenantId)).orderBy(desc(dashboards.id)).limit(q.limit).offset(q.offset);
  return rows.map((d) => dashboardDto(d));
}

export async function createDashboard(ctx: TenantContext, input: DashboardInput) {
  const s = subjectOf(ctx);
  const id = newId('dash');
  const [row] = await ctx.db
    .insert(dashboards)
    .values({
      id,
      tenantId: ctx.tenantId,
      name: input.name,
      description: input.description ?? null,
      layout: input.layout_json ?? {},
      isPublic: input.is_public ?? false,
      shareToken: input.is_public ? newShareToken() : null,
      ownerType: s.kind,
      ownerId: s.id,
      ownerRole: s.role,
    })
    .returning();
  await ctx.emit({ type: 'dashboard.created', resourceType: 'dashboard', resourceId: id, data: { dashboard_id: id, name: input.name } });
  return dashboardDto(row!, []);
}

export async function getDashboard(ctx: TenantContext, id: string) {
  const d = await find(ctx, id);
  return dashboardDto(d, await widgetsOf(ctx, id));
}

export async function updateDashboard(ctx: TenantContext, id: string, input: Partial<DashboardInput>) {
  const d = await find(ctx, id);
  const patch: Partial<typeof dashboards.$inferInsert> = { updatedAt: new Date() };
  if (input.name !== undefined) patch.name = input.name;
  if (input.description !== undefined) patch.description = input.description;
  if (input.layout_json !== undefined) patch.layout = input.layout_json;
  const isPublic = input.is_public ?? d.isPublic;
  if (input.rotate_share_token && !isPublic) {
    throw new ApiError('VALIDATION_ERROR', 'rotate_share_token: the dashboard is not public', {
      details: { issues: [{ field: 'rotate_share_token', location: 'body', message: 'only a public dashboard has a share token' }] },
    });
  }
  if (input.is_public !== undefined) patch.isPublic = isPublic;
  // Unsharing revokes the token; sharing again (or rotating) issues a new one, the old one is dead.
  if (!isPublic) patch.shareToken = null;
  else if (!d.shareToken || input.rotate_share_token) patch.shareToken = newShareToken();
  const [row] = await ctx.db.update(dashboards).set(patch).where(and(eq(dashboards.tenantId, ctx.tenantId), eq(dashboards.id, id))).returning();
  await ctx.emit({ type: 'dashboard.updated', resourceType: 'dashboard', resourceId: id, data: { dashboard_id: id, changes: Object.keys(input) } });
  return dashboardDto(row!, await widgetsOf(ctx, id));
}

export async function deleteDashboard(ctx: TenantContext, id: string) {
  await find(ctx, id);
  await ctx.db.delete(dashboards).where(and(eq(dashboards.tenantId, ctx.tenantId), eq(dashboards.id, id)));
  await ctx.emit({ type: 'dashboard.deleted', resourceType: 'dashboard', resourceId: id, data: { dashboard_id: id } });
  return { id, deleted: true as const };
}

/** Checks a widget's report definition now, so a broken one is refused when saved rather than shown. */
async function checkWidgetConfig(ctx: TenantContext, type: WidgetType, config: Record<string, unknown>): Promise<Record<string, unknown>> {
  const fail = (field: string, message: string) =>
    new ApiError('VALIDATION_ERROR', `${field}: ${message}`, { details: { issues: [{ field, location: 'body', message }] } });
  const keys = Object.keys(config);
  if (type === 'text') {
    if (keys.some((k) => k !== 'text') || (config.text !== undefined && (typeof config.text !== 'string' || config.text.length > 10_000))) {
      throw fail('config_json', 'a text widget takes { text } (at most 10,000 characters)');
    }
    return config;
  }
  if (typeof config.saved_report_id === 'string') {
    if (keys.length !== 1) throw fail('config_json', 'either { saved_report_id } or { report, query }');
    const [r] = await ctx.db.select({ id: savedReports.id }).from(savedReports).where(and(eq(savedReports.tenantId, ctx.tenantId), eq(savedReports.id, config.saved_report_id)));
    if (!r) throw new ApiError('NOT_FOUND', 'config_json.saved_report_id: no such saved report', { details: { field: 'config_json.saved_report_id' } });
    return config;
  }
  if (!REPORT_TYPES.includes(config.report as ReportType) || keys.some((k) => k !== 'report' && k !== 'query')) {
    throw fail('config_json.report', `a widget shows a report: { report: ${REPORT_TYPES.join('|')}, query: {...} } or { saved_report_id }`);
  }
  const query = parseReport(config.report as ReportType, config.query ?? {}, 'config_json.query');
  // Runs once to check it against the schema (unknown properties, masks); the result is not kept.
  await runReport(ctx, config.report as ReportType, query);
  return { report: config.report, query };
}

async function findWidget(ctx: TenantContext, dashboardId: string, widgetId: string): Promise<WidgetRow> {
  await find(ctx, dashboardId);
  const [w] = await ctx.db
    .select()
    .from(dashboardWidgets)
    .where(and(eq(dashboardWidgets.tenantId, ctx.tenantId), eq(dashboardWidgets.dashboardId, dashboardId), eq(dashboardWidgets.id, widgetId)));
  if (!w) throw notFound('Widget');
  return w;
}

export async function addWidget(ctx: TenantContext, dashboardId: string, input: WidgetInput) {
  await find(ctx, dashboardId);
  const config = await checkWidgetConfig(ctx, input.type, input.config_json ?? {});
  const [w] = await ctx.db
    .insert(dashboardWidgets)
    .values({ id: newId('wdg'), tenantId: ctx.tenantId, dashboardId, type: input.type, title: input.title ?? null, config, position: input.position_json ?? {} })
    .returning();
  await ctx.emit({ type: 'dashboard.updated', resourceType: 'dashboard', resourceId: dashboardId, data: { dashboard_id: dashboardId, changes: ['widgets'] } });
  return widgetDto(w!);
}

export async function updateWidget(ctx: TenantContext, dashboardId: string, widgetId: string, input: Partial<WidgetInput>) {
  const w = await findWidget(ctx, dashboardId, widgetId);
  const type = input.type ?? (w.type as WidgetType);
  const patch: Partial<typeof dashboardWidgets.$inferInsert> = { updatedAt: new Date(), type };
  if (input.title !== undefined) patch.title = input.title;
  if (input.position_json !== undefined) patch.position = input.position_json;
  if (input.config_json !== undefined || input.type !== undefined) patch.config = await checkWidgetConfig(ctx, type, input.config_json ?? w.config);
  const [row] = await ctx.db.update(dashboardWidgets).set(patch).where(and(eq(dashboardWidgets.tenantId, ctx.tenantId), eq(dashboardWidgets.id, widgetId))).returning();
  await ctx.emit({ type: 'dashboard.updated', resourceType: 'dashboard', resourceId: dashboardId, data: { dashboard_id: dashboardId, changes: ['widgets'] } });
  return widgetDto(row!);
}

export async function deleteWidget(ctx: TenantContext, dashboardId: string, widgetId: string) {
  await findWidget(ctx, dashboardId, widgetId);
  await ctx.db.delete(dashboardWidgets).where(and(eq(dashboardWidgets.tenantId, ctx.tenantId), eq(dashboardWidgets.id, widgetId)));
  await ctx.emit({ type: 'dashboard.updated', resourceType: 'dashboard', resourceId: dashboardId, data: { dashboard_id: dashboardId, changes: ['widgets'] } });
  return { id: widgetId, deleted: true as const };
}

/** A widget's data as its owner may see it; a widget whose report no longer runs shows none. */
async function widgetData(ctx: TenantContext, d: DashboardRow, w: WidgetRow): Promise<{ data: unknown; error: string | null }> {
  const config = w.config;
  if (w.type === 'text') return { data: { text: typeof config.text === 'string' ? config.text : '' }, error: null };
  let type: ReportType;
  let query: unknown;
  if (typeof config.saved_report_id === 'string') {
    const [r] = await ctx.db.select().from(savedReports).where(and(eq(savedReports.tenantId, ctx.tenantId), eq(savedReports.id, config.saved_report_id)));
    if (!r) return { data: null, error: 'unavailable' };
    type = r.type as ReportType;
    query = r.config;
  } else {
    type = config.report as ReportType;
    query = config.query;
  }
  try {
    return { data: await runReport(ctx, type, parseReport(type, query), ownerSubject(d)), error: null };
  } catch (error) {
    if (error instanceof ApiError) return { data: null, error: 'unavailable' };
    throw error;
  }
}

/**
 * The public view of a shared dashboard. Finding the tenant of a token is about no single tenant
 * (owner connection, one indexed lookup); everything else runs in that tenant's read-only context.
 */
export async function publicDashboard(kernel: Kernel, token: string, hostTenant: string | null, meta: { requestId: string | null; ip?: string }) {
  if (!/^dsh_[A-Za-z0-9_-]{43}$/.test(token)) throw notFound('Dashboard');
  const [hit] = await kernel.db.system
    .select({ id: dashboards.id, tenantId: dashboards.tenantId })
    .from(dashboards)
    .where(and(eq(dashboards.shareToken, token), eq(dashboards.isPublic, true)));
  if (!hit || (hostTenant !== null && hit.tenantId !== hostTenant)) throw notFound('Dashboard');
  return runInTenant(
    kernel,
    { tenantId: hit.tenantId, actor: { type: 'public', id: null }, requestId: meta.requestId, ip: meta.ip },
    async (ctx) => {
      const [d] = await ctx.db.select().from(dashboards).where(and(eq(dashboards.tenantId, hit.tenantId), eq(dashboards.id, hit.id)));
      // Unshared or rotated between the lookup and now: gone.
      if (!d || !d.isPublic || d.shareToken !== token) throw notFound('Dashboard');
      const widgets = await widgetsOf(ctx, d.id);
      const out = [];
      for (const w of widgets) {
        const { data, error } = await widgetData(ctx, d, w);
        out.push({ id: w.id, type: w.type, title: w.title, position_json: w.position, data, error });
      }
      return { id: d.id, name: d.name, description: d.description, layout_json: d.layout, widgets: out, generated_at: new Date().toISOString() };
    },
    { readOnly: true },
  );
}
