import { randomUUID } from 'node:crypto';
import { and, eq, inArray, lte, ne, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import { runInTenant, type TenantContext } from '../../core/context.ts';
import { rows, type Db } from '../../core/db/client.ts';
import { isDatabaseUnavailable, logLoopFailure } from '../../core/db/errors.ts';
import { matchesAny, objectTypeOf, publicEvent } from '../../core/events/format.ts';
import { settleWithin, type ConsumerBatch } from '../../core/events/outbox.ts';
import { ApiError, notFound } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import type { Kernel } from '../../core/kernel.ts';
import { OutboundBlockedError, outboundRequest, type OutboundPolicy } from '../../core/net/outbound.ts';
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
/** Messages of one endpoint a job sends in a row before it hands the endpoint back to the scheduler. */
const DRAIN_BUDGET = 100;
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

/** Whether an endpoint subscribes to an event: its type patterns, then its object types for object events. */
export function subscribes(webhook: Pick<WebhookRow, 'events' | 'objectTypes'>, type: string, data: Record<string, unknown>): boolean {
  if (!matchesAny(webhook.events, type)) return false;
  if (webhook.objectTypes.length === 0) return true;
  const objectType = objectTypeOf(data);
  return objectType === null || webhook.objectTypes.includes(objectType);
}

/**
 * Delivery of webhook messages. The outbox consumer `webhooks.fanout` turns each event into one
 * message per subscribed endpoint, in the consumer's transaction (exactly once). The scheduler (`tick`,
 * every WEBHOOK_TICK_MS and whenever there is news) claims the head message of each active endpoint
 * once it is due and queues a pg-boss job for it; the job sends it, records the attempt, and goes on
 * with the endpoint's next message. Times come from `kernel.clock`, so tests move through a day of
 * retries in an instant; a claim carries a lease, and a worker that dies mid-send leaves a lease that
 * runs out, after which the message is sent again with the same `webhook-id`.
 */
export class WebhookEngine {
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private again = false;
  private wakeScheduled = false;
  private closed = false;
  private readonly inflight = new Set<AbortController>();
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
      expireInSeconds: Math.ceil((config.WEBHOOK_TIMEOUT_MS * DRAIN_BUDGET) / 1000) + 60,
      concurrency: config.WEBHOOK_CONCURRENCY,
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
    kernel.outbox.consume({ name: FANOUT_CONSUMER, batchSize: 500, handle: (batch) => engine.fanout(batch) });
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
      .select({ id: webhooks.id, tenantId: webhooks.tenantId, events: webhooks.events, objectTypes: webhooks.objectTypes, createdAt: webhooks.createdAt })
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
    const values: (typeof webhookMessages.$inferInsert)[] = [];
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
        values.push({
          id: newId('msg'),
          tenantId: event.tenantId,
          webhookId: endpoint.id,
          eventId: event.id,
          eventType: event.type,
          body,
          status: 'pending',
          kind: 'event',
          nextAttemptAt: now,
        });
      }
    }
    // Inserted in stream order, so `seq` orders each endpoint's messages as the events happened.
    for (let i = 0; i < values.length; i += 500) {
      await tx.insert(webhookMessages).values(values.slice(i, i + 500)).onConflictDoNothing();
    }
    if (values.length) afterCommit(() => this.wake());
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

  /** Takes over messages whose sender died, then claims every endpoint's head message that is due. */
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
          const claimed = await this.claimDue();
          if (claimed >= 200) this.again = true;
        } catch (error) {
          if (!this.closed) logLoopFailure(this.kernel.log, error, 'webhook scheduler tick failed', {}, 'warn');
        }
      } while (this.again && !this.closed);
    })().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  /**
   * Claims due head messages: per active endpoint the oldest message not yet finished, if it is
   * pending and its time has come. The `status = 'pending'` re-check makes concurrent schedulers (one
   * per process) claim each message once.
   */
  private async claimDue(webhookId?: string, limit = 200): Promise<number> {
    const now = this.now();
    const claim = randomUUID();
    const lease = new Date(now.getTime() + this.kernel.config.WEBHOOK_TIMEOUT_MS + LEASE_MARGIN_MS);
    const onlyWebhook = webhookId ? sql`and w.id = ${webhookId}` : sql``;
    const result = await this.kernel.db.system.execute(sql`
      update webhook_messages m
      set status = 'sending', claim = ${claim}, lease_until = ${lease.toISOString()}::timestamptz, updated_at = now()
      from (
        select h.id from webhooks w
        cross join lateral (
          select q.id, q.status, q.next_attempt_at from webhook_messages q
          where q.webhook_id = w.id and q.kind = 'event' and q.status in ('pending', 'sending')
          order by q.seq limit 1
        ) h
        where w.status = 'active' and h.status = 'pending' and h.next_attempt_at <= ${now.toISOString()}::timestamptz ${onlyWebhook}
        limit ${limit}
      ) due
      where m.id = due.id and m.status = 'pending'
      returning m.id, m.tenant_id`);
    const claimed = rows<{ id: string; tenant_id: string }>(result);
    if (webhookId) return claimed.length;
    for (const [i, row] of claimed.entries()) {
      try {
        await this.kernel.jobs.send<DeliverJob>(DELIVER_JOB, { tenantId: row.tenant_id, messageId: row.id, claim });
      } catch (error) {
        if (!isDatabaseUnavailable(error)) throw error;
        for (const unsent of claimed.slice(i)) this.stranded.set(unsent.id, { tenantId: unsent.tenant_id, messageId: unsent.id, claim });
        throw error;
      }
    }
    return claimed.length;
  }

  /** Gives back the claims the database's absence left here, or records their attempts (see `stranded`). */
  private async settleStranded(): Promise<void> {
    for (const entry of [...this.stranded.values()]) {
      if (entry.result) await this.recordScheduled(entry.tenantId, entry.messageId, entry.claim, entry.result);
      else await this.release(entry.tenantId, entry.messageId, entry.claim);
      this.stranded.delete(entry.messageId);
    }
  }

  /** A claim whose lease ran out: its sender died or hung. The attempt counts as failed, and the schedule goes on. */
  private async reclaimExpired(): Promise<void> {
    const expired = await this.kernel.db.system
      .select({ id: webhookMessages.id, tenantId: webhookMessages.tenantId, claim: webhookMessages.claim })
      .from(webhookMessages)
      .where(and(eq(webhookMessages.status, 'sending'), eq(webhookMessages.kind, 'event'), lte(webhookMessages.leaseUntil, this.now())))
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

  /** The job: sends a claimed message, records it, and keeps going with the endpoint's next message. */
  async deliverClaimed(job: DeliverJob): Promise<void> {
    // The claim in hand, and the result of its attempt once sent: what is stranded if the database goes.
    let held: { messageId: string; claim: string; result?: AttemptResult } = { messageId: job.messageId, claim: job.claim };
    try {
      const loaded = await this.load(job.tenantId, job.messageId);
      if (!loaded || loaded.message.status !== 'sending' || loaded.message.claim !== job.claim) return;
      const { webhook } = loaded;
      let current: { message: WebhookMessageRow; claim: string } | null = { message: loaded.message, claim: job.claim };
      if (webhook.status !== 'active') {
        await this.release(job.tenantId, job.messageId, job.claim);
        return;
      }
      for (let sent = 0; current && !this.closed; sent++) {
        held = { messageId: current.message.id, claim: current.claim };
        const result = await this.send(webhook, current.message);
        if (result.aborted) {
          await this.release(job.tenantId, current.message.id, current.claim).catch(() => {});
          return;
        }
        held.result = result;
        // Claim the next one only if this job will send it: a claim left unsent waits out its lease.
        const more = sent + 1 < DRAIN_BUDGET && !this.closed;
        current = await this.recordScheduled(job.tenantId, current.message.id, current.claim, result, { message: current.message, webhook, claimNext: more });
      }
    } catch (error) {
      if (isDatabaseUnavailable(error) && !this.closed) this.stranded.set(held.messageId, { tenantId: job.tenantId, ...held });
      throw error;
    }
    this.wake();
  }

  /** Claims the endpoint's head message if it is pending and due (the endpoint still active); returns it. */
  private async claimNext(db: Db, tenantId: string, webhookId: string): Promise<{ message: WebhookMessageRow; claim: string } | null> {
    const now = this.now();
    const claim = randomUUID();
    const lease = new Date(now.getTime() + this.kernel.config.WEBHOOK_TIMEOUT_MS + LEASE_MARGIN_MS);
    const head = sql`(select q.id from webhook_messages q
      where q.webhook_id = ${webhookId} and q.kind = 'event' and q.status in ('pending', 'sending')
      order by q.seq limit 1)`;
    const [message] = await db
      .update(webhookMessages)
      .set({ status: 'sending', claim, leaseUntil: lease, updatedAt: new Date() })
      .where(
        and(
          eq(webhookMessages.id, head),
          eq(webhookMessages.tenantId, tenantId),
          eq(webhookMessages.status, 'pending'),
          lte(webhookMessages.nextAttemptAt, now),
          sql`exists (select 1 from webhooks w where w.id = ${webhookId} and w.status = 'active')`,
        ),
      )
      .returning();
    return message ? { message, claim } : null;
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
  async send(webhook: WebhookRow, message: Pick<WebhookMessageRow, 'id' | 'body'>): Promise<AttemptResult> {
    // The timestamp is real wall time: receivers compare it with their own clock.
    const timestamp = new Date();
    // Every send (scheduled, test, replay, delivery and DLQ retries) comes through here, so this is
    // the one place the stored secrets are opened; clear ones from before PLINTH_ENCRYPTION_KEY pass as they are.
    const box = this.kernel.secrets;
    const keys: SigningKeys = {
      secret: box.open(webhook.secret),
      previousSecret: webhook.previousSecret === null ? null : box.open(webhook.previousSecret),
      previousSecretExpiresAt: webhook.previousSecretExpiresAt,
    };
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
        { headers, body: message.body, timeoutMs: this.kernel.config.WEBHOOK_TIMEOUT_MS, maxResponseBytes: RESPONSE_BODY_BYTES, signal: controller.signal },
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

  /** Records a scheduled attempt and moves the message on: delivered, retried later, or dead-lettered. */
  private async recordScheduled(
    tenantId: string,
    messageId: string,
    claim: string,
    result: AttemptResult,
    known?: { message: WebhookMessageRow; webhook: WebhookRow; claimNext: boolean },
  ): Promise<{ message: WebhookMessageRow; claim: string } | null> {
    return runInTenant(this.kernel, { tenantId, actor: SYSTEM_ACTOR, requestId: null }, async (ctx) => {
      const message = known?.message ?? (await lockMessage(ctx, messageId).catch(() => null));
      if (!message) return null;
      const webhook = known?.webhook ?? (await ctx.db.select().from(webhooks).where(eq(webhooks.id, message.webhookId)))[0];
      if (!webhook) return null;
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
        return null;
      }
      await this.insertDelivery(ctx, message, webhook, updated.sends, 'scheduled', result, next);
      await this.updateEndpoint(ctx, webhook, result);
      if (status === 'dead') await this.deadLetter(ctx, message, webhook, attempts, result);
      // The endpoint's next message is claimed in the same transaction: one round of BEGIN/COMMIT less.
      return known?.claimNext && result.ok ? this.claimNext(ctx.db, tenantId, webhook.id) : null;
    });
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
    const [row] = await ctx.db
      .insert(webhookDeliveries)
      .values({
        id: newId('whd'),
        tenantId: ctx.tenantId,
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
      })
      .returning();
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
  }
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
