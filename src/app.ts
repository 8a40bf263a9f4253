import { OpenAPIHono } from '@hono/zod-openapi';
import pino, { type Logger } from 'pino';
import type { Config } from './config.ts';
import { systemClock, type Clock } from './core/clock.ts';
import { SecretBox } from './core/crypto/secret-box.ts';
import { PrincipalResolvers } from './core/auth/principal.ts';
import { openDatabase, type Database } from './core/db/client.ts';
import { migrate } from './core/db/migrate.ts';
import { registerEventRetention } from './core/events/retention.ts';
import { Outbox } from './core/events/outbox.ts';
import type { AppEnv } from './core/http/context.ts';
import { validationError } from './core/http/envelope.ts';
import { notFound, onError, requestContext } from './core/http/middleware.ts';
import { Jobs } from './core/jobs/jobs.ts';
import type { Kernel } from './core/kernel.ts';
import { RateLimits } from './core/limits/rate-limit.ts';
import { RequestQuota } from './core/limits/quota.ts';
import { memoryBus, redisBus } from './core/providers/bus.ts';
import { memoryKeyValueStore, redisKeyValueStore } from './core/providers/kv.ts';
import { connectRedis } from './core/providers/redis.ts';
import { Mailer } from './core/providers/mail.ts';
import { createStorage } from './core/providers/storage.ts';
import { SERVICE, VERSION } from './core/version.ts';
import { auditRoutes } from './modules/audit/routes.ts';
import { exportUserFiles, FILE_EVENTS, registerFiles, storageUsed } from './modules/files/index.ts';
import { filesRoutes } from './modules/files/routes.ts';
import {
  authConfigRoutes,
  authConfigSection,
  authRoutes,
  IDENTITY_EVENTS,
  mfaRoutes,
  passkeyRoutes,
  registerIdentity,
  sessionRoutes,
  ssoRoutes,
  usersLookupSource,
  usersRoutes,
} from './modules/auth/index.ts';
import { portalRoutes } from './modules/portal/index.ts';
import { rolesRoutes } from './modules/roles/routes.ts';
import { DLQ_EVENTS } from './modules/dlq/index.ts';
import { EMAIL_EVENTS } from './modules/email/index.ts';
import { emailRoutes } from './modules/email/routes.ts';
import { ERROR_REPORT_EVENTS } from './modules/error-reports/index.ts';
import { errorReportsRoutes } from './modules/error-reports/routes.ts';
import { eventsRoutes } from './modules/events/routes.ts';
import { dlqRoutes } from './modules/dlq/routes.ts';
import { DATA_IO_EVENTS, registerDataIo } from './modules/data-io/index.ts';
import { dataIoRoutes } from './modules/data-io/routes.ts';
import { GOVERNANCE_EVENTS, registerGovernanceJobs } from './modules/governance/index.ts';
import { governanceRoutes } from './modules/governance/routes.ts';
import { checkGovernance, DATA_ENGINE_EVENTS, registerObjects } from './modules/objects/index.ts';
import { objectsRoutes } from './modules/objects/routes.ts';
import { createKey, KEY_EVENTS, registerKeyAuth } from './modules/keys/index.ts';
import { keysRoutes } from './modules/keys/routes.ts';
import { systemRoutes } from './modules/system/routes.ts';
import { tenantsRoutes } from './modules/tenants/routes.ts';
import { createTenant, listTenants, TENANT_EVENTS, type CreateTenantInput } from './modules/tenants/index.ts';
import { deleteUserNotifications, exportUserNotifications, NOTIFICATION_EVENTS } from './modules/notifications/index.ts';
import { notificationsRoutes } from './modules/notifications/routes.ts';
import { realtimeRoutes } from './modules/realtime/routes.ts';
import { registerWebhooks, WEBHOOK_EVENTS } from './modules/webhooks/index.ts';
import { webhooksRoutes } from './modules/webhooks/routes.ts';

export interface KernelOptions {
  /** Use this database instead of opening one from the config (tests hand in a template copy). */
  db?: Database;
  /** Apply migrations on start (default true). */
  migrate?: boolean;
  logger?: Logger;
  /** The time scheduling code reads; tests move a FakeClock forward instead of waiting. */
  clock?: Clock;
}

export async function createKernel(config: Config, options: KernelOptions = {}): Promise<Kernel> {
  const log = options.logger ?? pino({ level: config.LOG_LEVEL, base: { service: SERVICE } });
  const closers: (() => Promise<void> | void)[] = [];
  const db =
    options.db ??
    (await openDatabase({ databaseUrl: config.DATABASE_URL, pgliteDir: config.pgliteDir, poolMax: config.DB_POOL_MAX }));
  closers.push(() => db.close());
  if (options.migrate !== false) await migrate(db);
  // Closed after everything that may still read or write files (jobs, requests).
  const storage = createStorage(config);
  closers.push(() => storage.close());

  let redis: ReturnType<typeof connectRedis> | undefined;
  let kv = memoryKeyValueStore();
  let bus = memoryBus();
  if (config.REDIS_URL) {
    redis = connectRedis(config.REDIS_URL, log);
    const subscriber = connectRedis(config.REDIS_URL, log);
    const r = redis;
    closers.push(async () => {
      await Promise.allSettled([r.quit(), subscriber.quit()]);
    });
    kv = redisKeyValueStore(redis, config.REDIS_PREFIX);
    bus = redisBus(redis, subscriber, config.REDIS_PREFIX);
  }
  const busRef = bus;
  closers.push(() => busRef.close());

  const quota = new RequestQuota(db, log, config.USAGE_FLUSH_MS);
  quota.start();
  closers.push(() => quota.stop());

  const jobs = new Jobs(db, log, config.JOBS_POLL_SECONDS);
  closers.push(() => jobs.stop());
  const mail = new Mailer(db, jobs, log, { smtpUrl: config.SMTP_URL, from: config.MAIL_FROM });
  closers.push(() => mail.close());

  const outbox = new Outbox(db, bus, log, { pollMs: config.EVENTS_POLL_MS });
  closers.push(() => outbox.close());

  let closed: Promise<void> | undefined;
  const kernel: Kernel = {
    config,
    log,
    db,
    kv,
    bus,
    redis,
    principals: new PrincipalResolvers(),
    rateLimits: new RateLimits(redis, config.REDIS_PREFIX),
    quota,
    jobs,
    mail,
    storage,
    outbox,
    clock: options.clock ?? systemClock,
    secrets: new SecretBox(config.PLINTH_ENCRYPTION_KEY),
    startedAt: new Date(),
    draining: false,
    onClose: (fn) => void closers.push(fn),
    close() {
      closed ??= (async () => {
        for (const fn of closers.reverse()) {
          try {
            await fn();
          } catch (error) {
            log.warn({ err: error }, 'error while closing');
          }
        }
      })();
      return closed;
    },
  };
  return kernel;
}

/**
 * What modules add to a running kernel besides routes: credential resolvers, job queues, consumers.
 * Every process that serves or works calls it once.
 */
export function registerModules(kernel: Kernel): void {
  registerEventRetention(kernel);
  registerKeyAuth(kernel);
  registerFiles(kernel);
  registerIdentity(kernel);
  registerWebhooks(kernel);
  registerGovernanceJobs(kernel);
  registerObjects(kernel);
  registerDataIo(kernel);
}

/** Every event type the platform emits; GET /events/types serves it. */
export const EVENT_CATALOG = [
  ...TENANT_EVENTS,
  ...KEY_EVENTS,
  ...FILE_EVENTS,
  ...IDENTITY_EVENTS,
  ...WEBHOOK_EVENTS,
  ...DLQ_EVENTS,
  ...NOTIFICATION_EVENTS,
  ...EMAIL_EVENTS,
  ...ERROR_REPORT_EVENTS,
  ...GOVERNANCE_EVENTS,
  ...DATA_ENGINE_EVENTS,
  ...DATA_IO_EVENTS,
];

const OPENAPI_INFO = {
  openapi: '3.1.0',
  info: {
    title: 'Plinth API',
    version: VERSION,
    description:
      'Multi-tenant backend platform. Every response is `{ success, data | error, request_id }` with a `Request-Id` header. Authenticate with `Authorization: Bearer <api key or access token>`.',
  },
};

/**
 * The HTTP application: the kernel's middleware, then every module's routes. With `kernel` null it
 * is built only to produce the OpenAPI document (`plinth openapi`).
 */
export function createApp(kernel: Kernel | null) {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.target, result.error);
    },
  });
  if (kernel) app.use('*', requestContext(kernel));
  app.onError(onError);
  app.notFound(notFound);

  let document: Record<string, unknown> | undefined;
  const getDocument = () => (document ??= app.getOpenAPI31Document(OPENAPI_INFO) as unknown as Record<string, unknown>);

  app.route('/', systemRoutes(getDocument));
  app.route(
    '/',
    tenantsRoutes({
      provision: (ctx) => createKey(ctx, { label: 'Admin key', scopes: ['*'] }),
      storageUsed,
      configSections: { auth: authConfigSection },
      lookupSources: [usersLookupSource],
    }),
  );
  app.route('/', keysRoutes());
  app.route('/', auditRoutes());
  app.route('/', filesRoutes());
  // Other modules' records of a user: deleted with them, and part of their GDPR export.
  app.route('/', usersRoutes({ onDelete: [deleteUserNotifications] }));
  app.route('/', rolesRoutes());
  app.route('/', authConfigRoutes());
  app.route('/', authRoutes({ exportSources: [exportUserNotifications, exportUserFiles] }));
  app.route('/', mfaRoutes());
  app.route('/', sessionRoutes());
  app.route('/', passkeyRoutes());
  app.route('/', ssoRoutes());
  app.route('/', portalRoutes());
  app.route('/', eventsRoutes({ catalog: EVENT_CATALOG }));
  app.route('/', webhooksRoutes());
  app.route('/', realtimeRoutes());
  app.route('/', notificationsRoutes());
  app.route('/', emailRoutes());
  app.route('/', errorReportsRoutes());
  app.route('/', dlqRoutes());
  app.route('/', governanceRoutes({ validate: checkGovernance }));
  app.route('/', objectsRoutes());
  app.route('/', dataIoRoutes());

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key (`sk_...`, `pk_...`) or a user access token',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'queryToken', {
    type: 'apiKey',
    in: 'query',
    name: 'token',
    description: 'The same credential as `?token=`, on the routes that browsers open without headers (`/events/stream`, `/v1/realtime`)',
  });
  return { app, document: getDocument };
}

export async function createPlatform(config: Config, options: KernelOptions = {}) {
  const kernel = await createKernel(config, options);
  registerModules(kernel);
  const { app, document } = createApp(kernel);
  // Queues are defined by now; this process works them unless JOBS_WORKER=false (then `plinth worker` does).
  await kernel.jobs.start({ work: config.JOBS_WORKER });
  // Outbox consumers (webhook fan-out, ...) run where jobs are worked.
  if (config.JOBS_WORKER) kernel.outbox.start();
  return { kernel, app, document, close: () => kernel.close() };
}

export type Platform = Awaited<ReturnType<typeof createPlatform>>;

/** A new tenant with an admin key (scope `*`); used by `plinth start` on an empty database and `plinth bootstrap`. */
export async function bootstrapTenant(kernel: Kernel, input: CreateTenantInput) {
  const { tenant, provisioned } = await createTenant(kernel, input, { type: 'system', id: null }, (ctx) =>
    createKey(ctx, { label: 'Admin key', scopes: ['*'] }),
  );
  return { tenant, token: provisioned.token };
}

export async function countTenants(kernel: Kernel): Promise<number> {
  return (await listTenants(kernel, { limit: 1, offset: 0 })).total;
}
