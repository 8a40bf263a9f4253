import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Kernel } from '../../core/kernel.ts';
import { FANOUT_CONSUMER } from '../webhooks/index.ts';
import { systemProvider } from '../ai/index.ts';
import type { ComponentStatus } from './tables.ts';

/** What one check found: `error` is for operators (it may name hosts) and never reaches the public page. */
export interface CheckResult {
  status: ComponentStatus;
  error?: string;
}

export interface ComponentDefinition {
  id: string;
  name: string;
  description: string;
  owner: string;
  /** The automatic incident's severity when this component is down. */
  severity: 'major' | 'critical';
  check(kernel: Kernel): Promise<CheckResult>;
}

const OK: CheckResult = { status: 'operational' };
const down = (error: unknown): CheckResult => ({ status: 'major_outage', error: error instanceof Error ? error.message : String(error) });

/** Mean event loop delay over this: the API answers, but slowly. */
/** This process's event loop delay, sampled from the first check on. */
let loopDelay: IntervalHistogram | undefined;
/** The oldest event webhooks have not fanned out yet: older than this is a backlog. */
const WEBHOOK_LAG_DEGRADED_MS = 2 * 60_000;
const WEBHOOK_LAG_DOWN_MS = 10 * 60_000;

/**
 * The platform's own components, in page order. Each check asks the real dependency through the
 * kernel's own client for it, so a check fails exactly when the platform's use of it would.
 */
export const COMPONENTS: readonly ComponentDefinition[] = [
  {
    id: 'api',
    name: 'API',
    description: 'The REST API and its contracts (/v1, /api/...), served by the API processes.',
    owner: 'Platform',
    severity: 'critical',
    async check(kernel) {
      if (kernel.draining) return { status: 'partial_outage', error: 'this process is draining (shutting down)' };
      // The event loop's mean delay since the last check: how long a request waits before it runs.
      loopDelay ??= monitorEventLoopDelay({ resolution: 20 });
      loopDelay.enable();
      const meanMs = Number.isNaN(loopDelay.mean) ? 0 : loopDelay.mean / 1e6;
      loopDelay.reset();
      return meanMs > kernel.config.STATUS_LOOP_DELAY_DEGRADED_MS ? { status: 'degraded_performance', error: `mean event loop delay ${Math.round(meanMs)} ms` } : OK;
    },
  },
  {
    id: 'database',
    name: 'Database',
    description: 'PostgreSQL (or the embedded PGlite): every record, event and job.',
    owner: 'Platform',
    severity: 'critical',
    check: async (kernel) => (await kernel.db.ping(), OK),
  },
  {
    id: 'redis',
    name: 'Redis',
    description: 'Rate limits, idempotency and realtime fan-out across processes (in-process when REDIS_URL is unset).',
    owner: 'Platform',
    severity: 'major',
    check: async (kernel) => (kernel.redis ? (await kernel.redis.ping(), OK) : OK),
  },
  {
    id: 'storage',
    name: 'File storage',
    description: 'File bytes: S3-compatible storage, or the local files directory.',
    owner: 'Platform',
    severity: 'major',
    // A stat of a key that need not exist: answered (null or a size) only when the store is reachable.
    check: async (kernel) => (await kernel.storage.stat('_status/probe'), OK),
  },
  {
    id: 'mail',
    name: 'E-mail delivery',
    description: 'Outgoing mail: the SMTP server (SMTP_URL), or the outbox table in development.',
    owner: 'Platform',
    severity: 'major',
    check: async (kernel) => (await kernel.mail.verify(), OK),
  },
  {
    id: 'ai',
    name: 'AI provider',
    description: "The platform's AI provider (AI_PROVIDER): chat, embeddings and retrieval.",
    owner: 'AI',
    severity: 'major',
    // The operator's provider (AI_PROVIDER) lists its models through the outbound guard; the local one is always up.
    check: async (kernel) => (await systemProvider(kernel).probe(5_000), OK),
  },
  {
    id: 'webhooks',
    name: 'Webhook delivery',
    description: 'Fan-out of events to webhook endpoints: whether delivery keeps up with the event stream.',
    owner: 'Platform',
    severity: 'major',
    async check(kernel) {
      const position = await kernel.outbox.checkpoint(FANOUT_CONSUMER);
      const next = await kernel.outbox.read(position, 1);
      const oldest = next.events[0];
      if (!oldest) return OK;
      const lag = kernel.clock.now() - oldest.createdAt.getTime();
      if (lag > WEBHOOK_LAG_DOWN_MS) return { status: 'partial_outage', error: `webhook fan-out is ${Math.round(lag / 1000)} s behind` };
      if (lag > WEBHOOK_LAG_DEGRADED_MS) return { status: 'degraded_performance', error: `webhook fan-out is ${Math.round(lag / 1000)} s behind` };
      return OK;
    },
  },
];

export const COMPONENT_IDS = COMPONENTS.map((c) => c.id);
export const componentById = new Map(COMPONENTS.map((c) => [c.id, c]));

const CHECK_TIMEOUT_MS = 5_000;

/** One component's check, bounded in time: a dependency that hangs is down. */
export async function runCheck(kernel: Kernel, component: ComponentDefinition): Promise<CheckResult & { latencyMs: number }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      component.check(kernel),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { ...result, latencyMs: Math.round(performance.now() - started) };
  } catch (error) {
    return { ...down(error), latencyMs: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
  }
}
