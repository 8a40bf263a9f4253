import type { Kernel } from '../kernel.ts';
import { matchesAny } from './format.ts';

/** Told when a consumer's subscriptions change anywhere: every process reloads that consumer's patterns. */
const CHANGED_CHANNEL = 'events.interest.changed';
/** Patterns are reloaded this often even with no message (a process that missed one with Redis down). */
const REFRESH_MS = 5_000;

export interface Interest {
  /** Whether a commit of this type should wake the consumer now; true while the patterns are unknown. */
  wants(type: string): boolean;
}

const registries = new WeakMap<Kernel, Map<string, { changed(): void }>>();

/**
 * The event types an outbox consumer has a subscriber for in any tenant (webhook endpoints, automation
 * triggers), as its `wakeOn`: a commit of other types does not wake it, so an event nobody subscribes
 * to costs no consumer transaction of its own. The patterns are a hint for waking only, never a filter
 * on what is read: a consumer not woken reads the events at its next poll (EVENTS_POLL_MS) as always,
 * so patterns a few seconds stale delay a new subscription's first events by at most that poll.
 * `load` returns the type patterns (`*`, `object.*`, exact types) subscribed anywhere.
 */
export function consumerInterest(kernel: Kernel, name: string, load: () => Promise<string[]>): Interest {
  let patterns: string[] | null = null;
  let verdicts = new Map<string, boolean>();
  let loading: Promise<void> | undefined;
  let again = false;
  const refresh = () => {
    if (loading) {
      again = true;
      return;
    }
    loading = load()
      .then(
        (found) => {
          patterns = found;
        },
        () => {
          // Unknown (the database is away): every commit wakes the consumer, as without interest.
          patterns = null;
        },
      )
      .finally(() => {
        verdicts = new Map();
        loading = undefined;
        if (again) {
          again = false;
          refresh();
        }
      });
  };
  let registry = registries.get(kernel);
  if (!registry) {
    registries.set(kernel, (registry = new Map()));
    const unsubscribe = kernel.bus.subscribe(CHANGED_CHANNEL, (changed) => registry!.get(changed)?.changed());
    kernel.onClose(() => unsubscribe());
  }
  registry.set(name, {
    // Every commit wakes the consumer until the new patterns are in: none of the new subscription's
    // events waits for a poll.
    changed() {
      patterns = null;
      refresh();
    },
  });
  const timer = setInterval(refresh, REFRESH_MS);
  timer.unref();
  kernel.onClose(() => clearInterval(timer));
  refresh();
  return {
    wants(type) {
      if (patterns === null) return true;
      let verdict = verdicts.get(type);
      if (verdict === undefined) {
        // Types are the tenants' to choose: the cache is bounded.
        if (verdicts.size >= 10_000) verdicts = new Map();
        verdicts.set(type, (verdict = matchesAny(patterns, type)));
      }
      return verdict;
    },
  };
}

/** A consumer's subscriptions changed (an endpoint or automation saved or deleted): every process reloads them. */
export function interestChanged(kernel: Kernel, name: string): void {
  // The bus delivers to this process too, before publish resolves.
  kernel.bus.publish(CHANGED_CHANNEL, name).catch(() => {});
}
