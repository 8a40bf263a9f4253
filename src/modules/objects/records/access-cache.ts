import { and, eq } from 'drizzle-orm';
import { AUTH_INVALIDATE_CHANNEL, IDENTITY_INVALIDATE_CHANNEL } from '../../../core/auth/principal.ts';
import type { TenantContext } from '../../../core/context.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { getGovernance, type GovernanceSettings } from '../../governance/index.ts';
import { unrestricted, verdict, type Access, type RecordAction, type Subject, type PolicyVerdict } from '../policies/access.ts';
import { policies, type PolicyRow } from '../tables.ts';
import { loadSchema, type TypeSchema } from '../types/service.ts';

/**
 * What a user's read of a type needs besides the record: the type, its properties, its enabled
 * policies and the tenant's governance (masks). Loading them took four statements per request (and a
 * zod parse of the governance settings), four times the record's own cost; they change rarely, so each
 * process keeps them per tenant and type.
 *
 * Invalidation: every change to a type, property or policy publishes the tenant on
 * OBJECT_SCHEMA_CHANNEL after it commits (schemaChanged), governance changes publish it on
 * IDENTITY_INVALIDATE_CHANNEL, tenant and credential changes on AUTH_INVALIDATE_CHANNEL; the bus
 * delivers to this process before publish returns, so the next request here sees the change, and to the
 * others through Redis. An entry is trusted for ACCESS_CACHE_TTL_MS at most, which bounds staleness if
 * a cross-process message is lost. A generation counter keeps a load that raced an invalidation from
 * being cached.
 */
export const OBJECT_SCHEMA_CHANNEL = 'objects.schema';
export const ACCESS_CACHE_TTL_MS = 5_000;
const TENANT_ID = /^tn_[0-9a-z]{26}$/;
const MAX_ENTRIES = 10_000;
const MAX_VERDICTS = 1_000;

interface Entry {
  at: number;
  schema: TypeSchema;
  policies: PolicyRow[];
  governance: GovernanceSettings;
  /** Per caller (role and id): the policy verdicts and masks computed from this entry. */
  access: Map<string, Access>;
}

class AccessCache {
  private readonly entries = new Map<string, Entry>();
  private readonly byTenant = new Map<string, Set<string>>();
  generation = 0;

  constructor(kernel: Kernel) {
    const onMessage = (message: string) => (TENANT_ID.test(message) ? this.dropTenant(message) : this.clear());
    const unsubscribers = [OBJECT_SCHEMA_CHANNEL, IDENTITY_INVALIDATE_CHANNEL, AUTH_INVALIDATE_CHANNEL].map((c) => kernel.bus.subscribe(c, onMessage));
    kernel.onClose(() => unsubscribers.forEach((u) => u()));
  }

  get(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && now - entry.at < ACCESS_CACHE_TTL_MS) return entry;
    return undefined;
  }

  set(tenantId: string, key: string, entry: Entry): void {
    if (this.entries.size >= MAX_ENTRIES) this.clear();
    this.entries.set(key, entry);
    let keys = this.byTenant.get(tenantId);
    if (!keys) this.byTenant.set(tenantId, (keys = new Set()));
    keys.add(key);
  }

  dropTenant(tenantId: string): void {
    this.generation += 1;
    for (const key of this.byTenant.get(tenantId) ?? []) this.entries.delete(key);
    this.byTenant.delete(tenantId);
  }

  clear(): void {
    this.generation += 1;
    this.entries.clear();
    this.byTenant.clear();
  }
}

const caches = new WeakMap<Kernel, AccessCache>();
function cacheOf(kernel: Kernel): AccessCache {
  let cache = caches.get(kernel);
  if (!cache) caches.set(kernel, (cache = new AccessCache(kernel)));
  return cache;
}

/** After a type, property or policy of this tenant changed: every process drops its cached access, once committed. */
export function schemaChanged(ctx: TenantContext): void {
  const { kernel, tenantId } = ctx;
  ctx.afterCommit(() => kernel.bus.publish(OBJECT_SCHEMA_CHANNEL, tenantId));
}

async function load(ctx: TenantContext, typeRef: string): Promise<Omit<Entry, 'at' | 'access'>> {
  const schema = await loadSchema(ctx, typeRef);
  const rows = await ctx.db
    .select()
    .from(policies)
    .where(and(eq(policies.tenantId, ctx.tenantId), eq(policies.objectTypeId, schema.type.id), eq(policies.enabled, true)));
  const governance = await getGovernance(ctx);
  return { schema, policies: rows, governance };
}

/**
 * The schema and a user's access to a type as accessFor would compute them, from the cache when it holds
 * them. The same verdicts and masks: only where they come from differs.
 */
export async function cachedAccess(ctx: TenantContext, typeRef: string, subject: Subject): Promise<{ schema: TypeSchema; access: Access }> {
  const cache = cacheOf(ctx.kernel);
  const key = `${ctx.tenantId}\u0000${typeRef}`;
  // Writable work reads afresh: it must see its own uncommitted changes, and may roll them back.
  let entry = ctx.readOnly ? cache.get(key, Date.now()) : undefined;
  if (!entry) {
    const generation = cache.generation;
    const at = Date.now();
    entry = { at, access: new Map(), ...(await load(ctx, typeRef)) };
    // Only committed state is kept: a writable transaction may have changed (and may yet roll back) what it read.
    if (ctx.readOnly && generation === cache.generation) cache.set(ctx.tenantId, key, entry);
  }
  if (subject.kind !== 'user') return { schema: entry.schema, access: unrestricted(subject, entry.governance) };
  const who = `${subject.role ?? ''}\u0000${subject.id ?? ''}`;
  let access = entry.access.get(who);
  if (!access) {
    if (entry.access.size >= MAX_VERDICTS) entry.access.clear();
    access = userAccess(entry, subject);
    entry.access.set(who, access);
  }
  return { schema: entry.schema, access };
}

function userAccess(entry: Entry, subject: Subject): Access {
  const { schema, governance: gov } = entry;
  const verdicts = new Map<RecordAction, PolicyVerdict>();
  const masked =
    subject.role === null
      ? new Set<string>()
      : new Set(gov.masked_properties.filter((m) => m.object_type_id === schema.type.id && m.roles.includes(subject.role!)).map((m) => m.property));
  return {
    subject,
    verdict(action) {
      let v = verdicts.get(action);
      if (!v) verdicts.set(action, (v = verdict(entry.policies, action, subject, schema.props)));
      return v;
    },
    masked,
    governance: gov,
  };
}
