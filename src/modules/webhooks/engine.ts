import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { and, asc, eq, inArray, lte, ne, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import { runInTenant, type TenantContext } from '../../core/context.ts';
import { rows } from '../../core/db/client.ts';
import { isDatabaseUnavailable, logLoopFailure } from '../../core/db/errors.ts';
import { applicationOf, matchesAny, objectTypeOf, publicEvent } from '../../core/events/format.ts';
import { consumerInterest } from '../../core/events/interest.ts';
import { settleWithin, type ConsumerBatch } from '../../core/events/outbox.ts';
import { ApiError, notFound } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import type { Kernel } from '../../core/kernel.ts';
import { OutboundBlockedError, outboundRequest, type OutboundPolicy, type OutboundRequest } from '../../core/net/outbound.ts';
import { VERSION } from '../../core/version.ts';
import { addDeadLetter, registerDeadLetterSource, resolveDeadLetter } from '../dlq/index.ts';
import { parseRetryAfter, signatureHeader, type SigningKeys } from './signing.ts';
import { webhookDeliveries, webhookMessages, webhooks, type WebhookDeliveryRow, type WebhookMessageRow, type WebhookRow } from './tables.ts';

/** Waits after failed attempts 1..9: attempts go out at 0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h. */
export const RETRY_DELAYS_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 50_400_000, 72_000_000, 86_400_000];
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;

const DELIVER_JOB = 'webhooks.deliver';
const CLEANUP_JOB = 'webhooks.cleanup';
const RESEND_JOB = 'webhooks.resend';
export const FANOUT_CONSUMER = 'webhooks.fanout';
/** Margin of a send's lease beyond its timeout, before another worker may take the message over. */
const LEASE_MARGIN_MS = 30_000;
/** Messages of one endpoint claimed (and recorded) together. */
const CLAIM_BATCH = 200;
/** Messages a driver sends in a row before its endpoint goes behind the others that wait. */
const DRIVER_BUDGET = 2_000;
/** Namespace of the advisory locks that make claims on one endpoint take turns. */
const ENDPOINT_LOCK_NS = 7_304_213;
const RESPONSE_BODY_BYTES = 1024;
const RETRY_AFTER_MAX_MS = 86_400_000;
const SYSTEM_ACTOR = { type: 'system', id: 'webhooks' };

export type Trigger = WebhookDeliveryRow['trigger'];

export interface AttemptResult {
  ok: boolean;
  status: number | null;
  body: string | null;
  error: string | null;
  latencyMs: number | null;
  retryAfterMs: number | null;
  /** The process is shutting down: nothing is recorded, the lease runs out and another worker sends it. */
  aborted?: boolean;
}

interface DeliverJob {
  tenantId: string;
  messageId: string;
  claim: string;
}

interface ResendJob {
  tenantId: string;
  messageId: string;
  trigger: Trigger;
}

const engines = new WeakMap<Kernel, WebhookEngine>();

/** The webhook engine of a kernel (routes and tests reach it through here). */
export function webhookEngine(kernel: Kernel): WebhookEngine {
  const engine = engines.get(kernel);
  if (!engine) throw new Error('webhooks are not registered on this kernel');
  return engine;
}

/**
 * Whether an endpoint subscribes to an event: its application first (an application's endpoint gets
 * only events that name that application), then its type patterns, then its object types for object
 * events. A tenant endpoint (no application) matches as it always did.
 */
export function subscribes(webhook: Pick<WebhookRow, 'events' | 'objectTypes' | 'applicationId'>, type: string, data: Record<string, unknown>): boolean {
  if (webhook.applicationId !== null && applicationOf(data) !== webhook.applicationId) return false;
  if (!matchesAny(webhook.events, type)) return false;
  if (webhook.objectTypes.length === 0) return true;
  const objectType = objectTypeOf(data);
  return objectType === null || webhook.objectTypes.includes(objectType);
}

/**
 * Delivery of webhook messages. The outbox consumer `webhooks.fanout` turns each event into one
 * message per subscribed endpoint, in the consumer's transaction (exactly once), and pokes those
 * endpoints. In the processes that consume the outbox, each busy endpoint has a driver: it claims the
 * endpoint's next due messages in order under one claim and lease, sends them one at a time over the
 * endpoint's kept-alive connection (the next only after the previous one's 2xx), and records the batch
 * in one transaction. The scheduler (`tick`, every WEBHOOK_TICK_MS) starts drivers for endpoints whose
 * head message came due (retries) and takes over claims whose lease ran out. Times come from
 * `kernel.clock`, so tests move through a day of retries in an instant; a worker that dies mid-batch
 * leaves a lease that runs out, after which its messages are sent again with the same `webhook-id`.
 */
export class WebhookEngine {
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private again = false;
  private wakeScheduled = false;
  private closed = false;
  private readonly inflight = new Set<AbortController>();
  /** The endpoints this process is sending to now; `dirty` when new messages came in meanwhile. */
  private readonly drivers = new Map<string, { dirty: boolean; done: Promise<void> }>();
  /** An endpoint with due messages found every driver slot taken. */
  private waiting = false;
  /** Kept-alive connections per endpoint (see agentFor). */
  private readonly agents = new Map<string, { agent: http.Agent; url: string; used: number }>();
  /** When each endpoint's health columns were last written by this process. */
  private readonly healthWritten = new Map<string, number>();
  /**
   * Claims this process holds but could not hand to a job or record, because the database went away
   * (with the attempt's result when the send had happened). The next tick settles them, so that an
   * endpoint's queue moves again as soon as the database is back instead of when the lease runs out.
   */
  private readonly stranded = new Map<string, { tenantId: string; messageId: string; claim: string; result?: AttemptResult }>();

  constructor(private readonly kernel: Kernel) {}

  static register(kernel: Kernel): WebhookEngine {
    const engine = new WebhookEngine(kernel);
    engines.set(kernel, engine);
    const { config } = kernel;
    kernel.jobs.define<DeliverJob>(DELIVER_JOB, {
      retryLimit: 0,
      expireInSeconds: 60,
      handler: (data) => engine.deliverClaimed(data),
    });
    kernel.jobs.define<ResendJob>(RESEND_JOB, {
      retryLimit: 0,
      expireInSeconds: Math.ceil(config.WEBHOOK_TIMEOUT_MS / 1000) + 60,
      concurrency: 2,
      handler: (data) => engine.resend(data),
    });
    kernel.jobs.define(CLEANUP_JOB, { retryLimit: 2, handler: () => engine.cleanup().then(() => {}) });
    void kernel.jobs.schedule(CLEANUP_JOB, '23 3 * * *');
    // Woken only by the types some endpoint subscribes to; the rest are read (and skipped) at the poll.
    const interest = consumerInterest(kernel, FANOUT_CONSUMER, async () => {
      const found = await kernel.db.system.execute(sql`select distinct unnest(events) as p from webhooks where status <> 'disabled'`);
      return rows<{ p: string }>(found).map((r) => r.p);
    });
    kernel.outbox.consume({ name: FANOUT_CONSUMER, batchSize: 500, wakeOn: (type) => interest.wants(type), handle: (batch) => engine.fanout(batch) });
    registerDeadLetterSource(kernel, 'webhook', {
      retry: async (ctx, letter) => {
        const message = await lockMessage(ctx, letter.referenceId);
        const webhook = await ctx.db.select().from(webhooks).where(eq(webhooks.id, message.webhookId));
        if (webhook[0]?.status === 'disabled') {
          throw new ApiError('CONFLICT', 'The webhook is disabled; enable it before retrying its messages');
        }
        ctx.afterCommit(() => engine.queueResend(ctx.tenantId, message.id, 'dlq'));
      },
      discard: async (ctx, letter) => {
        await ctx.db
          .update(webhookMessages)
          .set({ status: 'discarded', updatedAt: new Date() })
          .where(and(eq(webhookMessages.id, letter.referenceId), eq(webhookMessages.tenantId, ctx.tenantId)));
      },
    });
    engine.timer = setInterval(() => void engine.tick(), config.WEBHOOK_TICK_MS);
    engine.timer.unref();
    kernel.onClose(() => engine.close());
    return engine;
  }

  get policy(): OutboundPolicy {
    return this.kernel.outbound;
  }

  private now(): Date {
    return new Date(this.kernel.clock.now());
  }

  // ---- fan-out: outbox events -> messages ------------------------------------------------------------

  /** The outbox consumer: one message per event and subscribed endpoint, in stream order. */
  async fanout({ events, tx, afterCommit }: ConsumerBatch): Promise<void> {
    const tenantIds = [...new Set(events.map((e) => e.tenantId))];
    const endpoints = await tx
      .select({ id: webhooks.id, tenantId: webhooks.tenantId, events: webhooks.events, objectTypes: webhooks.objectTypes, applicationId: webhooks.applicationId, createdAt: webhooks.createdAt })
      .from(webhooks)
      .where(and(inArray(webhooks.tenantId, tenantIds), ne(webhooks.status, 'disabled')));
    if (endpoints.length === 0) return;
    const byTenant = new Map<string, typeof endpoints>();
    for (const endpoint of endpoints) {
      const list = byTenant.get(endpoint.tenantId) ?? [];
      list.push(endpoint);
      byTenant.set(endpoint.tenantId, list);
    }
    const now = this.now();
    const values: { id: string; tenantId: string; webhookId: string; eventId: string; eventType: string; body: string }[] = [];
    for (const event of events) {
      const candidates = byTenant.get(event.tenantId);
      if (!candidates) continue;
      let body: string | undefined;
      for (const endpoint of candidates) {
        // An endpoint receives what happened after it was created (not its own creation, nor the
        // history before it: see replay).
        if (endpoint.createdAt.getTime() >= event.createdAt.getTime()) continue;
        if (!subscribes(endpoint, event.type, event.data)) continue;
        body ??= JSON.stringify(publicEvent(event));
        values.push({ id: newId('msg'), tenantId: event.tenantId, webhookId: endpoint.id, eventId: event.id, eventType: event.type, body });
      }
    }
    // Inserted in stream order (WITH ORDINALITY), so `seq` orders each endpoint's messages as the events
    // happened. One JSON parameter, not ten bound per message: building those held the event loop for
    // every delivery of the process (tens of milliseconds for a batch of 500).
    for (let i = 0; i < values.length; i += 500) {
      await tx.execute(sql`
        insert into webhook_messages (id, tenant_id, webhook_id, event_id, event_type, body, status, kind, next_attempt_at)
        select v."id", v."tenantId", v."webhookId", v."eventId", v."eventType", v."body", 'pending', 'event', ${now.toISOString()}::timestamptz
        from rows from (jsonb_to_recordset(${JSON.stringify(values.slice(i, i + 500))}::jsonb)
          as ("id" text, "tenantId" text, "webhookId" text, "eventId" text, "eventType" text, "body" text)) with ordinality
          as v("id", "tenantId", "webhookId", "eventId", "eventType", "body", n)
        order by v.n
        on conflict do nothing`);
    }
    if (values.length) {
      const touched = new Map(values.map((v) => [v.webhookId, v.tenantId]));
      afterCommit(() => this.poke(touched));
    }
  }

  // ---- scheduler -----------------------------------------------------------------------------------

  /** Looks for due work soon (coalesced). */
  wake(): void {
    if (this.wakeScheduled || this.closed) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      void this.tick();
    });
  }

  /**
   * New messages for these endpoints (the fan-out just committed them): their drivers go on, or start,
   * without a scan of every endpoint.
   */
  poke(endpoints: Map<string, string>): void {
    if (this.closed || !this.delivers()) return;
    for (const [webhookId, tenantId] of endpoints) {
      const driver = this.drivers.get(webhookId);
      if (driver) driver.dirty = true;
      else if (!this.drive(webhookId, tenantId)) this.wake();
    }
  }

  /** Deliveries run in the processes that consume the outbox (those that work jobs). */
  private delivers(): boolean {
    return this.kernel.outbox.consuming;
  }

  /** Takes over messages whose sender died, then starts a driver for every endpoint whose head message is due. */
  tick(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    this.ticking = (async () => {
      do {
        this.again = false;
        try {
          await this.settleStranded();
          await this.reclaimExpired();
          if (this.delivers()) await this.dispatchDue();
          this.sweepAgents();
        } catch (error) {
          if (!this.closed) logLoopFailure(this.kernel.log, error, 'webhook scheduler tick failed', {}, 'warn');
        }
      } while (this.again && !this.closed);
    })().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  /** Endpoints whose head message (the oldest not finished) is pending and due get a driver, up to WEBHOOK_CONCURRENCY. */
  private async dispatchDue(): Promise<void> {
    if (this.drivers.size >= this.kernel.config.WEBHOOK_CONCURRENCY) {
      this.waiting = true;
      return;
    }
    const now = this.now();
    const result = await this.kernel.db.system.execute(sql`
      select w.id, w.tenant_id from webhooks w
      cross join lateral (
        select q.status, q.next_attempt_at from webhook_messages q
        where q.webhook_id = w.id and q.kind = 'event' and q.status in ('pending', 'sending')
        order by q.seq limit 1
      ) h
      where w.status = 'active' and h.status = 'pending' and h.next_attempt_at <= ${now.toISOString()}::timestamptz
      limit 500`);
    for (const row of rows<{ id: string; tenant_id: string }>(result)) {
      const driver = this.drivers.get(row.id);
      if (driver) driver.dirty = true;
      else if (!this.drive(row.id, row.tenant_id)) break;
    }
  }

  /**
   * One endpoint's sender in this process: claims its next messages in order (a batch), sends them one
   * after another over the endpoint's kept-alive connection, each only once the one before it was
   * acknowledged (2xx), records the batch in one transaction, and goes on while there is more. False
   * when WEBHOOK_CONCURRENCY drivers are running already.
   */
  private drive(webhookId: string, tenantId: string): boolean {
    if (this.drivers.has(webhookId)) return true;
    if (this.drivers.size >= this.kernel.config.WEBHOOK_CONCURRENCY || this.closed) {
      this.waiting = true;
      return false;
    }
    const driver = { dirty: false, done: Promise.resolve() };
    this.drivers.set(webhookId, driver);
    driver.done = (async () => {
      let sent = 0;
      while (!this.closed && sent < DRIVER_BUDGET) {
        driver.dirty = false;
        const batch = await this.claimBatch(tenantId, webhookId);
        if (!batch) {
          if (driver.dirty) continue;
          return;
        }
        sent += await this.sendBatch(tenantId, batch.webhook, batch.claim, batch.messages);
      }
      // Out of budget: the endpoint goes to the back of the line, behind endpoints that wait for a driver.
      this.wake();
    })()
      .catch((error: unknown) => {
        if (!this.closed) logLoopFailure(this.kernel.log, error, 'webhook delivery failed', { webhookId }, 'warn');
      })
      .finally(() => {
        this.drivers.delete(webhookId);
        // A slot is free: endpoints that found none look again now rather than at the next tick.
        if ((driver.dirty || this.waiting) && !this.closed) {
          this.waiting = false;
          this.wake();
        }
      });
    return true;
  }

  /**
   * Claims the endpoint's next messages: from its head (the oldest unfinished one, which must be
   * pending and due) on, as long as they are pending and due, up to CLAIM_BATCH, all under one claim
   * and lease. An advisory lock per endpoint, taken before the statement's snapshot, makes claims of
   * concurrent processes take turns, so two senders never hold messages of one endpoint at once.
   */
  private async claimBatch(tenantId: string, webhookId: string): Promise<{ webhook: WebhookRow; claim: string; messages: WebhookMessageRow[] } | null> {
    const now = this.now();
    const claim = randomUUID();
    const lease = new Date(now.getTime() + this.kernel.config.WEBHOOK_TIMEOUT_MS + LEASE_MARGIN_MS);
    return this.kernel.db.system.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${ENDPOINT_LOCK_NS}, hashtext(${webhookId}))`);
      const [webhook] = await tx.select().from(webhooks).where(and(eq(webhooks.id, webhookId), eq(webhooks.tenantId, tenantId)));
      if (!webhook || webhook.status !== 'active') return null;
      const due = sql`(
        with q as (
          select q.id, q.seq, q.status, q.next_attempt_at from webhook_messages q
          where q.webhook_id = ${webhookId} and q.kind = 'event' and q.status in ('pending', 'sending')
          order by q.seq limit ${CLAIM_BATCH}
        )
        select q.id from q
        where q.seq < coalesce((select min(s.seq) from q s where s.status <> 'pending' or s.next_attempt_at > ${now.toISOString()}::timestamptz), 9223372036854775807)
      )`;
      const messages = await tx
        .update(webhookMessages)
        .set({ status: 'sending', claim, leaseUntil: lease, updatedAt: new Date() })
        .where(and(eq(webhookMessages.webhookId, webhookId), inArray(webhookMessages.id, due), eq(webhookMessages.status, 'pending')))
        .returning();
      if (messages.length === 0) return null;
      messages.sort((a, b) => a.seq - b.seq);
      return { webhook, claim, messages };
    });
  }

  /**
   * Sends a claimed batch in order and records it. A failure ends the batch: the failed message follows
   * the retry schedule and the ones behind it are given back unsent, so nothing overtakes it. Returns
   * the number of messages sent.
   */
  private async sendBatch(tenantId: string, webhook: WebhookRow, claim: string, messages: WebhookMessageRow[]): Promise<number> {
    const started = performance.now();
    const keys = this.signingKeys(webhook);
    const agent = this.agentFor(webhook);
    // The URL is resolved and checked once for the batch (bounded by the lease, seconds).
    const reuse = {};
    const sent: { message: WebhookMessageRow; result: AttemptResult }[] = [];
    for (const message of messages) {
      // Within the lease: a send may take the whole timeout, and the lease must outlast it.
      if (this.closed || performance.now() - started > LEASE_MARGIN_MS - 5_000) break;
      const result = await this.send(webhook, message, { keys, agent, reuse });
      if (result.aborted) break;
      sent.push({ message, result });
      if (!result.ok) break;
    }
    const unsent = messages.slice(sent.length);
    try {
      await this.recordBatch(tenantId, webhook, claim, sent, unsent);
    } catch (error) {
      if (isDatabaseUnavailable(error) && !this.closed) {
        for (const { message, result } of sent) this.stranded.set(message.id, { tenantId, messageId: message.id, claim, result });
        for (const message of unsent) this.stranded.set(message.id, { tenantId, messageId: message.id, claim });
      }
      throw error;
    }
    return sent.length;
  }

  /** Gives back the claims the database's absence left here, or records their attempts (see `stranded`). */
  private async settleStranded(): Promise<void> {
    for (const entry of [...this.stranded.values()]) {
      if (entry.result) await this.recordScheduled(entry.tenantId, entry.messageId, entry.claim, entry.result);
      else await this.release(entry.tenantId, entry.messageId, entry.claim);
      this.stranded.delete(entry.messageId);
    }
  }

  /**
   * A claim whose lease ran out: its sender died or hung. Each message it held counts as a failed
   * (interrupted) attempt, since it may have been sent, and the schedule goes on from the oldest.
   */
  private async reclaimExpired(): Promise<void> {
    // The partial index's own predicate, written out rather than bound: a prepared statement (PGlite's
    // are) with `status = $1` cannot use an index whose predicate names the value, so it was planned anew
    // on every poll, about 4 ms of WASM on the event loop each second on PGlite.
    const expired = await this.kernel.db.system
      .select({ id: webhookMessages.id, tenantId: webhookMessages.tenantId, claim: webhookMessages.claim })
      .from(webhookMessages)
      .where(and(sql`${webhookMessages.status} = 'sending' and ${webhookMessages.kind} = 'event'`, lte(webhookMessages.leaseUntil, this.now())))
      .orderBy(asc(webhookMessages.seq))
      .limit(100);
    for (const message of expired) {
      const result: AttemptResult = {
        ok: false,
        status: null,
        body: null,
        error: 'The attempt was interrupted: the worker stopped before it recorded a response',
        latencyMs: null,
        retryAfterMs: null,
      };
      await this.recordScheduled(message.tenantId, message.id, message.claim!, result);
    }
  }

  // ---- sending -------------------------------------------------------------------------------------

  /**
   * The pg-boss job of earlier versions, which sent one claimed message: jobs queued before an upgrade
   * give their claim back, and the endpoint's driver sends it in order.
   */
  async deliverClaimed(job: DeliverJob): Promise<void> {
    await this.release(job.tenantId, job.messageId, job.claim);
    this.wake();
  }

  /** An endpoint's keep-alive agent: one connection, reused from message to message. */
  private agentFor(webhook: WebhookRow): http.Agent {
    const found = this.agents.get(webhook.id);
    const https_ = webhook.url.startsWith('https:');
    if (found && found.url === webhook.url) {
      found.used = Date.now();
      return found.agent;
    }
    found?.agent.destroy();
    // Idle sockets close after 4 s, before the 5 s after which Node servers (and many others) drop them.
    const options = { keepAlive: true, maxSockets: 1, timeout: 4_000, scheduling: 'lifo' as const };
    const agent = https_ ? new https.Agent(options) : new http.Agent(options);
    this.agents.set(webhook.id, { agent, url: webhook.url, used: Date.now() });
    return agent;
  }

  /** Closes the connections of endpoints that sent nothing for a minute. */
  private sweepAgents(): void {
    const cutoff = Date.now() - 60_000;
    for (const [id, entry] of this.agents) {
      if (entry.used < cutoff && !this.drivers.has(id)) {
        entry.agent.destroy();
        this.agents.delete(id);
      }
    }
  }

  private async load(tenantId: string, messageId: string): Promise<{ message: WebhookMessageRow; webhook: WebhookRow } | null> {
    return runInTenant(this.kernel, { tenantId, actor: SYSTEM_ACTOR, requestId: null }, async (ctx) => {
      const [found] = await ctx.db
        .select({ message: webhookMessages, webhook: webhooks })
        .from(webhookMessages)
        .innerJoin(webhooks, eq(webhooks.id, webhookMessages.webhookId))
        .where(and(eq(webhookMessages.id, messageId), eq(webhookMessages.tenantId, tenantId)));
      return found ?? null;
    });
  }

  /** Gives a claimed message back without counting an attempt (endpoint paused, or shutting down). */
  private async release(tenantId: string, messageId: string, claim: string): Promise<void> {
    await runInTenant(this.kernel, { tenantId, actor: SYSTEM_ACTOR, requestId: null }, (ctx) =>
      ctx.db
        .update(webhookMessages)
        .set({ status: 'pending', claim: null, leaseUntil: null, updatedAt: new Date() })
        .where(and(eq(webhookMessages.id, messageId), eq(webhookMessages.claim, claim), eq(webhookMessages.status, 'sending'))),
    );
  }

  /** One HTTP attempt: signed, SSRF-checked at send time, bounded by WEBHOOK_TIMEOUT_MS, no redirects. */
  async send(
    webhook: WebhookRow,
    message: Pick<WebhookMessageRow, 'id' | 'body'>,
    options: { keys?: SigningKeys; agent?: http.Agent; reuse?: OutboundRequest['reuse'] } = {},
  ): Promise<AttemptResult> {
    // The timestamp is real wall time: receivers compare it with their own clock.
    const timestamp = new Date();
    const keys = options.keys ?? this.signingKeys(webhook);
    const headers = {
      'content-type': 'application/json',
      'user-agent': `Plinth-Webhooks/${VERSION}`,
      'webhook-id': message.id,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': signatureHeader(keys, message.id, timestamp, message.body, this.kernel.clock.now()),
    };
    const controller = new AbortController();
    this.inflight.add(controller);
    const started = performance.now();
    try {
      const res = await outboundRequest(
        webhook.url,
        {
          headers,
          body: message.body,
          timeoutMs: this.kernel.config.WEBHOOK_TIMEOUT_MS,
          maxResponseBytes: RESPONSE_BODY_BYTES,
          signal: controller.signal,
          agent: options.agent,
          reuse: options.reuse,
        },
        this.policy,
      );
      const ok = res.status >= 200 && res.status < 300;
      const retryAfter = res.status === 429 || res.status === 503 ? parseRetryAfter(res.headers['retry-after']) : null;
      let error: string | null = null;
      if (!ok) {
        error = `The endpoint answered HTTP ${res.status}`;
        if (res.status >= 300 && res.status < 400) error += ' (redirects are not followed)';
      }
      return {
        ok,
        status: res.status,
        body: res.body,
        error,
        latencyMs: res.latencyMs,
        retryAfterMs: retryAfter === null ? null : Math.min(Math.max(retryAfter, 1000), RETRY_AFTER_MAX_MS),
      };
    } catch (error) {
      if (controller.signal.aborted) return { ok: false, status: null, body: null, error: 'aborted', latencyMs: null, retryAfterMs: null, aborted: true };
      const reason = error instanceof OutboundBlockedError ? `Refused to send: ${error.message}` : `Request failed: ${(error as Error).message}`;
      return { ok: false, status: null, body: null, error: reason, latencyMs: Math.round(performance.now() - started), retryAfterMs: null };
    } finally {
      this.inflight.delete(controller);
    }
  }

  // ---- recording -----------------------------------------------------------------------------------

  /**
   * Records a sent batch in one transaction: the acknowledged messages delivered (one UPDATE) with an
   * attempt each in the log (one INSERT), the failed one (at most the last) on the retry schedule as
   * recordScheduled does, and the unsent ones given back without an attempt.
   */
  private async recordBatch(
    tenantId: string,
    webhook: WebhookRow,
    claim: string,
    sent: { message: WebhookMessageRow; result: AttemptResult }[],
    unsent: WebhookMessageRow[],
  ): Promise<void> {
    await runInTenant(this.kernel, { tenantId, actor: SYSTEM_ACTOR, requestId: null }, async (ctx) => {
      const delivered = sent.filter((s) => s.result.ok);
      const failed = sent.find((s) => !s.result.ok);
      if (delivered.length > 0) {
        const values = JSON.stringify(delivered.map(({ message, result }) => ({ id: message.id, code: result.status })));
        const updated = rows<{ id: string; sends: number }>(
          await ctx.db.execute(sql`
            update webhook_messages m
            set status = 'delivered', attempts = m.attempts + 1, sends = m.sends + 1, claim = null, lease_until = null,
                last_error = null, last_response_code = v.code, delivered_at = now(), updated_at = now()
            from jsonb_to_recordset(${values}::jsonb) as v(id text, code int)
            where m.id = v.id and m.tenant_id = ${tenantId} and m.claim = ${claim} and m.status = 'sending'
            returning m.id, m.sends`),
        );
        const sends = new Map(updated.map((u) => [u.id, Number(u.sends)]));
        const log: (typeof webhookDeliveries.$inferInsert)[] = [];
        for (const { message, result } of delivered) {
          let attempt = sends.get(message.id);
          if (attempt === undefined) {
            // Another worker took the message over while this one was sending: keep the attempt on record only.
            const [bumped] = await ctx.db
              .update(webhookMessages)
              .set({ sends: sql`${webhookMessages.sends} + 1` })
              .where(eq(webhookMessages.id, message.id))
              .returning({ sends: webhookMessages.sends });
            if (!bumped) continue;
            attempt = bumped.sends;
          }
          log.push(deliveryRow(tenantId, message, webhook, attempt, 'scheduled', result, null));
        }
        // One JSON parameter, not fifteen bound per attempt (see fanout).
        for (let i = 0; i < log.length; i += 500) {
          await ctx.db.execute(sql`
            insert into webhook_deliveries (id, tenant_id, webhook_id, message_id, event_id, event_type, attempt, trigger, status,
                                            response_code, response_body, error, latency_ms, url, next_attempt_at)
            select v."id", v."tenantId", v."webhookId", v."messageId", v."eventId", v."eventType", v."attempt", v."trigger", v."status",
                   v."responseCode", v."responseBody", v."error", v."latencyMs", v."url", v."nextAttemptAt"
            from jsonb_to_recordset(${JSON.stringify(log.slice(i, i + 500))}::jsonb)
              as v("id" text, "tenantId" text, "webhookId" text, "messageId" text, "eventId" text, "eventType" text, "attempt" int,
                   "trigger" text, "status" text, "responseCode" int, "responseBody" text, "error" text, "latencyMs" int, "url" text,
                   "nextAttemptAt" timestamptz)`);
        }
      }
      if (failed) await this.recordAttempt(ctx, failed.message, webhook, claim, failed.result);
      else if (delivered.length > 0) await this.updateEndpoint(ctx, webhook, delivered.at(-1)!.result);
      if (unsent.length > 0) {
        await ctx.db
          .update(webhookMessages)
          .set({ status: 'pending', claim: null, leaseUntil: null, updatedAt: new Date() })
          .where(and(inArray(webhookMessages.id, unsent.map((m) => m.id)), eq(webhookMessages.claim, claim), eq(webhookMessages.status, 'sending')));
      }
    });
  }

  /** The signing keys of an endpoint, opened once for a batch. */
  private signingKeys(webhook: WebhookRow): SigningKeys {
    // Every send (scheduled, test, replay, delivery and DLQ retries) comes through here, so this is
    // the one place the stored secrets are opened; clear ones from before PLINTH_ENCRYPTION_KEY pass as they are.
    const box = this.kernel.secrets;
    return {
      secret: box.open(webhook.secret),
      previousSecret: webhook.previousSecret === null ? null : box.open(webhook.previousSecret),
      previousSecretExpiresAt: webhook.previousSecretExpiresAt,
    };
  }

  /** Records a scheduled attempt and moves the message on: delivered, retried later, or dead-lettered. */
  private async recordScheduled(tenantId: string, messageId: string, claim: string, result: AttemptResult): Promise<void> {
    await runInTenant(this.kernel, { tenantId, actor: SYSTEM_ACTOR, requestId: null }, async (ctx) => {
      const message = await lockMessage(ctx, messageId).catch(() => null);
      if (!message) return;
      const [webhook] = await ctx.db.select().from(webhooks).where(eq(webhooks.id, message.webhookId));
      if (!webhook) return;
      await this.recordAttempt(ctx, message, webhook, claim, result);
    });
  }

  /** One scheduled attempt of a claimed message, in the caller's transaction. */
  private async recordAttempt(ctx: TenantContext, message: WebhookMessageRow, webhook: WebhookRow, claim: string, result: AttemptResult): Promise<void> {
    const messageId = message.id;
    // The claim holder is the only one to move the schedule, so its copy of `attempts` is current.
    const now = this.kernel.clock.now();
    const attempts = message.attempts + 1;
    let status: WebhookMessageRow['status'];
    let next: Date | null = null;
    if (result.ok) status = 'delivered';
    else if (result.status === 410) status = 'pending';
    else if (attempts >= MAX_ATTEMPTS) status = 'dead';
    else {
      status = 'pending';
      next = new Date(now + (result.retryAfterMs ?? RETRY_DELAYS_MS[attempts - 1]!));
    }
    const [updated] = await ctx.db
      .update(webhookMessages)
      .set({
        status,
        attempts,
        sends: sql`${webhookMessages.sends} + 1`,
        claim: null,
        leaseUntil: null,
        nextAttemptAt: next ?? message.nextAttemptAt,
        lastError: result.error,
        lastResponseCode: result.status,
        deliveredAt: result.ok ? new Date() : null,
        updatedAt: new Date(),
      })
      .where(and(eq(webhookMessages.id, messageId), eq(webhookMessages.claim, claim), eq(webhookMessages.status, 'sending')))
      .returning({ sends: webhookMessages.sends });
    if (!updated) {
      // Another worker took the message over while this one was sending: keep the attempt on record only.
      const [bumped] = await ctx.db
        .update(webhookMessages)
        .set({ sends: sql`${webhookMessages.sends} + 1` })
        .where(eq(webhookMessages.id, messageId))
        .returning({ sends: webhookMessages.sends });
      if (bumped) await this.insertDelivery(ctx, message, webhook, bumped.sends, 'scheduled', result, null);
      return;
    }
    await this.insertDelivery(ctx, message, webhook, updated.sends, 'scheduled', result, next);
    await this.updateEndpoint(ctx, webhook, result);
    if (status === 'dead') await this.deadLetter(ctx, message, webhook, attempts, result);
  }

  /** Records a one-off attempt (test, replay, manual or DLQ retry); it does not move the retry schedule. */
  async recordOneOff(tenantId: string, messageId: string, trigger: Trigger, result: AttemptResult): Promise<WebhookDeliveryRow | null> {
    return runInTenant(this.kernel, { tenantId, actor: SYSTEM_ACTOR, requestId: null }, async (ctx) => {
      const message = await lockMessage(ctx, messageId).catch(() => null);
      if (!message) return null;
      const [webhook] = await ctx.db.select().from(webhooks).where(eq(webhooks.id, message.webhookId));
      if (!webhook) return null;
      const attempt = message.sends + 1;
      const update: PgUpdateSetSource<typeof webhookMessages> = { sends: sql`${webhookMessages.sends} + 1`, lastError: result.error, lastResponseCode: result.status, updatedAt: new Date() };
      const inFlight = message.kind === 'event' && message.status === 'sending';
      if (result.ok && !inFlight) {
        update.status = 'delivered';
        update.deliveredAt = new Date();
        if (message.status === 'dead') await resolveDeadLetter(ctx.db, 'webhook', message.id);
      } else if (!result.ok && message.kind !== 'event' && message.status === 'sending') {
        update.status = 'failed';
      }
      await ctx.db.update(webhookMessages).set(update).where(eq(webhookMessages.id, messageId));
      const delivery = await this.insertDelivery(ctx, message, webhook, attempt, trigger, result, null);
      await this.updateEndpoint(ctx, webhook, result);
      // A failed retry of a dead message puts it back in the DLQ with the new error.
      if (!result.ok && message.status === 'dead') await this.deadLetter(ctx, message, webhook, message.attempts, result);
      return delivery;
    });
  }

  private async insertDelivery(
    ctx: TenantContext,
    message: WebhookMessageRow,
    webhook: WebhookRow,
    attempt: number,
    trigger: Trigger,
    result: AttemptResult,
    next: Date | null,
  ): Promise<WebhookDeliveryRow> {
    const [row] = await ctx.db.insert(webhookDeliveries).values(deliveryRow(ctx.tenantId, message, webhook, attempt, trigger, result, next)).returning();
    return row!;
  }

  /**
   * Endpoint health, and 410 Gone: the receiver says the endpoint is no more, so it is disabled. A run
   * of successes rewrites the row at most once a second (a hot endpoint would otherwise write its row
   * with every message).
   */
  private async updateEndpoint(ctx: TenantContext, webhook: WebhookRow, result: AttemptResult): Promise<void> {
    const now = new Date();
    const gone = result.status === 410 && webhook.status !== 'disabled';
    const last = this.healthWritten.get(webhook.id) ?? 0;
    if (result.ok && webhook.consecutiveFailures === 0 && now.getTime() - last < 1000) return;
    this.healthWritten.set(webhook.id, now.getTime());
    if (this.healthWritten.size > 10_000) this.healthWritten.clear();
    await ctx.db
      .update(webhooks)
      .set({
        lastDeliveryAt: now,
        ...(result.ok ? { lastSuccessAt: now, consecutiveFailures: 0 } : { consecutiveFailures: sql`${webhooks.consecutiveFailures} + 1` }),
        ...(gone ? { status: 'disabled' as const, disabledReason: 'The endpoint answered 410 Gone', updatedAt: now } : {}),
      })
      .where(eq(webhooks.id, webhook.id));
    webhook.consecutiveFailures = result.ok ? 0 : webhook.consecutiveFailures + 1;
    if (gone) {
      webhook.status = 'disabled';
      await ctx.emit({
        type: 'webhook.disabled',
        resourceType: 'webhook',
        resourceId: webhook.id,
        data: { url: webhook.url, reason: 'The endpoint answered 410 Gone' },
      });
    }
  }

  private async deadLetter(ctx: TenantContext, message: WebhookMessageRow, webhook: WebhookRow, attempts: number, result: AttemptResult) {
    await addDeadLetter(ctx.db, {
      tenantId: ctx.tenantId,
      source: 'webhook',
      referenceId: message.id,
      error: result.error,
      attempts,
      summary: {
        webhook_id: webhook.id,
        url: webhook.url,
        message_id: message.id,
        event_id: message.eventId,
        event_type: message.eventType,
        last_response_code: result.status,
      },
    });
  }

  // ---- one-off sends -------------------------------------------------------------------------------

  /** Queues a one-off resend of a message (delivery retry, DLQ retry) with its `webhook-id`. */
  async queueResend(tenantId: string, messageId: string, trigger: Trigger): Promise<void> {
    await this.kernel.jobs.send<ResendJob>(RESEND_JOB, { tenantId, messageId, trigger });
  }

  private async resend(job: ResendJob): Promise<void> {
    const loaded = await this.load(job.tenantId, job.messageId);
    if (!loaded) return;
    const result =
      loaded.webhook.status === 'disabled'
        ? { ok: false, status: null, body: null, error: 'The webhook is disabled', latencyMs: null, retryAfterMs: null }
        : await this.send(loaded.webhook, loaded.message);
    if (result.aborted) {
      await this.requeueDeadLetter(job.tenantId, job.messageId, 'The retry was interrupted by a shutdown');
      return;
    }
    await this.recordOneOff(job.tenantId, job.messageId, job.trigger, result);
  }

  private async requeueDeadLetter(tenantId: string, messageId: string, error: string): Promise<void> {
    await runInTenant(this.kernel, { tenantId, actor: SYSTEM_ACTOR, requestId: null }, async (ctx) => {
      const message = await lockMessage(ctx, messageId).catch(() => null);
      const [webhook] = message ? await ctx.db.select().from(webhooks).where(eq(webhooks.id, message.webhookId)) : [];
      if (message?.status === 'dead' && webhook) {
        await this.deadLetter(ctx, message, webhook, message.attempts, { ok: false, status: null, body: null, error, latencyMs: null, retryAfterMs: null });
      }
    });
  }

  /** Sends a one-off message now and records it (test and replay routes wait for the answer). */
  async sendNow(tenantId: string, messageId: string, trigger: Trigger): Promise<WebhookDeliveryRow> {
    const loaded = await this.load(tenantId, messageId);
    if (!loaded) throw new Error(`message ${messageId} vanished`);
    const result = await this.send(loaded.webhook, loaded.message);
    const delivery = await this.recordOneOff(tenantId, messageId, trigger, result.aborted ? { ...result, error: 'The server is shutting down' } : result);
    return delivery!;
  }

  /**
   * Daily: drops delivery attempts and finished messages older than WEBHOOK_LOG_RETENTION_DAYS, across
   * tenants (system work). Pending messages and those in the DLQ stay, whatever their age.
   */
  async cleanup(): Promise<{ deliveries: number; messages: number }> {
    const before = new Date(Date.now() - this.kernel.config.WEBHOOK_LOG_RETENTION_DAYS * 86_400_000);
    const db = this.kernel.db.system;
    const deliveries = await db.delete(webhookDeliveries).where(lte(webhookDeliveries.createdAt, before)).returning({ id: webhookDeliveries.id });
    const messages = await db
      .delete(webhookMessages)
      .where(and(inArray(webhookMessages.status, ['delivered', 'failed', 'discarded']), lte(webhookMessages.updatedAt, before)))
      .returning({ id: webhookMessages.id });
    return { deliveries: deliveries.length, messages: messages.length };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const controller of this.inflight) controller.abort();
    if (this.ticking) await settleWithin(this.ticking, 5_000);
    await settleWithin(Promise.allSettled([...this.drivers.values()].map((d) => d.done)), 5_000);
    for (const { agent } of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}

/** The delivery log's row for one attempt. */
function deliveryRow(
  tenantId: string,
  message: WebhookMessageRow,
  webhook: WebhookRow,
  attempt: number,
  trigger: Trigger,
  result: AttemptResult,
  next: Date | null,
): typeof webhookDeliveries.$inferInsert {
  return {
    id: newId('whd'),
    tenantId,
    webhookId: webhook.id,
    messageId: message.id,
    eventId: message.eventId,
    eventType: message.eventType,
    attempt,
    trigger,
    status: result.ok ? 'succeeded' : 'failed',
    responseCode: result.status,
    responseBody: result.body === null ? null : result.body.slice(0, RESPONSE_BODY_BYTES),
    error: result.error,
    latencyMs: result.latencyMs,
    url: webhook.url,
    nextAttemptAt: next,
  };
}

/** A message of the context's tenant, locked for update. */
export async function lockMessage(ctx: TenantContext, messageId: string): Promise<WebhookMessageRow> {
  const [row] = await ctx.db
    .select()
    .from(webhookMessages)
    .where(and(eq(webhookMessages.id, messageId), eq(webhookMessages.tenantId, ctx.tenantId)))
    .for('update');
  if (!row) throw notFound('Webhook message');
  return row;
}
