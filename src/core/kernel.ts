import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Clock } from './clock.ts';
import type { SecretBox } from './crypto/secret-box.ts';
import type { PrincipalResolvers } from './auth/principal.ts';
import type { Database } from './db/client.ts';
import type { Outbox } from './events/outbox.ts';
import type { OutboundPolicy } from './net/outbound.ts';
import type { Jobs } from './jobs/jobs.ts';
import type { RateLimits } from './limits/rate-limit.ts';
import type { RequestQuota } from './limits/quota.ts';
import type { RequestStats } from './limits/request-stats.ts';
import type { Bus } from './providers/bus.ts';
import type { Mailer } from './providers/mail.ts';
import type { KeyValueStore } from './providers/kv.ts';
import type { StorageProvider } from './providers/storage.ts';

/**
 * The running kernel of one server: everything a module's routes and services may use, wired once in
 * app.ts and passed explicitly (no module-level singletons, so tests run many kernels side by side).
 */
export interface Kernel {
  readonly config: Config;
  readonly log: Logger;
  readonly db: Database;
  readonly kv: KeyValueStore;
  readonly bus: Bus;
  readonly redis?: Redis;
  readonly principals: PrincipalResolvers;
  readonly rateLimits: RateLimits;
  readonly quota: RequestQuota;
  /** Hourly request counts and latency per tenant and route family (tenant analytics). */
  readonly requestStats: RequestStats;
  readonly jobs: Jobs;
  readonly mail: Mailer;
  /** File bytes: a local directory, or S3-compatible storage with S3_BUCKET. */
  readonly storage: StorageProvider;
  /** The events outbox: durable consumers, this process's live feed, wake-ups. */
  readonly outbox: Outbox;
  /** The time scheduling code reads (retry schedules, leases); tests hand in a FakeClock. */
  readonly clock: Clock;
  /** Seals and opens secrets kept in the database, under PLINTH_ENCRYPTION_KEY (clear without it). */
  readonly secrets: SecretBox;
  /** What calls to tenant-set URLs may reach (core/net/outbound.ts); tests replace `resolve` to point names at chosen addresses. */
  readonly outbound: OutboundPolicy;
  readonly startedAt: Date;
  /** Set on SIGTERM: /ready answers 503 and responses close their connections. */
  draining: boolean;
  /** Registers cleanup run by close(), last registered first. */
  onClose(fn: () => Promise<void> | void): void;
  close(): Promise<void>;
}
