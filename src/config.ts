import path from 'node:path';
import { z } from 'zod';

/**
 * Every setting Plinth reads from the environment, with the embedded defaults.
 * The README's configuration table is written from this schema; keep them together.
 */
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const ConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  PUBLIC_URL: z.string().url().optional(),
  DATA_DIR: z.string().default('./data'),
  DATABASE_URL: z.string().optional(),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  /** Run the embedded PGlite engine in a worker thread of its own, off the event loop; unused with DATABASE_URL. */
  PGLITE_WORKER: bool.default(true),
  /** The role tenant work runs as; default `plinth_app_<database name>` on PostgreSQL (roles are shared by the whole server), `plinth_app` embedded. */
  DB_APP_ROLE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier of at most 63 characters')
    .optional(),
  REDIS_URL: z.string().optional(),
  REDIS_PREFIX: z.string().default('plinth:'),
  PLINTH_ADMIN_KEY: z.string().min(24).optional(),
  REGION: z.string().default('local'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TRUST_PROXY: bool.default(false),
  /** Host names of the contract surfaces, `name=host,...`; each defaults to `<name>.localhost`. */
  SURFACE_HOSTS: z.string().optional(),
  BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(1024 * 1024),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(1200),
  ANON_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(120),
  /** Requests with a bad credential (invalid, revoked or expired token or key) per address per minute; past it, 429. */
  AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().positive().default(30),
  KEY_CACHE_TTL_MS: z.coerce.number().int().min(0).default(30_000),
  USAGE_FLUSH_MS: z.coerce.number().int().positive().default(2_000),
  SMTP_URL: z.string().optional(),
  MAIL_FROM: z.string().default('Plinth <no-reply@localhost>'),
  JOBS_WORKER: bool.default(true),
  JOBS_POLL_SECONDS: z.coerce.number().min(0.5).max(60).default(2),
  SHUTDOWN_DELAY_MS: z.coerce.number().int().min(0).default(0),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  // Files: S3-compatible storage when S3_BUCKET is set (S3_ENDPOINT for anything but AWS), else DATA_DIR/files.
  S3_ENDPOINT: z.string().url().optional(),
  S3_BUCKET: z.string().optional(),
  S3_REGION: z.string().default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().optional(),
  S3_SECRET_ACCESS_KEY: z.string().optional(),
  S3_FORCE_PATH_STYLE: bool.default(true),
  /** Endpoint that clients reach for presigned URLs when it differs from S3_ENDPOINT (the host is signed). */
  S3_PUBLIC_ENDPOINT: z.string().url().optional(),
  /** Key of the HMAC-signed download URLs of the local driver; generated and kept in DATA_DIR/files when unset. */
  FILES_URL_SECRET: z.string().min(32).optional(),
  /** Largest file accepted through a presigned slot (5 GiB: the most one S3 PUT takes). */
  FILES_MAX_UPLOAD_BYTES: z.coerce.number().int().positive().default(5 * 1024 ** 3),
  /** How long a presigned upload slot stays open before stale cleanup removes it. */
  FILES_SLOT_TTL_SECONDS: z.coerce.number().int().min(60).max(7 * 86_400).default(86_400),
  /** Days a deleted file stays in the trash before it is purged for good. */
  FILES_TRASH_RETENTION_DAYS: z.coerce.number().int().min(0).max(3650).default(30),
  /** Encrypts secrets at rest (JWT signing keys, TOTP secrets, OAuth client secrets, webhook signing secrets); unset stores them in clear. */
  PLINTH_ENCRYPTION_KEY: z.string().min(32).optional(),
  /** `iss` of access tokens; defaults to PUBLIC_URL, else `plinth`. */
  JWT_ISSUER: z.string().min(1).optional(),
  /** A new JWT signing key (kid) is made when the current one is this old; old keys verify until their tokens expire. */
  JWT_KEY_ROTATION_DAYS: z.coerce.number().min(1).max(3650).default(30),
  /** How long a session's state (revoked, roles, ban) is cached per process; changes also invalidate it over the bus. */
  SESSION_CACHE_TTL_MS: z.coerce.number().int().min(0).default(30_000),
  /** argon2id cost (OWASP: 19 MiB, 2 passes, 1 lane). Stored hashes keep their own parameters and are upgraded on login. */
  ARGON2_MEMORY_KIB: z.coerce.number().int().min(8192).default(19_456),
  ARGON2_TIME_COST: z.coerce.number().int().min(1).default(2),
  /** How often outbox readers look for new events when no wake-up reaches them. */
  EVENTS_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
  /** Lets every outbound call to a tenant-set URL (webhooks, OAuth, ...) reach loopback (127.0.0.0/8, ::1, localhost): development and tests only. */
  OUTBOUND_ALLOW_LOOPBACK: bool.default(false),
  /** The old name of OUTBOUND_ALLOW_LOOPBACK, still honoured (it allows loopback for every outbound call, not only webhooks). */
  WEBHOOK_ALLOW_LOOPBACK: bool.default(false),
  /** Timeout of one outbound call to a tenant-set URL other than a webhook delivery (OAuth token, userinfo, JWKS). */
  OUTBOUND_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(15_000),
  /** Deliveries this process sends at once (to different endpoints; one endpoint is always in order). */
  WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(200).default(8),
  /** How often this process looks for webhook messages whose retry is due. */
  WEBHOOK_TICK_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
  /** Waits before an automation run's failed action is tried again (ms, comma-separated); after the last the run goes to the dead-letter queue. */
  AUTOMATION_RETRY_DELAYS_MS: z
    .string()
    .regex(/^\d{1,9}(,\d{1,9}){0,9}$/)
    .default('5000,60000,600000')
    .transform((s) => s.split(',').map(Number)),
  /** How often this process looks for scheduled jobs that are due (the first due row wins; see automations/schedules). */
  SCHEDULER_TICK_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
  /** Days the webhook delivery log and finished messages are kept (pending and dead-lettered ones stay). */
  WEBHOOK_LOG_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  /** Days outbox events are kept once every consumer has handled them (SSE resume and webhook replay reach this far back). */
  EVENTS_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  SSE_HEARTBEAT_MS: z.coerce.number().int().min(10).max(300_000).default(15_000),
  REALTIME_HEARTBEAT_MS: z.coerce.number().int().min(10).max(300_000).default(30_000),
  /** Cloudflare Turnstile's siteverify endpoint, used for tenants whose auth config enables captcha; point it elsewhere for tests or an air-gapped install. */
  TURNSTILE_VERIFY_URL: z.string().url().default('https://challenges.cloudflare.com/turnstile/v0/siteverify'),
  /**
   * The operator's Turnstile secret for self-registration that creates a tenant (the assistant's
   * POST /api/v1/register, the agent service's POST /api/v1/auth/register with tenant_name), where no
   * tenant's auth config exists yet; unset, registration needs no captcha.
   */
  REGISTER_TURNSTILE_SECRET_KEY: z.string().min(1).optional(),
  /** POST /v1/email/send per tenant per minute. */
  EMAIL_RATE_PER_MINUTE: z.coerce.number().int().positive().default(60),
  /** Domains a tenant may put in `from` besides MAIL_FROM's (comma-separated). */
  MAIL_FROM_DOMAINS: z.string().default(''),
  /** POST /v1/errors/report per caller and address per minute. */
  ERROR_REPORTS_PER_MINUTE: z.coerce.number().int().positive().default(30),
  /** The system default AI provider, used by tenants without a provider of their own: `local` needs no network. */
  AI_PROVIDER: z.enum(['local', 'openai', 'anthropic']).default('local'),
  /** Base URL of the system provider (an OpenAI-compatible server: Ollama, vLLM, LM Studio); the vendor's own when unset. */
  AI_BASE_URL: z.string().url().optional(),
  /** API key of the system provider. */
  AI_API_KEY: z.string().optional(),
  /** Chat model of the system provider; default `gpt-4o-mini` (openai) or `claude-3-5-haiku-latest` (anthropic). */
  AI_CHAT_MODEL: z.string().optional(),
  /** Embedding model of the system provider (openai); the local model `use-lite-512` otherwise. */
  AI_EMBEDDING_MODEL: z.string().optional(),
  /** Time one call to an AI provider may take, first byte to last, before it is answered 504. */
  AI_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(60_000),
  /** DNS servers (`host` or `host:port`, comma-separated) that custom-domain TXT checks ask; the system's resolvers when unset. */
  DNS_SERVERS: z.string().max(1000).optional(),
  /** The status page's API component is `degraded_performance` past this mean event loop delay between checks. */
  STATUS_LOOP_DELAY_DEGRADED_MS: z.coerce.number().int().min(1).max(600_000).default(250),
  /** Stripe secret key: with it, customers, subscriptions and usage are pushed to Stripe; without, billing runs locally (no charges). */
  STRIPE_SECRET_KEY: z.string().min(1).optional(),
  /** Signing secret (`whsec_...`) that POST /webhooks/stripe verifies Stripe-Signature with; unset refuses every webhook. */
  STRIPE_WEBHOOK_SECRET: z.string().min(1).optional(),
  /** Where the Stripe SDK sends its requests, e.g. `http://127.0.0.1:12111` (stripe-mock, tests); Stripe's own API when unset. */
  STRIPE_API_BASE: z.string().url().optional(),
  /** Hours a tenant whose payment failed keeps working (warned) before it is suspended; paying restores it. */
  BILLING_GRACE_PERIOD_HOURS: z.coerce.number().min(0).max(24 * 365).default(72),
});

/** Every variable Plinth reads; the README documents each (a test holds them together). */
export const CONFIG_KEYS = Object.keys(ConfigSchema.shape);

export type Config = z.infer<typeof ConfigSchema> & {
  /** Directory of the embedded PGlite database; unused with DATABASE_URL. */
  pgliteDir: string;
  /** `memory://` keeps PGlite in memory (tests). */
  inMemoryDb: boolean;
  /** Root of the local storage driver; null with `memory://` (a temporary directory per kernel). */
  filesDir: string | null;
};

export function loadConfig(env: Record<string, string | undefined> = process.env, overrides: Partial<Config> = {}): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ConfigSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const base = parsed.data;
  const inMemoryDb = base.DATA_DIR === 'memory://';
  return {
    ...base,
    pgliteDir: inMemoryDb ? 'memory://' : path.resolve(base.DATA_DIR, 'pg'),
    inMemoryDb,
    filesDir: inMemoryDb ? null : path.resolve(base.DATA_DIR, 'files'),
    ...overrides,
  };
}
