import type { Server } from 'node:http';
import { OpenAPIHono } from '@hono/zod-openapi';
import pino, { type Logger } from 'pino';
import { loadConfig, type Config } from './config.ts';
import { systemClock, type Clock } from './core/clock.ts';
import { SecretBox } from './core/crypto/secret-box.ts';
import { PrincipalResolvers } from './core/auth/principal.ts';
import { openDatabase, type Database } from './core/db/client.ts';
import { migrate } from './core/db/migrate.ts';
import { registerEventRetention } from './core/events/retention.ts';
import { Outbox } from './core/events/outbox.ts';
import type { AppEnv } from './core/http/context.ts';
import { validationError } from './core/http/envelope.ts';
import { notFound, onError, refuseDotSegments, requestContext } from './core/http/middleware.ts';
import { Jobs } from './core/jobs/jobs.ts';
import { outboundPolicy } from './core/net/outbound.ts';
import type { Kernel } from './core/kernel.ts';
import { RateLimits } from './core/limits/rate-limit.ts';
import { RequestQuota } from './core/limits/quota.ts';
import { RequestStats } from './core/limits/request-stats.ts';
import { memoryBus, redisBus } from './core/providers/bus.ts';
import { memoryKeyValueStore, redisKeyValueStore } from './core/providers/kv.ts';
import { connectRedis } from './core/providers/redis.ts';
import { Mailer } from './core/providers/mail.ts';
import { createStorage } from './core/providers/storage.ts';
import { SERVICE, VERSION } from './core/version.ts';
import { collectHooks, eventCatalog, type ModuleDescriptor } from './core/module.ts';
import { accountingModule } from './modules/accounting/index.ts';
import { agentsModule } from './modules/agents/index.ts';
import { aiModule } from './modules/ai/index.ts';
import { auditModule } from './modules/audit/index.ts';
import { authModule } from './modules/auth/index.ts';
import { automationsModule } from './modules/automations/index.ts';
import { billingModule } from './modules/billing/index.ts';
import { dataIoModule } from './modules/data-io/index.ts';
import { dlqModule } from './modules/dlq/index.ts';
import { emailModule } from './modules/email/index.ts';
import { errorReportsModule } from './modules/error-reports/index.ts';
import { eventsModule } from './modules/events/index.ts';
import { filesModule } from './modules/files/index.ts';
import { governanceModule } from './modules/governance/index.ts';
import { insightsModule } from './modules/insights/index.ts';
import { keysModule } from './modules/keys/index.ts';
import { notificationsModule } from './modules/notifications/index.ts';
import { objectsModule } from './modules/objects/index.ts';
import { portalModule } from './modules/portal/index.ts';
import { realtimeModule } from './modules/realtime/index.ts';
import { rolesModule } from './modules/roles/index.ts';
import { statusModule } from './modules/status/index.ts';
import { systemModule } from './modules/system/index.ts';
import { createTenant, listTenants, tenantsModule, type CreateTenantInput } from './modules/tenants/index.ts';
import { webhooksModule } from './modules/webhooks/index.ts';
import { docsPage, serveDocsScript } from './modules/system/index.ts';
import { mountSurfaces, SURFACES, type MountedSurfaces } from './surfaces/index.ts';

/**
 * Every module of the platform, once. Routes are mounted, registrations made and the event catalogue
 * listed in this order; a module is added here and nowhere else.
 */
export const MODULES: readonly ModuleDescriptor[] = [
  systemModule,
  tenantsModule,
  keysModule,
  auditModule,
  filesModule,
  authModule,
  rolesModule,
  portalModule,
  eventsModule,
  webhooksModule,
  realtimeModule,
  notificationsModule,
  emailModule,
  errorReportsModule,
  dlqModule,
  governanceModule,
  objectsModule,
  dataIoModule,
  aiModule,
  agentsModule,
  accountingModule,
  automationsModule,
  insightsModule,
  statusModule,
  billingModule,
];

/** What the modules offer each other (user deletion and export, tenant-config sections, ...). */
const HOOKS = collectHooks(MODULES);

/** Every event type the platform emits; GET /events/types serves it. */
export const EVENT_CATALOG = eventCatalog([...MODULES, ...SURFACES]);

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
    (await openDatabase({ databaseUrl: config.DATABASE_URL, pgliteDir: config.pgliteDir, pgliteWorker: config.PGLITE_WORKER, poolMax: config.DB_POOL_MAX, appRole: config.DB_APP_ROLE }));
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
      // quit() waits for Redis to answer; a client that is not connected just stops reconnecting.
      await Promise.allSettled([r, subscriber].map((c) => (c.status === 'ready' ? c.quit() : c.disconnect())));
    });
    kv = redisKeyValueStore(redis, config.REDIS_PREFIX);
    bus = redisBus(redis, subscriber, config.REDIS_PREFIX);
  }
  const busRef = bus;
  closers.push(() => busRef.close());

  const quota = new RequestQuota(db, log, config.USAGE_FLUSH_MS);
  quota.start();
  closers.push(() => quota.stop());
  const requestStats = new RequestStats(db, log, config.USAGE_FLUSH_MS);
  requestStats.start();
  closers.push(() => requestStats.stop());

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
    requestStats,
    jobs,
    mail,
    storage,
    outbox,
    clock: options.clock ?? systemClock,
    secrets: new SecretBox(config.PLINTH_ENCRYPTION_KEY),
    outbound: outboundPolicy(config),
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
  for (const module of MODULES) module.register?.(kernel);
  for (const surface of SURFACES) surface.register?.(kernel);
}

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
  // A surface's own host goes to that surface before anything of the main host runs; the surfaces are
  // mounted after the modules (their main-host routes yield to the platform's), so this reads them late.
  let mounted: MountedSurfaces | undefined;
  app.use('*', (c, next) => (mounted ? mounted.dispatch(c, next) : next()));
  if (kernel) app.use('*', requestContext(kernel), refuseDotSegments);
  app.onError((error, c) => mounted?.onError(error, c) ?? onError(error, c));
  app.notFound((c) => mounted?.notFound(c) ?? notFound(c));

  let document: Record<string, unknown> | undefined;
  const getDocument = () => (document ??= app.getOpenAPI31Document(OPENAPI_INFO) as unknown as Record<string, unknown>);
  const listing = () =>
    (mounted?.surfaces ?? []).map((s) => ({
      name: s.descriptor.name,
      seed: s.descriptor.seed,
      title: s.descriptor.title,
      host: s.hosts[0]!,
      basePaths: s.mainHostRoutes.length > 0 ? [s.descriptor.basePath] : [],
      openapi: s.descriptor.openapiPath,
      docs: s.descriptor.docsPath,
      document: s.document,
    }));

  const wiring = { hooks: HOOKS, events: EVENT_CATALOG, document: getDocument, surfaces: listing };
  for (const module of MODULES) if (module.routes) app.route('/', module.routes(wiring));
  mounted = mountSurfaces(app, kernel, SURFACES, {
    hosts: kernel?.config.SURFACE_HOSTS,
    docsPage,
    docsScript: serveDocsScript,
  });

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
  return { app, document: getDocument, surfaces: mounted.surfaces };
}

export async function createPlatform(config: Config, options: KernelOptions = {}) {
  const kernel = await createKernel(config, options);
  registerModules(kernel);
  const { app, document, surfaces } = createApp(kernel);
  // Queues are defined by now; this process works them unless JOBS_WORKER=false (then `plinth worker` does).
  await kernel.jobs.start({ work: config.JOBS_WORKER });
  // Outbox consumers (webhook fan-out, ...) run where jobs are worked.
  if (config.JOBS_WORKER) kernel.outbox.start();
  /** Attaches what modules serve beside the app (WebSocket upgrades) to a listening server; returns its closer. */
  const attach = (server: Server) => {
    const attached = MODULES.flatMap((module) => (module.attach ? [module.attach(server, app)] : []));
    return { close: () => attached.forEach((a) => a.close()) };
  };
  return { kernel, app, document, surfaces, attach, close: () => kernel.close() };
}

export type Platform = Awaited<ReturnType<typeof createPlatform>>;

/**
 * Brings a database to what a server starting on it would make of it: the migrations, then every
 * module's job queues (a queue is a partition with its indexes: sixty of them are seconds of DDL on
 * PGlite). The build dumps an embedded database prepared so as the seed of new installs, and the tests
 * their template. The database stays open.
 */
export async function prepareDatabase(db: Database): Promise<void> {
  await migrate(db);
  const config = loadConfig({ DATA_DIR: 'memory://', LOG_LEVEL: 'silent' });
  const kernel = await createKernel(config, { db: { ...db, close: async () => {} }, migrate: false, logger: pino({ level: 'silent' }) });
  registerModules(kernel);
  await kernel.jobs.start({ work: false });
  await kernel.close();
}

/** A new tenant with an admin key (scope `*`); used by `plinth start` on an empty database and `plinth bootstrap`. */
export async function bootstrapTenant(kernel: Kernel, input: CreateTenantInput) {
  const { tenant, provisioned } = await createTenant(kernel, input, { type: 'system', id: null }, HOOKS.provisionTenant);
  return { tenant, token: provisioned.token };
}

export async function countTenants(kernel: Kernel): Promise<number> {
  return (await listTenants(kernel, { limit: 1, offset: 0 })).total;
}
