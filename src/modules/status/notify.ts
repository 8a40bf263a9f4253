import { createHmac } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { Db } from '../../core/db/client.ts';
import type { Kernel } from '../../core/kernel.ts';
import { outboundRequest } from '../../core/net/outbound.ts';
import { componentById } from './components.ts';
import { statusIncidents, statusIncidentUpdates, statusSubscriptions, type IncidentRow, type IncidentUpdateRow, type SeverityFilter, type SubscriptionRow } from './tables.ts';

/**
 * The mail outbox is a tenant table; a status notice belongs to no tenant unless a tenant's user made the
 * subscription. This marker is no tenant id (those are `tn_...`), so no tenant ever reads these rows.
 */
export const PLATFORM_MAIL_TENANT = 'platform';

const WEBHOOK_JOB = 'status.webhook.deliver';
const WEBHOOK_TIMEOUT_MS = 10_000;

export interface Notice {
  incident: IncidentRow;
  update: IncidentUpdateRow;
}

/** Base URL for links in notices sent from a job (no request to take it from). */
export function configuredBaseUrl(kernel: Kernel): string {
  return (kernel.config.PUBLIC_URL ?? `http://localhost:${kernel.config.PORT}`).replace(/\/$/, '');
}

/**
 * Whether a subscriber gets a notice: `all` gets everything, `major` gets major and critical incidents,
 * `maintenance` gets scheduled maintenance. A resend names its audience instead: the subscribers whose
 * filter is that one (or `all`), or with `all` every active subscriber.
 */
function wants(filter: SeverityFilter, incident: IncidentRow, audience?: SeverityFilter): boolean {
  if (audience) return audience === 'all' || filter === 'all' || filter === audience;
  if (filter === 'all') return true;
  if (filter === 'maintenance') return incident.severity === 'maintenance';
  return incident.severity === 'major' || incident.severity === 'critical';
}

const work = (db: Db, tenantId: string | null, afterCommit: (f: () => Promise<void> | void) => void) => ({ db, tenantId: tenantId ?? PLATFORM_MAIL_TENANT, afterCommit });

/** Queues the notice for every active subscriber it concerns, in the caller's transaction; the count queued. */
export async function queueNotifications(
  kernel: Kernel,
  db: Db,
  afterCommit: (f: () => Promise<void> | void) => void,
  notice: Notice,
  options: { audience?: SeverityFilter; tenantId?: string | null },
): Promise<number> {
  const subscribers = await db
    .select()
    .from(statusSubscriptions)
    .where(and(eq(statusSubscriptions.status, 'active'), options.tenantId ? eq(statusSubscriptions.createdByTenant, options.tenantId) : undefined));
  const chosen = subscribers.filter((s) => wants(s.severityFilter, notice.incident, options.audience));
  const base = configuredBaseUrl(kernel);
  for (const s of chosen) {
    if (s.channel === 'email') {
      const mail = incidentMail(notice, s, kernel.secrets.open(s.unsubscribeToken), base);
      await kernel.mail.queue(work(db, s.createdByTenant, afterCommit), { to: s.target, ...mail, template: 'status.incident', metadata: { incident_id: notice.incident.id, subscription_id: s.id } });
    } else {
      afterCommit(async () => void (await kernel.jobs.send(WEBHOOK_JOB, { subscriptionId: s.id, incidentId: notice.incident.id, updateId: notice.update.id })));
    }
  }
  return chosen.length;
}

function incidentMail(notice: Notice, s: SubscriptionRow, unsubscribe: string, base: string) {
  const { incident, update } = notice;
  const components = incident.componentIds.map((id) => componentById.get(id)?.name ?? id).join(', ') || 'none named';
  const window =
    incident.scheduledFor && incident.scheduledUntil ? `Window: ${incident.scheduledFor.toISOString()} to ${incident.scheduledUntil.toISOString()}\n` : '';
  const text = [
    `${incident.title}`,
    ``,
    `Status: ${update.state}   Impact: ${incident.severity}`,
    `Affected components: ${components}`,
    window ? window.trimEnd() : null,
    ``,
    update.body,
    ``,
    `Posted ${update.createdAt.toISOString()} (incident ${incident.id})`,
    `Current status: ${base}/api/v1/status`,
    ``,
    `You get this because ${s.target} subscribed to platform status updates (${s.severityFilter}).`,
    `Unsubscribe: DELETE ${base}/api/v1/status/subscriptions/${s.id}?token=${unsubscribe}`,
  ].filter((line) => line !== null);
  return { subject: `[Status] ${incident.title}: ${update.state}`, text: text.join('\n') };
}

/**
 * The opt-in step. E-mail: the token is mailed and comes back through POST /status/subscriptions/verify.
 * Webhook: it is posted to the URL and comes back through POST /status/subscriptions/challenge, which
 * proves the caller controls the endpoint.
 */
export async function sendChallenge(
  kernel: Kernel,
  db: Db,
  afterCommit: (f: () => Promise<void> | void) => void,
  s: SubscriptionRow,
  token: string,
  base: string,
): Promise<void> {
  if (s.channel === 'email') {
    await kernel.mail.queue(work(db, s.createdByTenant, afterCommit), {
      to: s.target,
      subject: 'Confirm your status subscription',
      text: [
        `Someone (hopefully you) asked to receive platform status updates (${s.severityFilter}) at ${s.target}.`,
        ``,
        `Verification code: ${token}`,
        ``,
        `Confirm by sending it to POST ${base}/api/v1/status/subscriptions/verify as {"token": "<code>"} (a status page does this for you).`,
        `The code expires in 24 hours. If you did not ask for this, ignore this mail: nothing is sent until the address is confirmed.`,
      ].join('\n'),
      template: 'status.verify',
      metadata: { subscription_id: s.id },
    });
    return;
  }
  afterCommit(async () => void (await kernel.jobs.send(WEBHOOK_JOB, { subscriptionId: s.id, challenge: kernel.secrets.seal(token) })));
}

type WebhookJob = { subscriptionId: string; challenge?: string; incidentId?: string; updateId?: string };

/** Posts one challenge or notice to a webhook subscriber, signed with its secret (`Status-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`). */
async function deliverWebhook(kernel: Kernel, job: WebhookJob): Promise<void> {
  const db = kernel.db.system;
  const [s] = await db.select().from(statusSubscriptions).where(eq(statusSubscriptions.id, job.subscriptionId));
  if (!s || s.status === 'revoked' || !s.secret) return;
  let payload: Record<string, unknown>;
  if (job.challenge) {
    if (s.status !== 'pending_verification') return;
    payload = { type: 'status.subscription.challenge', subscription_id: s.id, token: kernel.secrets.open(job.challenge) };
  } else {
    if (s.status !== 'active') return;
    const [incident] = await db.select().from(statusIncidents).where(eq(statusIncidents.id, job.incidentId!));
    const [update] = await db.select().from(statusIncidentUpdates).where(eq(statusIncidentUpdates.id, job.updateId!));
    if (!incident || !update) return;
    payload = {
      type: 'status.incident.updated',
      subscription_id: s.id,
      incident: {
        incident_id: incident.id,
        title: incident.title,
        severity: incident.severity,
        state: update.state,
        components: incident.componentIds,
        message: update.body,
        occurred_at: incident.createdAt.toISOString(),
        updated_at: update.createdAt.toISOString(),
      },
    };
  }
  const body = JSON.stringify(payload);
  const t = Math.floor(kernel.clock.now() / 1000);
  const signature = createHmac('sha256', kernel.secrets.open(s.secret)).update(`${t}.${body}`).digest('hex');
  const res = await outboundRequest(
    s.target,
    { method: 'POST', headers: { 'content-type': 'application/json', 'status-signature': `t=${t},v1=${signature}` }, body, timeoutMs: WEBHOOK_TIMEOUT_MS, maxResponseBytes: 1024 },
    kernel.outbound,
  );
  // pg-boss retries with backoff.
  if (res.status < 200 || res.status >= 300) throw new Error(`status webhook answered ${res.status}`);
}

export function registerNotifications(kernel: Kernel): void {
  kernel.jobs.define<WebhookJob>(WEBHOOK_JOB, { retryLimit: 5, retryDelay: 30, retryBackoff: true, handler: (data) => deliverWebhook(kernel, data) });
}
