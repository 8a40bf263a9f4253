import { createHash, timingSafeEqual } from 'node:crypto';
import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { Feed } from 'feed';
import { bearerToken, isTenantPrincipal } from '../../core/auth/guard.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { requestHeader } from '../../core/http/headers.ts';
import {
  addIncidentUpdate,
  COMPONENT_IDS,
  COMPONENTS,
  COMPONENT_STATUSES,
  confirmSubscription,
  createSubscription,
  getIncident,
  INCIDENT_STATES,
  listSubscriptions,
  maskTarget,
  openIncident,
  overall,
  resendIncident,
  revokeSubscription,
  SEVERITY_FILTERS,
  statusSnapshot,
  SUBSCRIPTION_STATES,
  uptimeOver,
  UPTIME_DAYS,
  type IncidentView,
  type StatusSnapshot,
  type SubscriptionRow,
} from '../../modules/status/index.ts';
import { surfaceRoute } from '../surface.ts';
import { DateTime, ERRORS, errorOf, json, NOT_FOUND, open, PUBLIC_ERRORS, SECURITY } from './http.ts';

/*
 * The platform's status page (seed 003, "status"). Status is platform-wide, not per tenant: the page,
 * its feeds and e-mail subscriptions are public; what acts on every subscriber (listing them, resending
 * an incident, revoking one without its unsubscribe token, webhook subscriptions, posting incidents and
 * maintenance) is the platform operator's, with the system admin key (PLINTH_ADMIN_KEY) as the bearer
 * token. A tenant's token is no operator: those routes answer it 401, as the platform's admin routes do.
 */

const TAGS = ['status'];
const BASE = '/api/v1/status';

// ----------------------------------------------------------------------------------------------- schemas

const ComponentStatus = z.enum(COMPONENT_STATUSES).openapi({ description: 'Statuspage component states' });

const StatusOverviewSchema = z
  .object({
    state: ComponentStatus.openapi({ description: 'The worst component status: the health summary' }),
    description: z.string().openapi({ description: 'Contextual description displayed on the status page', example: 'All Systems Operational' }),
    updated_at: DateTime.openapi({ description: 'When the last check ran' }),
  })
  .openapi('StatusOverviewSchema');

const ServiceStatusSchema = z
  .object({
    id: z.enum(COMPONENT_IDS as [string, ...string[]]).openapi({ description: 'Component id' }),
    name: z.string().openapi({ description: 'Service or subsystem name', example: 'Database' }),
    status: ComponentStatus,
    description: z.string().openapi({ description: 'Short explanation of the service scope' }),
    owner: z.string().openapi({ description: 'Team responsible for the service' }),
    last_incident_at: DateTime.nullable().openapi({ description: 'When the most recent incident involving the service opened' }),
    last_checked_at: DateTime.nullable().openapi({ description: 'When the service was last checked (every 30 s)' }),
    uptime_percent: z.number().nullable().openapi({ description: `Share of passing checks over the last ${UPTIME_DAYS} days; null before the first check`, example: 99.98 }),
  })
  .openapi('ServiceStatusSchema');

const IncidentUpdateSchema = z
  .object({
    state: z.enum(INCIDENT_STATES),
    message: z.string(),
    created_at: DateTime,
  })
  .openapi('StatusIncidentUpdate');

const IncidentSchema = z
  .object({
    incident_id: z.string().openapi({ description: 'Incident identifier', example: 'inc_01jd9m8y2y6x3f1w7a5q0c4r2t' }),
    service: z.string().openapi({ description: 'Impacted service names, comma-separated', example: 'File storage' }),
    occurred_at: DateTime.openapi({ description: 'When the incident was recorded' }),
    impact: z.string().openapi({ description: 'External-facing description of the impact (the incident title)' }),
    state: z.enum(INCIDENT_STATES).openapi({ description: 'Lifecycle state: investigating, identified, monitoring, resolved; maintenance: scheduled, in_progress, completed' }),
    severity: z.enum(['minor', 'major', 'critical', 'maintenance']),
    services: z.array(z.string()).openapi({ description: 'Impacted component ids' }),
    automatic: z.boolean().openapi({ description: 'Opened by a failing check (and resolved by its recovery)' }),
    resolved_at: DateTime.nullable(),
    scheduled_for: DateTime.nullable().openapi({ description: 'Maintenance: start of the window' }),
    scheduled_until: DateTime.nullable().openapi({ description: 'Maintenance: end of the window' }),
    updates: z.array(IncidentUpdateSchema).openapi({ description: 'Newest first' }),
  })
  .openapi('IncidentSchema');

const UptimeMetricSchema = z
  .object({
    label: z.string().openapi({ example: 'Database uptime' }),
    value: z.string().openapi({ example: '99.98%' }),
    helper_text: z.string().openapi({ example: `Last ${UPTIME_DAYS} days` }),
    trend_value: z.string().openapi({ example: '+0.02%', description: `Change against the ${UPTIME_DAYS} days before` }),
    trend_tone: z.enum(['positive', 'negative', 'neutral']),
  })
  .openapi('UptimeMetricSchema');

const DailyUptimeSchema = z
  .object({
    service_id: z.string(),
    service: z.string(),
    days: z.array(z.object({ date: z.string().openapi({ example: '2026-12-06' }), uptime_percent: z.number(), checks: z.number().int() })),
  })
  .openapi('StatusDailyUptime');

const PlatformStatusResponse = z
  .object({
    generated_at: DateTime,
    overview: StatusOverviewSchema,
    services: z.array(ServiceStatusSchema),
    incidents: z.array(IncidentSchema).openapi({ description: 'Open incidents and those resolved in the last 14 days, newest first' }),
    scheduled_maintenance: z.array(IncidentSchema).openapi({ description: 'Maintenance not yet completed, soonest first (shown before it starts)' }),
    uptime_metrics: z.array(UptimeMetricSchema),
    daily_uptime: z.array(DailyUptimeSchema).openapi({ description: `Uptime per component per UTC day, last ${UPTIME_DAYS} days with checks` }),
  })
  .openapi('PlatformStatusResponse');

const SeverityFilter = z.enum(SEVERITY_FILTERS);

const StatusSubscriptionCreateRequest = z
  .object({
    channel: z.enum(['email', 'webhook']).openapi({ description: '`webhook` needs the system admin key' }),
    target: z.string().min(1).max(2048).openapi({ description: 'E-mail address, or the https URL notices are posted to', example: 'ops@example.com' }),
    severity_filter: SeverityFilter.nullable()
      .default('major')
      .openapi({ description: '`all`: every incident; `major`: major and critical incidents; `maintenance`: scheduled maintenance' }),
    metadata: z
      .record(z.string().max(64), z.unknown())
      .nullable()
      .optional()
      .refine((m) => !m || JSON.stringify(m).length <= 4096, 'metadata is larger than 4 KB')
      .openapi({ description: 'Optional labels (up to 4 KB of JSON)' }),
  })
  .superRefine((body, ctx) => {
    if (body.channel === 'email' && !z.string().email().max(254).safeParse(body.target.trim()).success) {
      ctx.addIssue({ code: 'custom', path: ['target'], message: 'value is not a valid email address' });
    }
    if (body.channel === 'webhook' && !/^https?:\/\/[^\s]+$/i.test(body.target)) {
      ctx.addIssue({ code: 'custom', path: ['target'], message: 'value is not a valid http(s) URL' });
    }
  })
  .openapi('StatusSubscriptionCreateRequest');

const StatusSubscriptionResponse = z
  .object({
    id: z.string().uuid(),
    channel: z.enum(['email', 'webhook']),
    severity_filter: SeverityFilter,
    status: z.enum(SUBSCRIPTION_STATES).openapi({ description: '`pending_verification` until the mailed token (or webhook challenge) comes back' }),
    target_masked: z.string().openapi({ example: 'o***@example.com' }),
    tenant_id: z.string().nullable().openapi({ description: 'The tenant whose signed-in user made it, if any' }),
    created_by: z.string().openapi({ description: '`public`, `admin`, or the user or key id' }),
    created_at: DateTime,
    updated_at: DateTime,
    webhook_secret: z.string().nullable().openapi({ description: 'Signing secret for webhook deliveries (returned on creation only)' }),
  })
  .openapi('StatusSubscriptionResponse');

const StatusSubscriptionListResponse = z
  .object({ items: z.array(StatusSubscriptionResponse), next_cursor: z.string().nullable() })
  .openapi('StatusSubscriptionListResponse');

const Token = z.string().min(1).max(200);
const StatusSubscriptionVerifyRequest = z.object({ token: Token.openapi({ description: 'E-mail verification token' }) }).openapi('StatusSubscriptionVerifyRequest');
const StatusSubscriptionChallengeRequest = z.object({ token: Token.openapi({ description: 'Webhook challenge token' }) }).openapi('StatusSubscriptionChallengeRequest');

const StatusIncidentResendRequest = z
  .object({
    severity: SeverityFilter.default('major').openapi({
      description: 'Which subscribers: those whose filter is this one or `all`; with `all`, every active subscriber',
    }),
    tenant_id: z.string().max(64).nullable().optional().openapi({ description: 'Only subscriptions made by this tenant' }),
  })
  .openapi('StatusIncidentResendRequest');
const StatusIncidentResendResponse = z.object({ dispatched: z.number().int().openapi({ description: 'Number of subscriptions notified' }) }).openapi('StatusIncidentResendResponse');

const StatusIncidentCreateRequest = z
  .object({
    title: z.string().trim().min(1).max(200),
    severity: z.enum(['minor', 'major', 'critical', 'maintenance']),
    services: z.array(z.enum(COMPONENT_IDS as [string, ...string[]])).max(COMPONENT_IDS.length).default([]),
    message: z.string().trim().min(1).max(5000).openapi({ description: 'The first update' }),
    state: z.enum(INCIDENT_STATES).optional().openapi({ description: 'Default: investigating (maintenance: scheduled)' }),
    scheduled_for: z.string().datetime({ offset: true }).optional().openapi({ description: 'Maintenance: start of the window (required)' }),
    scheduled_until: z.string().datetime({ offset: true }).optional().openapi({ description: 'Maintenance: end of the window (required)' }),
  })
  .openapi('StatusIncidentCreateRequest');
const StatusIncidentUpdateRequest = z
  .object({ state: z.enum(INCIDENT_STATES), message: z.string().trim().min(1).max(5000) })
  .openapi('StatusIncidentUpdateRequest');

// --------------------------------------------------------------------------------------------- mapping

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function incidentOf(i: IncidentView, names: Map<string, string>) {
  return {
    incident_id: i.id,
    service: i.componentIds.map((id) => names.get(id) ?? id).join(', '),
    occurred_at: i.createdAt.toISOString(),
    impact: i.title,
    state: i.currentState,
    severity: i.severity,
    services: i.componentIds,
    automatic: i.automatic,
    resolved_at: iso(i.resolvedAt),
    scheduled_for: iso(i.scheduledFor),
    scheduled_until: iso(i.scheduledUntil),
    updates: i.updates.map((u) => ({ state: u.state, message: u.body, created_at: u.createdAt.toISOString() })),
  };
}

function metric(label: string, now: number | null, before: number | null) {
  const value = now === null ? 'n/a' : `${now.toFixed(2)}%`;
  if (now === null || before === null) return { label, value, helper_text: `Last ${UPTIME_DAYS} days`, trend_value: '0.00%', trend_tone: 'neutral' as const };
  const delta = Math.round((now - before) * 100) / 100;
  return {
    label,
    value,
    helper_text: `Last ${UPTIME_DAYS} days`,
    trend_value: `${delta >= 0 ? '+' : ''}${delta.toFixed(2)}%`,
    trend_tone: delta > 0 ? ('positive' as const) : delta < 0 ? ('negative' as const) : ('neutral' as const),
  };
}

function platformStatus(s: StatusSnapshot) {
  const names = new Map(s.components.map((c) => [c.id, c.name]));
  const summary = overall(s);
  const all = (ago: number) => {
    const values = s.components.map((c) => uptimeOver(s, c.id, UPTIME_DAYS, ago)).filter((v): v is number => v !== null);
    return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
  };
  return {
    generated_at: s.generatedAt.toISOString(),
    overview: { state: summary.status, description: summary.description, updated_at: s.updatedAt.toISOString() },
    services: s.components.map((c) => ({
      id: c.id,
      name: c.name,
      status: c.status,
      description: c.description,
      owner: c.owner,
      last_incident_at: iso(c.lastIncidentAt),
      last_checked_at: iso(c.checkedAt),
      uptime_percent: uptimeOver(s, c.id, UPTIME_DAYS),
    })),
    incidents: s.incidents.map((i) => incidentOf(i, names)),
    scheduled_maintenance: s.maintenance.map((i) => incidentOf(i, names)),
    uptime_metrics: [
      metric('Platform uptime', all(0), all(UPTIME_DAYS)),
      ...s.components.map((c) => metric(`${c.name} uptime`, uptimeOver(s, c.id, UPTIME_DAYS), uptimeOver(s, c.id, UPTIME_DAYS, UPTIME_DAYS))),
    ],
    daily_uptime: s.components.map((c) => ({
      service_id: c.id,
      service: c.name,
      days: s.daily
        .filter((d) => d.componentId === c.id && d.checks > 0 && d.day >= new Date(s.generatedAt.getTime() - (UPTIME_DAYS - 1) * 86_400_000).toISOString().slice(0, 10))
        .sort((a, b) => a.day.localeCompare(b.day))
        .map((d) => ({ date: d.day, uptime_percent: Math.round((d.okChecks / d.checks) * 10_000) / 100, checks: d.checks })),
    })),
  };
}

function subscriptionOf(row: SubscriptionRow, webhookSecret: string | null = null) {
  return {
    id: row.id,
    channel: row.channel,
    severity_filter: row.severityFilter,
    status: row.status,
    target_masked: maskTarget(row),
    tenant_id: row.createdByTenant,
    created_by: row.createdBy,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    webhook_secret: webhookSecret,
  };
}

function baseUrl(c: Context<AppEnv>): string {
  const { PUBLIC_URL } = c.get('kernel').config;
  return (PUBLIC_URL ?? new URL(c.req.url).origin).replace(/\/$/, '');
}

function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * On a public route, whether the caller is the operator. The guard lets the admin key through public
 * routes without a principal; this tells it from no token and from a tenant's token (both 401).
 */
function requireOperator(c: Context<AppEnv>, what: string): void {
  const token = bearerToken(requestHeader(c, 'authorization'));
  const adminKey = c.get('kernel').config.PLINTH_ADMIN_KEY;
  if (token && adminKey && sameSecret(token, adminKey)) return;
  // As on every platform admin route: anything but the admin key (a tenant's token too) is 401.
  throw new ApiError('UNAUTHORIZED', token ? `Invalid admin key: ${what} needs the system admin key` : `Authentication required: ${what} needs the system admin key`);
}

/** RSS 2.0 of incidents and maintenance (the `feed` library writes and escapes it). */
function rss(c: Context<AppEnv>, s: StatusSnapshot): string {
  const base = baseUrl(c);
  const names = new Map(s.components.map((comp) => [comp.id, comp.name]));
  const page = `${base}${BASE}`;
  const feed = new Feed({
    title: 'Platform status',
    description: `${overall(s).description}. Incidents and scheduled maintenance of the platform.`,
    id: page,
    link: page,
    language: 'en',
    updated: s.updatedAt,
    ttl: 1,
    generator: 'Plinth',
    feedLinks: { rss: `${page}/rss` },
    copyright: '',
  });
  const items = [...s.maintenance, ...s.incidents].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  for (const i of items) {
    const latest = i.updates[0];
    const services = i.componentIds.map((id) => names.get(id) ?? id).join(', ');
    feed.addItem({
      title: `${i.title} (${i.currentState})`,
      id: `${page}#${i.id}`,
      guid: i.id,
      link: `${page}#${i.id}`,
      date: latest?.createdAt ?? i.updatedAt,
      published: i.createdAt,
      description: [latest?.body, services ? `Affected: ${services}` : '', i.scheduledFor ? `Window: ${i.scheduledFor.toISOString()} to ${i.scheduledUntil?.toISOString()}` : '']
        .filter(Boolean)
        .join(' — '),
      content: i.updates.map((u) => `<p><strong>${u.state}</strong> (${u.createdAt.toISOString()}): ${escapeHtml(u.body)}</p>`).join(''),
      category: [{ name: i.severity }],
    });
  }
  return feed.rss2();
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** Statuspage's /api/v2/summary.json, so tools that read Statuspage pages read this one. */
function summary(c: Context<AppEnv>, s: StatusSnapshot) {
  const page = { id: 'plinth', name: 'Platform status', url: `${baseUrl(c)}${BASE}`, time_zone: 'Etc/UTC', updated_at: s.updatedAt.toISOString() };
  const componentOf = (comp: StatusSnapshot['components'][number], position: number) => ({
    id: comp.id,
    name: comp.name,
    status: comp.status,
    created_at: comp.createdAt.toISOString(),
    updated_at: comp.changedAt.toISOString(),
    position,
    description: comp.description,
    showcase: true,
    start_date: null,
    group_id: null,
    page_id: page.id,
    group: false,
    only_show_if_degraded: false,
  });
  const components = s.components.map((comp, n) => componentOf(comp, n + 1));
  const byId = new Map(components.map((comp) => [comp.id, comp]));
  const incidentOf = (i: IncidentView) => ({
    id: i.id,
    name: i.title,
    status: i.currentState,
    created_at: i.createdAt.toISOString(),
    updated_at: i.updatedAt.toISOString(),
    monitoring_at: i.updates.find((u) => u.state === 'monitoring')?.createdAt.toISOString() ?? null,
    resolved_at: iso(i.resolvedAt),
    impact: i.severity === 'maintenance' ? 'maintenance' : i.severity,
    shortlink: `${page.url}#${i.id}`,
    started_at: i.createdAt.toISOString(),
    page_id: page.id,
    incident_updates: i.updates.map((u, n) => ({
      id: `${i.id}-${i.updates.length - n}`,
      status: u.state,
      body: u.body,
      incident_id: i.id,
      created_at: u.createdAt.toISOString(),
      updated_at: u.createdAt.toISOString(),
      display_at: u.createdAt.toISOString(),
      affected_components: null,
      deliver_notifications: true,
    })),
    components: i.componentIds.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : [])),
    ...(i.severity === 'maintenance' ? { scheduled_for: iso(i.scheduledFor), scheduled_until: iso(i.scheduledUntil) } : {}),
  });
  const o = overall(s);
  return {
    page,
    components,
    // Statuspage lists unresolved incidents here.
    incidents: s.incidents.filter((i) => !i.resolvedAt).map(incidentOf),
    scheduled_maintenances: s.maintenance.map(incidentOf),
    status: { indicator: o.indicator, description: o.description },
  };
}

const SummarySchema = z
  .object({
    page: z.object({ id: z.string(), name: z.string(), url: z.string(), time_zone: z.string(), updated_at: DateTime }),
    components: z.array(z.object({ id: z.string(), name: z.string(), status: ComponentStatus, position: z.number().int() }).passthrough()),
    incidents: z.array(z.object({ id: z.string(), name: z.string(), status: z.string(), impact: z.string() }).passthrough()),
    scheduled_maintenances: z.array(z.object({ id: z.string(), name: z.string(), status: z.string(), scheduled_for: DateTime.nullable() }).passthrough()),
    status: z.object({ indicator: z.enum(['none', 'minor', 'major', 'critical', 'maintenance']), description: z.string() }),
  })
  .openapi('StatuspageSummary');

// ---------------------------------------------------------------------------------------------- routes

const RSS_CONTENT = { 'application/rss+xml': { schema: z.string().openapi({ description: 'An RSS 2.0 document' }) } };
/** Public, but the operator's key unlocks more (documented as an optional bearer). */
const OPTIONAL_OPERATOR = { ...open(), security: [{}, ...SECURITY] };
const OPERATOR = { access: { kind: 'admin' } as const, security: SECURITY };
/** What any route can answer before its own code runs (the server's and the guard's refusals). */
const COMMON = {
  400: errorOf('Malformed JSON body, or a path with a `.` or `..` segment'),
  431: errorOf('Request line and headers over the server\'s limit'),
};
/** A public route needs no token, but one that is sent must be good. */
const PUBLIC = { ...PUBLIC_ERRORS, ...COMMON, 401: errorOf('An invalid or expired token was sent (none is needed)') };
const { 403: _tenantOnly, ...OPERATOR_BASE } = ERRORS;
const OPERATOR_ERRORS = { ...OPERATOR_BASE, ...COMMON, 401: errorOf('Missing bearer token, or not the system admin key (a tenant\'s token included)') };
const IncidentParam = z.object({ incident_id: z.string().max(64).openapi({ param: { name: 'incident_id', in: 'path' } }) });

const getStatus = surfaceRoute(
  {
    method: 'get',
    path: BASE,
    tags: TAGS,
    summary: 'Get Platform Status',
    description:
      'The platform-wide status page (not per tenant): the overview, each component (API, database, Redis, file storage, e-mail, AI provider, webhook delivery; each checked every 30 s), open and recent incidents, upcoming maintenance (shown before it starts), and uptime per component per day. Public.',
    responses: { 200: json(PlatformStatusResponse, 'The latest status snapshot'), ...PUBLIC },
  },
  open(),
);

const rssRoute = (path: string, summary: string) =>
  surfaceRoute(
    {
      method: 'get',
      path,
      tags: TAGS,
      summary,
      description: 'Incidents and scheduled maintenance as an RSS 2.0 feed (`application/rss+xml`), newest first. Public.',
      responses: { 200: { description: 'The RSS 2.0 feed', content: RSS_CONTENT }, ...PUBLIC },
    },
    open(),
  );

const getSummary = surfaceRoute(
  {
    method: 'get',
    path: `${BASE}/summary.json`,
    tags: TAGS,
    summary: 'Statuspage-Compatible Summary',
    description:
      "The page in the shape of Atlassian Statuspage's `/api/v2/summary.json` (page, components, unresolved incidents, scheduled maintenances, status indicator), so existing status tools and widgets can read it. A Plinth addition to the contract; served at this path (under the contract's base path) on both hosts. Public.",
    responses: { 200: json(SummarySchema, 'The summary'), ...PUBLIC },
  },
  open(),
);

const createSub = surfaceRoute(
  {
    method: 'post',
    path: `${BASE}/subscriptions`,
    tags: TAGS,
    summary: 'Create Status Subscription',
    description:
      'Subscribes an e-mail address (public) or a webhook URL (system admin key only) to incident notices. Double opt-in: an e-mail subscription stays `pending_verification` until the token mailed to the address comes back through POST /status/subscriptions/verify; a webhook gets a signed challenge posted to it, confirmed through POST /status/subscriptions/challenge. Asking again for a pending address mails a new token (at most once a minute); an address already verified is answered as it is, and mailed nothing.',
    request: { body: { content: { 'application/json': { schema: StatusSubscriptionCreateRequest } }, required: true } },
    responses: {
      201: json(StatusSubscriptionResponse, 'The subscription (pending until verified)'),
      ...PUBLIC,
      401: errorOf('A webhook subscription without the system admin key, or an invalid token'),
    },
  },
  OPTIONAL_OPERATOR,
);

const listSubs = surfaceRoute(
  {
    method: 'get',
    path: `${BASE}/subscriptions`,
    tags: TAGS,
    summary: 'List Status Subscriptions',
    description: 'Every subscription, newest first (targets masked). System admin key only: status subscriptions are the platform\'s, not a tenant\'s.',
    request: {
      query: z.object({
        limit: z.coerce.number().int().min(1).max(100).default(20),
        cursor: z.string().regex(/^\d{1,9}$/).optional().openapi({ description: 'next_cursor of the previous page' }),
        tenant_id: z.string().max(64).optional().openapi({ description: 'Only subscriptions made by this tenant\'s users' }),
        status: z.enum(SUBSCRIPTION_STATES).optional(),
      }),
    },
    responses: { 200: json(StatusSubscriptionListResponse, 'A page of subscriptions'), ...OPERATOR_ERRORS },
  },
  OPERATOR,
);

const confirmRoute = (path: string, summary: string, schema: typeof StatusSubscriptionVerifyRequest, what: string) =>
  surfaceRoute(
    {
      method: 'post',
      path,
      tags: TAGS,
      summary,
      description: `Activates a pending ${what} subscription with the token sent to it (valid 24 hours, single use). Public.`,
      request: { body: { content: { 'application/json': { schema } }, required: true } },
      responses: { 200: json(StatusSubscriptionResponse, 'The active subscription'), ...NOT_FOUND('A pending subscription with this unexpired token'), ...PUBLIC },
    },
    open(),
  );

const revokeSub = surfaceRoute(
  {
    method: 'delete',
    path: `${BASE}/subscriptions/{subscription_id}`,
    tags: TAGS,
    summary: 'Revoke Status Subscription',
    description:
      'Unsubscribes. With `?token=` (the unsubscribe token every notice carries) it is public; without, it needs the system admin key.',
    request: {
      params: z.object({ subscription_id: z.string().uuid().openapi({ param: { name: 'subscription_id', in: 'path' } }) }),
      query: z.object({ token: z.string().min(1).max(200).optional().openapi({ description: 'Unsubscribe token for email subscribers' }) }),
    },
    responses: {
      204: { description: 'Unsubscribed' },
      ...NOT_FOUND('The subscription (or the token is not its own)'),
      ...PUBLIC,
      401: errorOf('No unsubscribe token and not the system admin key, or an invalid token'),
    },
  },
  OPTIONAL_OPERATOR,
);

const resend = surfaceRoute(
  {
    method: 'post',
    path: `${BASE}/incidents/{incident_id}/resend`,
    tags: TAGS,
    summary: 'Resend Status Incident',
    description: "Sends the incident's latest update again to the active subscribers `severity` selects (optionally only those one tenant made). System admin key only.",
    request: { params: IncidentParam, body: { content: { 'application/json': { schema: StatusIncidentResendRequest } }, required: true } },
    responses: { 202: json(StatusIncidentResendResponse, 'Notices queued'), ...NOT_FOUND('The incident'), ...OPERATOR_ERRORS },
  },
  OPERATOR,
);

const createIncident = surfaceRoute(
  {
    method: 'post',
    path: `${BASE}/incidents`,
    tags: TAGS,
    summary: 'Create Status Incident',
    description:
      'Posts an incident, or scheduled maintenance (`severity: maintenance` with its window: shown on the page from now, before it starts), and notifies the subscribers it concerns. A Plinth addition to the contract (checks open and resolve incidents by themselves; this is for the operator). System admin key only.',
    request: { body: { content: { 'application/json': { schema: StatusIncidentCreateRequest } }, required: true } },
    responses: { 201: json(IncidentSchema, 'The incident'), ...OPERATOR_ERRORS },
  },
  OPERATOR,
);

const updateIncident = surfaceRoute(
  {
    method: 'post',
    path: `${BASE}/incidents/{incident_id}/updates`,
    tags: TAGS,
    summary: 'Post Status Incident Update',
    description: 'Adds an update (state and message) to an incident and notifies its subscribers; `resolved` or `completed` closes it. A Plinth addition to the contract. System admin key only.',
    request: { params: IncidentParam, body: { content: { 'application/json': { schema: StatusIncidentUpdateRequest } }, required: true } },
    responses: { 201: json(IncidentSchema, 'The incident with its updates'), ...NOT_FOUND('The incident'), ...OPERATOR_ERRORS },
  },
  OPERATOR,
);

/** The status page of the agent service contract (seed 003). */
export function statusRoutes(app: OpenAPIHono<AppEnv>): void {
  const cacheable = (c: Context<AppEnv>) => c.header('Cache-Control', 'public, max-age=15');

  app.openapi(getStatus, async (c) => {
    cacheable(c);
    return c.json(platformStatus(await statusSnapshot(c.get('kernel'))), 200);
  });
  for (const [path, name] of [
    [`${BASE}/rss`, 'Get Platform Status Rss'],
    [`${BASE}.rss`, 'Get Platform Status Rss Alias'],
  ] as const) {
    app.openapi(rssRoute(path, name), async (c) => {
      cacheable(c);
      return c.body(rss(c, await statusSnapshot(c.get('kernel'))), 200, { 'Content-Type': 'application/rss+xml; charset=utf-8' }) as never;
    });
  }
  app.openapi(getSummary, async (c) => {
    cacheable(c);
    return c.json(summary(c, await statusSnapshot(c.get('kernel'))) as never, 200);
  });

  app.openapi(createSub, async (c) => {
    const body = c.req.valid('json');
    if (body.channel === 'webhook') requireOperator(c, 'A webhook subscription');
    const principal = c.get('principal');
    const creator = isTenantPrincipal(principal)
      ? { createdBy: principal.id, tenantId: principal.tenant.id }
      : { createdBy: body.channel === 'webhook' ? 'admin' : 'public', tenantId: null };
    const { subscription, webhookSecret } = await createSubscription(
      c.get('kernel'),
      { channel: body.channel, target: body.target, severityFilter: body.severity_filter ?? 'major', metadata: (body.metadata ?? {}) as Record<string, unknown> },
      creator,
      { baseUrl: baseUrl(c) },
    );
    return c.json(subscriptionOf(subscription, webhookSecret), 201);
  });

  app.openapi(listSubs, async (c) => {
    const q = c.req.valid('query');
    const page = await listSubscriptions(c.get('kernel'), { limit: q.limit, cursor: q.cursor ? Number(q.cursor) : undefined, tenantId: q.tenant_id, status: q.status });
    return c.json({ items: page.items.map((row) => subscriptionOf(row)), next_cursor: page.nextCursor }, 200);
  });

  app.openapi(confirmRoute(`${BASE}/subscriptions/verify`, 'Verify Status Subscription', StatusSubscriptionVerifyRequest, 'e-mail'), async (c) =>
    c.json(subscriptionOf(await confirmSubscription(c.get('kernel'), 'email', c.req.valid('json').token)), 200),
  );
  app.openapi(confirmRoute(`${BASE}/subscriptions/challenge`, 'Confirm Webhook Challenge', StatusSubscriptionChallengeRequest, 'webhook'), async (c) =>
    c.json(subscriptionOf(await confirmSubscription(c.get('kernel'), 'webhook', c.req.valid('json').token)), 200),
  );

  app.openapi(revokeSub, async (c) => {
    const { subscription_id } = c.req.valid('param');
    const { token } = c.req.valid('query');
    if (token === undefined) requireOperator(c, 'Revoking a subscription without its unsubscribe token');
    await revokeSubscription(c.get('kernel'), subscription_id, token ?? null);
    return c.body(null, 204) as never;
  });

  app.openapi(resend, async (c) => {
    const body = c.req.valid('json');
    const dispatched = await resendIncident(c.get('kernel'), c.req.valid('param').incident_id, { severity: body.severity, tenantId: body.tenant_id ?? null });
    return c.json({ dispatched }, 202);
  });

  app.openapi(createIncident, async (c) => {
    const body = c.req.valid('json');
    const kernel = c.get('kernel');
    const incident = await openIncident(kernel, {
      title: body.title,
      severity: body.severity,
      component_ids: body.services,
      message: body.message,
      state: body.state,
      scheduled_for: body.scheduled_for ? new Date(body.scheduled_for) : undefined,
      scheduled_until: body.scheduled_until ? new Date(body.scheduled_until) : undefined,
      actor: 'admin',
    });
    return c.json(incidentOf(incident, names()), 201);
  });

  app.openapi(updateIncident, async (c) => {
    const kernel = c.get('kernel');
    const { incident_id } = c.req.valid('param');
    if (!(await getIncident(kernel, incident_id))) throw new ApiError('NOT_FOUND', 'Incident not found');
    const body = c.req.valid('json');
    const incident = await addIncidentUpdate(kernel, incident_id, { state: body.state, message: body.message }, 'admin');
    return c.json(incidentOf(incident, names()), 201);
  });
}

const names = () => new Map(COMPONENTS.map((comp) => [comp.id, comp.name]));
