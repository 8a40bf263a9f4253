import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { and, desc, eq, gte, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm';
import { rows, type Db } from '../../core/db/client.ts';
import { ApiError } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import { assertOutboundUrls } from '../../core/net/outbound.ts';
import type { Kernel } from '../../core/kernel.ts';
import { COMPONENTS, componentById, runCheck, type CheckResult } from './components.ts';
import {
  statusComponents,
  statusIncidents,
  statusIncidentUpdates,
  statusSubscriptions,
  statusUptimeDaily,
  type ComponentStatus,
  type IncidentRow,
  type IncidentSeverity,
  type IncidentState,
  type IncidentUpdateRow,
  type SeverityFilter,
  type SubscriptionRow,
} from './tables.ts';
import { queueNotifications, sendChallenge, type Notice } from './notify.ts';

/** Consecutive failed checks (30 s apart) before an incident opens: one lost packet is not an outage. */
export const FAILURES_TO_OPEN = 2;
/** How long a mailed verification (or webhook challenge) token is good for. */
const VERIFY_TTL_MS = 24 * 3_600_000;
/** A pending subscription asked for again gets a new token only after this long. */
const RESEND_AFTER_MS = 60_000;
/** Resolved incidents stay on the page this long. */
const RECENT_DAYS = 14;
/** Uptime figures cover this many days. */
export const UPTIME_DAYS = 30;

export const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const token = () => randomBytes(32).toString('base64url');

// ---------------------------------------------------------------------------------------------------
// Checks

/** Runs every component's check and stores the results; incidents open and resolve from them. */
export async function runChecks(kernel: Kernel): Promise<Record<string, CheckResult>> {
  const results = await Promise.all(COMPONENTS.map(async (component) => [component.id, await runCheck(kernel, component)] as const));
  for (const [id, result] of results) {
    try {
      await recordCheck(kernel, id, result);
    } catch (error) {
      // The database itself may be what is down; the next check writes again.
      kernel.log.warn({ err: error, component: id }, 'could not store a status check');
    }
  }
  invalidate(kernel);
  return Object.fromEntries(results);
}

async function recordCheck(kernel: Kernel, id: string, result: CheckResult & { latencyMs: number }): Promise<void> {
  const now = new Date(kernel.clock.now());
  const ok = result.status === 'operational';
  const db = kernel.db.system;
  const [row] = await db
    .insert(statusComponents)
    .values({ id, status: result.status, lastError: result.error ?? null, latencyMs: result.latencyMs, consecutiveFailures: ok ? 0 : 1, lastCheckedAt: now, changedAt: now })
    .onConflictDoUpdate({
      target: statusComponents.id,
      set: {
        status: result.status,
        lastError: result.error ?? null,
        latencyMs: result.latencyMs,
        consecutiveFailures: ok ? 0 : sql`${statusComponents.consecutiveFailures} + 1`,
        lastCheckedAt: now,
        changedAt: sql`case when ${statusComponents.status} = ${result.status} then ${statusComponents.changedAt} else ${now} end`,
      },
    })
    .returning();
  await db
    .insert(statusUptimeDaily)
    .values({ componentId: id, day: now.toISOString().slice(0, 10), checks: 1, okChecks: ok ? 1 : 0 })
    .onConflictDoUpdate({
      target: [statusUptimeDaily.componentId, statusUptimeDaily.day],
      set: { checks: sql`${statusUptimeDaily.checks} + 1`, okChecks: sql`${statusUptimeDaily.okChecks} + ${ok ? 1 : 0}` },
    });

  const [open] = await db
    .select()
    .from(statusIncidents)
    .where(and(eq(statusIncidents.automatic, true), isNull(statusIncidents.resolvedAt), sql`${statusIncidents.componentIds} = array[${id}]::text[]`));
  const component = componentById.get(id)!;
  if (!ok && !open && row!.consecutiveFailures >= FAILURES_TO_OPEN) {
    const degraded = result.status === 'degraded_performance';
    await openIncident(kernel, {
      title: `${component.name}: ${degraded ? 'degraded performance' : 'outage'}`,
      severity: degraded ? 'minor' : component.severity,
      component_ids: [id],
      message: `Automatic checks of ${component.name} have failed ${row!.consecutiveFailures} times in a row. We are investigating.`,
      automatic: true,
      actor: 'system',
    }).catch((error: unknown) => {
      // Another process opened it first (the unique index on open automatic incidents); drizzle wraps the driver's error.
      const e = error as { code?: string; cause?: { code?: string } };
      if ((e.cause?.code ?? e.code) !== '23505') throw error;
    });
  } else if (ok && open) {
    await addIncidentUpdate(kernel, open.id, { state: 'resolved', message: `${component.name} is operational again; automatic checks pass.` }, 'system');
  }
}

// ---------------------------------------------------------------------------------------------------
// Incidents and maintenance

export interface IncidentInput {
  title: string;
  severity: IncidentSeverity;
  component_ids: string[];
  message: string;
  /** Maintenance: its window. */
  scheduled_for?: Date;
  scheduled_until?: Date;
  state?: IncidentState;
  automatic?: boolean;
  actor: string;
}

export interface IncidentView extends IncidentRow {
  updates: IncidentUpdateRow[];
  /** Maintenance state as of now: scheduled, in_progress or completed (others: the stored state). */
  currentState: IncidentState;
}

function currentState(incident: IncidentRow, now: number): IncidentState {
  if (incident.severity !== 'maintenance' || incident.resolvedAt) return incident.state;
  if (incident.scheduledUntil && incident.scheduledUntil.getTime() <= now) return 'completed';
  if (incident.scheduledFor && incident.scheduledFor.getTime() <= now) return 'in_progress';
  return incident.state;
}

/** Runs `fn` in a transaction of the owner connection, then what it asked to run after commit (mail jobs). */
async function systemWork<T>(kernel: Kernel, fn: (db: Db, afterCommit: (f: () => Promise<void> | void) => void) => Promise<T>): Promise<T> {
  const after: (() => Promise<void> | void)[] = [];
  const result = await kernel.db.system.transaction((tx) => fn(tx as unknown as Db, (f) => void after.push(f)));
  invalidate(kernel);
  for (const f of after) {
    try {
      await f();
    } catch (error) {
      kernel.log.warn({ err: error }, 'status: after-commit work failed');
    }
  }
  return result;
}

export async function openIncident(kernel: Kernel, input: IncidentInput): Promise<IncidentView> {
  const unknown = input.component_ids.filter((id) => !componentById.has(id));
  if (unknown.length) throw new ApiError('VALIDATION_ERROR', `Unknown component: ${unknown.join(', ')}`, { details: { issues: [{ field: 'component_ids', location: 'body', code: 'custom', message: `Unknown component: ${unknown.join(', ')}` }] } });
  const maintenance = input.severity === 'maintenance';
  if (maintenance && (!input.scheduled_for || !input.scheduled_until || input.scheduled_until <= input.scheduled_for)) {
    throw new ApiError('VALIDATION_ERROR', 'Maintenance needs scheduled_for before scheduled_until', {
      details: { issues: [{ field: 'scheduled_until', location: 'body', code: 'custom', message: 'Maintenance needs scheduled_for before scheduled_until' }] },
    });
  }
  const state: IncidentState = input.state ?? (maintenance ? 'scheduled' : 'investigating');
  return systemWork(kernel, async (db, afterCommit) => {
    const [incident] = await db
      .insert(statusIncidents)
      .values({
        id: newId('inc'),
        title: input.title,
        severity: input.severity,
        state,
        componentIds: [...new Set(input.component_ids)].sort(),
        automatic: input.automatic ?? false,
        scheduledFor: input.scheduled_for ?? null,
        scheduledUntil: input.scheduled_until ?? null,
        createdBy: input.actor,
        resolvedAt: state === 'resolved' || state === 'completed' ? new Date() : null,
      })
      .returning();
    const [update] = await db.insert(statusIncidentUpdates).values({ id: newId('incu'), incidentId: incident!.id, state, body: input.message }).returning();
    await queueNotifications(kernel, db, afterCommit, { incident: incident!, update: update! }, {});
    if (maintenance && !incident!.resolvedAt) {
      // Started and completed on time by a job at each end of the window; the 30-second check job catches up on any missed.
      for (const at of [incident!.scheduledFor!, incident!.scheduledUntil!]) {
        afterCommit(async () => void (await kernel.jobs.send(MAINTENANCE_JOB, {}, { startAfter: at })));
      }
    }
    return { ...incident!, updates: [update!], currentState: currentState(incident!, kernel.clock.now()) };
  });
}

export async function addIncidentUpdate(kernel: Kernel, incidentId: string, input: { state: IncidentState; message: string }, _actor: string): Promise<IncidentView> {
  return systemWork(kernel, async (db, afterCommit) => {
    const [existing] = await db.select().from(statusIncidents).where(eq(statusIncidents.id, incidentId)).for('update');
    if (!existing) throw new ApiError('NOT_FOUND', 'Incident not found');
    const closing = input.state === 'resolved' || input.state === 'completed';
    const [incident] = await db
      .update(statusIncidents)
      .set({ state: input.state, updatedAt: new Date(), resolvedAt: closing ? (existing.resolvedAt ?? new Date()) : null })
      .where(eq(statusIncidents.id, incidentId))
      .returning();
    const [update] = await db.insert(statusIncidentUpdates).values({ id: newId('incu'), incidentId, state: input.state, body: input.message }).returning();
    await queueNotifications(kernel, db, afterCommit, { incident: incident!, update: update! }, {});
    const updates = await db.select().from(statusIncidentUpdates).where(eq(statusIncidentUpdates.incidentId, incidentId)).orderBy(desc(statusIncidentUpdates.createdAt), desc(statusIncidentUpdates.id));
    return { ...incident!, updates, currentState: currentState(incident!, kernel.clock.now()) };
  });
}

export const MAINTENANCE_JOB = 'status.maintenance';

/**
 * Moves scheduled maintenance along its window: one whose start has come begins (`in_progress`), one
 * whose end has passed completes (resolved). Each move is stored once (a conditional update, so two
 * processes cannot both make it) with an update that the subscribers it concerns are mailed: those who
 * subscribed to maintenance, and to everything. Returns how many moved.
 */
export async function advanceMaintenance(kernel: Kernel): Promise<number> {
  const now = new Date(kernel.clock.now());
  const due = await kernel.db.system
    .select()
    .from(statusIncidents)
    .where(
      and(
        eq(statusIncidents.severity, 'maintenance'),
        isNull(statusIncidents.resolvedAt),
        or(lte(statusIncidents.scheduledUntil, now), and(eq(statusIncidents.state, 'scheduled'), lte(statusIncidents.scheduledFor, now))),
      ),
    )
    .limit(100);
  let moved = 0;
  for (const incident of due) {
    const ending = incident.scheduledUntil !== null && incident.scheduledUntil <= now;
    const state: IncidentState = ending ? 'completed' : 'in_progress';
    const changed = await systemWork(kernel, async (db, afterCommit) => {
      const [row] = await db
        .update(statusIncidents)
        .set({ state, updatedAt: now, resolvedAt: ending ? now : null })
        .where(and(eq(statusIncidents.id, incident.id), eq(statusIncidents.state, incident.state), isNull(statusIncidents.resolvedAt)))
        .returning();
      if (!row) return false;
      const body = ending
        ? `The scheduled maintenance is complete (its window ended ${incident.scheduledUntil!.toISOString()}).`
        : `The scheduled maintenance has started; it is planned to end ${incident.scheduledUntil!.toISOString()}.`;
      const [update] = await db.insert(statusIncidentUpdates).values({ id: newId('incu'), incidentId: row.id, state, body }).returning();
      await queueNotifications(kernel, db, afterCommit, { incident: row, update: update! }, {});
      return true;
    });
    if (changed) moved++;
  }
  return moved;
}

async function withUpdates(kernel: Kernel, incidents: IncidentRow[]): Promise<IncidentView[]> {
  if (incidents.length === 0) return [];
  const updates = await kernel.db.system
    .select()
    .from(statusIncidentUpdates)
    .where(inArray(statusIncidentUpdates.incidentId, incidents.map((i) => i.id)))
    .orderBy(desc(statusIncidentUpdates.createdAt), desc(statusIncidentUpdates.id));
  const now = kernel.clock.now();
  return incidents.map((i) => ({ ...i, updates: updates.filter((u) => u.incidentId === i.id), currentState: currentState(i, now) }));
}

export async function getIncident(kernel: Kernel, id: string): Promise<IncidentView | null> {
  const [row] = await kernel.db.system.select().from(statusIncidents).where(eq(statusIncidents.id, id));
  return row ? (await withUpdates(kernel, [row]))[0]! : null;
}

// ---------------------------------------------------------------------------------------------------
// The page

export interface ComponentView {
  id: string;
  name: string;
  description: string;
  owner: string;
  /** Shown status: the last check's, or under_maintenance during a maintenance window that names it. */
  status: ComponentStatus;
  checkedAt: Date | null;
  changedAt: Date;
  createdAt: Date;
  lastIncidentAt: Date | null;
}

export interface DailyUptime {
  componentId: string;
  day: string;
  checks: number;
  okChecks: number;
}

export interface StatusSnapshot {
  generatedAt: Date;
  updatedAt: Date;
  components: ComponentView[];
  /** Open incidents and those resolved in the last RECENT_DAYS, newest first (maintenance excluded). */
  incidents: IncidentView[];
  /** Maintenance not yet completed, soonest first: shown before it starts. */
  maintenance: IncidentView[];
  daily: DailyUptime[];
}

/**
 * The page is public and read far more often than it changes: one snapshot per process is reused for
 * SNAPSHOT_TTL_MS (other processes' changes show within that), and this process's own changes drop it.
 */
const SNAPSHOT_TTL_MS = 5_000;
const snapshots = new WeakMap<Kernel, { at: number; snapshot: Promise<StatusSnapshot> }>();
const invalidate = (kernel: Kernel) => void snapshots.delete(kernel);

export function statusSnapshot(kernel: Kernel): Promise<StatusSnapshot> {
  const now = kernel.clock.now();
  const cached = snapshots.get(kernel);
  if (cached && now - cached.at < SNAPSHOT_TTL_MS) return cached.snapshot;
  const snapshot = loadSnapshot(kernel);
  snapshots.set(kernel, { at: now, snapshot });
  snapshot.catch(() => snapshots.get(kernel)?.snapshot === snapshot && invalidate(kernel));
  return snapshot;
}

async function loadSnapshot(kernel: Kernel): Promise<StatusSnapshot> {
  const db = kernel.db.system;
  const now = kernel.clock.now();
  const since = new Date(now - RECENT_DAYS * 86_400_000);
  const firstDay = new Date(now - 2 * UPTIME_DAYS * 86_400_000).toISOString().slice(0, 10);
  const [stored, incidentRows, daily, lastIncidents] = await Promise.all([
    db.select().from(statusComponents),
    db
      .select()
      .from(statusIncidents)
      .where(or(isNull(statusIncidents.resolvedAt), gte(statusIncidents.resolvedAt, since), gte(statusIncidents.scheduledUntil, new Date(now))))
      .orderBy(desc(statusIncidents.createdAt))
      .limit(100),
    db.select().from(statusUptimeDaily).where(gte(statusUptimeDaily.day, firstDay)),
    db.execute(sql`select c as component_id, max(created_at) as at from status_incidents, unnest(component_ids) c where severity <> 'maintenance' group by c`),
  ]);
  const views = await withUpdates(kernel, incidentRows);
  const incidents = views.filter((i) => i.severity !== 'maintenance');
  const maintenance = views
    .filter((i) => i.severity === 'maintenance' && i.currentState !== 'completed' && !i.resolvedAt)
    .sort((a, b) => a.scheduledFor!.getTime() - b.scheduledFor!.getTime());
  const inMaintenance = new Set(maintenance.filter((m) => m.currentState === 'in_progress').flatMap((m) => m.componentIds));
  const last = new Map(rows<{ component_id: string; at: string | Date }>(lastIncidents).map((r) => [r.component_id, new Date(r.at)]));
  const byId = new Map(stored.map((s) => [s.id, s]));
  const startedAt = kernel.startedAt;
  const components = COMPONENTS.map((c): ComponentView => {
    const s = byId.get(c.id);
    const checked = s?.status ?? 'operational';
    return {
      id: c.id,
      name: c.name,
      description: c.description,
      owner: c.owner,
      status: inMaintenance.has(c.id) && checked === 'operational' ? 'under_maintenance' : checked,
      checkedAt: s?.lastCheckedAt ?? null,
      changedAt: s?.changedAt ?? startedAt,
      createdAt: s?.createdAt ?? startedAt,
      lastIncidentAt: last.get(c.id) ?? null,
    };
  });
  const updatedAt = components.reduce((latest, c) => (c.checkedAt && c.checkedAt > latest ? c.checkedAt : latest), new Date(0));
  return {
    generatedAt: new Date(now),
    updatedAt: updatedAt.getTime() ? updatedAt : new Date(now),
    components,
    incidents,
    maintenance,
    daily: daily.map((d) => ({ componentId: d.componentId, day: d.day, checks: d.checks, okChecks: d.okChecks })),
  };
}

const RANK: Record<ComponentStatus, number> = { operational: 0, under_maintenance: 1, degraded_performance: 2, partial_outage: 3, major_outage: 4 };

/** The page's one-line summary and Statuspage's indicator. */
export function overall(snapshot: StatusSnapshot): { status: ComponentStatus; indicator: 'none' | 'minor' | 'major' | 'critical' | 'maintenance'; description: string } {
  const worst = snapshot.components.reduce<ComponentStatus>((w, c) => (RANK[c.status] > RANK[w] ? c.status : w), 'operational');
  const open = snapshot.incidents.filter((i) => !i.resolvedAt);
  const critical = open.some((i) => i.severity === 'critical');
  switch (worst) {
    case 'major_outage':
      return { status: worst, indicator: critical ? 'critical' : 'major', description: 'Major System Outage' };
    case 'partial_outage':
      return { status: worst, indicator: 'major', description: 'Partial System Outage' };
    case 'degraded_performance':
      return { status: worst, indicator: 'minor', description: 'Degraded System Performance' };
    case 'under_maintenance':
      return { status: worst, indicator: 'maintenance', description: 'Service Under Maintenance' };
    default:
      return open.length
        ? { status: worst, indicator: 'minor', description: 'Minor Service Disruption' }
        : { status: worst, indicator: 'none', description: 'All Systems Operational' };
  }
}

/** Uptime (percent, two decimals) of one component over the `days` days ending `daysAgo` days before today; null without checks. */
export function uptimeOver(snapshot: StatusSnapshot, componentId: string, days: number, daysAgo = 0): number | null {
  const end = snapshot.generatedAt.getTime() - daysAgo * 86_400_000;
  const from = new Date(end - (days - 1) * 86_400_000).toISOString().slice(0, 10);
  const to = new Date(end).toISOString().slice(0, 10);
  let checks = 0;
  let ok = 0;
  for (const d of snapshot.daily) {
    if (d.componentId === componentId && d.day >= from && d.day <= to) {
      checks += d.checks;
      ok += d.okChecks;
    }
  }
  return checks ? Math.round((ok / checks) * 10_000) / 100 : null;
}

// ---------------------------------------------------------------------------------------------------
// Subscriptions

export interface SubscriptionCreator {
  /** `public`, a user or key id, or `admin`. */
  createdBy: string;
  tenantId: string | null;
}

/** An address as shown back: the first character and the domain (`j***@example.com`), or a URL's origin. */
export function maskTarget(row: Pick<SubscriptionRow, 'channel' | 'target'>): string {
  if (row.channel === 'webhook') {
    try {
      const url = new URL(row.target);
      return `${url.protocol}//${url.host}/***`;
    } catch {
      return '***';
    }
  }
  const [local, domain] = row.target.split('@');
  return `${local!.slice(0, 1)}***@${domain ?? ''}`;
}

export async function createSubscription(
  kernel: Kernel,
  input: { channel: 'email' | 'webhook'; target: string; severityFilter: SeverityFilter; metadata: Record<string, unknown> },
  creator: SubscriptionCreator,
  links: { baseUrl: string },
): Promise<{ subscription: SubscriptionRow; webhookSecret: string | null }> {
  const target = input.channel === 'email' ? input.target.trim().toLowerCase() : input.target;
  if (input.channel === 'webhook') {
    try {
      await assertOutboundUrls(kernel.outbound, [{ field: 'target', url: target }]);
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw new ApiError('VALIDATION_ERROR', 'target: the URL cannot be reached (its host does not resolve)', {
        details: { issues: [{ field: 'target', location: 'body', code: 'custom', message: 'The URL cannot be reached (its host does not resolve)' }] },
      });
    }
  }
  const verify = token();
  const unsubscribe = token();
  const secret = input.channel === 'webhook' ? `whsec_${randomBytes(24).toString('base64url')}` : null;
  const expires = new Date(kernel.clock.now() + VERIFY_TTL_MS);
  return systemWork(kernel, async (db, afterCommit) => {
    const [existing] = await db
      .select()
      .from(statusSubscriptions)
      .where(and(eq(statusSubscriptions.channel, input.channel), eq(statusSubscriptions.target, target), sql`${statusSubscriptions.status} <> 'revoked'`))
      .for('update');
    let row: SubscriptionRow;
    if (existing?.status === 'active') {
      // Already verified: nothing is mailed again (a stranger cannot make us mail an address repeatedly).
      return { subscription: existing, webhookSecret: null };
    } else if (existing && kernel.clock.now() - existing.updatedAt.getTime() < RESEND_AFTER_MS) {
      // Asked again within the minute: the mail just sent stands (no mail bombing an address through us).
      return { subscription: existing, webhookSecret: null };
    } else if (existing) {
      // Pending: a new token replaces the old one and is sent again.
      [row] = (await db
        .update(statusSubscriptions)
        .set({ verifyTokenHash: sha256(verify), verifyExpiresAt: expires, severityFilter: input.severityFilter, metadata: input.metadata, secret: secret ? kernel.secrets.seal(secret) : existing.secret, updatedAt: new Date() })
        .where(eq(statusSubscriptions.id, existing.id))
        .returning()) as [SubscriptionRow];
    } else {
      [row] = (await db
        .insert(statusSubscriptions)
        .values({
          id: randomUUID(),
          channel: input.channel,
          target,
          severityFilter: input.severityFilter,
          status: 'pending_verification',
          metadata: input.metadata,
          verifyTokenHash: sha256(verify),
          verifyExpiresAt: expires,
          unsubscribeTokenHash: sha256(unsubscribe),
          unsubscribeToken: kernel.secrets.seal(unsubscribe),
          secret: secret ? kernel.secrets.seal(secret) : null,
          createdByTenant: creator.tenantId,
          createdBy: creator.createdBy,
        })
        .returning()) as [SubscriptionRow];
    }
    await sendChallenge(kernel, db, afterCommit, row, verify, links.baseUrl);
    return { subscription: row, webhookSecret: existing ? (secret ?? null) : secret };
  });
}

/** Double opt-in: the token mailed to the address (or posted to the webhook) turns the subscription on. */
export async function confirmSubscription(kernel: Kernel, channel: 'email' | 'webhook', raw: string): Promise<SubscriptionRow> {
  const [row] = await kernel.db.system
    .update(statusSubscriptions)
    .set({ status: 'active', verifyTokenHash: null, verifyExpiresAt: null, updatedAt: new Date() })
    .where(
      and(
        eq(statusSubscriptions.verifyTokenHash, sha256(raw)),
        eq(statusSubscriptions.channel, channel),
        eq(statusSubscriptions.status, 'pending_verification'),
        gte(statusSubscriptions.verifyExpiresAt, new Date(kernel.clock.now())),
      ),
    )
    .returning();
  if (!row) throw new ApiError('NOT_FOUND', channel === 'email' ? 'Invalid or expired verification token' : 'Invalid or expired challenge token');
  return row;
}

export async function listSubscriptions(
  kernel: Kernel,
  query: { limit: number; cursor?: number; tenantId?: string; status?: SubscriptionRow['status'] },
): Promise<{ items: SubscriptionRow[]; nextCursor: string | null }> {
  const offset = query.cursor ?? 0;
  const where = and(
    query.tenantId ? eq(statusSubscriptions.createdByTenant, query.tenantId) : undefined,
    query.status ? eq(statusSubscriptions.status, query.status) : undefined,
  );
  const items = await kernel.db.system
    .select()
    .from(statusSubscriptions)
    .where(where)
    .orderBy(desc(statusSubscriptions.createdAt), desc(statusSubscriptions.id))
    .limit(query.limit + 1)
    .offset(offset);
  const more = items.length > query.limit;
  return { items: items.slice(0, query.limit), nextCursor: more ? String(offset + query.limit) : null };
}

/** Unsubscribes. With `unsubscribeToken` it must be the subscription's own (the link in every notice); without, the caller is an operator. */
export async function revokeSubscription(kernel: Kernel, id: string, unsubscribeToken: string | null): Promise<void> {
  const [row] = await kernel.db.system.select().from(statusSubscriptions).where(eq(statusSubscriptions.id, id));
  if (!row || row.status === 'revoked') throw new ApiError('NOT_FOUND', 'Subscription not found');
  if (unsubscribeToken !== null && row.unsubscribeTokenHash !== sha256(unsubscribeToken)) throw new ApiError('NOT_FOUND', 'Subscription not found');
  await kernel.db.system
    .update(statusSubscriptions)
    .set({ status: 'revoked', revokedAt: new Date(), updatedAt: new Date(), verifyTokenHash: null })
    .where(eq(statusSubscriptions.id, id));
}

/** Sends an incident's latest update again to the active subscribers `severity` selects; the count of notices queued. */
export async function resendIncident(kernel: Kernel, incidentId: string, options: { severity: SeverityFilter; tenantId: string | null }): Promise<number> {
  const incident = await getIncident(kernel, incidentId);
  if (!incident) throw new ApiError('NOT_FOUND', 'Incident not found');
  const notice: Notice = { incident, update: incident.updates[0]! };
  return systemWork(kernel, (db, afterCommit) => queueNotifications(kernel, db, afterCommit, notice, { audience: options.severity, tenantId: options.tenantId }));
}

/** Pending subscriptions whose token expired long ago are removed (an address that never confirmed is not kept). */
export async function pruneSubscriptions(kernel: Kernel): Promise<void> {
  await kernel.db.system
    .delete(statusSubscriptions)
    .where(and(eq(statusSubscriptions.status, 'pending_verification'), lt(statusSubscriptions.verifyExpiresAt, new Date(kernel.clock.now() - 7 * 86_400_000))));
}
