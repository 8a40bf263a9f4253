import { z } from '@hono/zod-openapi';
import { eq, sql } from 'drizzle-orm';
import { isValidCidr } from '../../core/auth/ip.ts';
import { IDENTITY_INVALIDATE_CHANNEL } from '../../core/auth/principal.ts';
import { auditLogs } from '../../core/audit/tables.ts';
import type { TenantContext } from '../../core/context.ts';
import type { Db } from '../../core/db/client.ts';
import type { Kernel } from '../../core/kernel.ts';
import { governance } from './tables.ts';

/**
 * Tenant governance: retention, session and password rules, an IP allowlist, and the data engine's
 * controls (properties masked for roles, types whose changes need approval). This module stores them
 * and enforces audit retention itself. Identity (src/modules/auth/config/governance.ts) enforces
 * password_min_length wherever a password is set, session_duration_secs as a cap on every session's
 * absolute lifetime, and ip_allowlist on app users' sign-ins, refreshes and access tokens (the kernel's
 * guard refuses a user principal whose allowlist misses the caller). The data engine enforces trash
 * retention, masking and approvals. API keys keep their own per-key allowlists; this one does not
 * apply to them.
 */

export const MaskRuleSchema = z
  .object({
    object_type_id: z.string().min(1).max(64).openapi({ description: 'Object type id or name' }),
    property: z.string().min(1).max(64),
    roles: z.array(z.string().min(1).max(64)).min(1).max(50).openapi({ description: 'User roles that see the property masked' }),
  })
  .openapi('MaskRule');

export const GovernanceSettingsSchema = z
  .object({
    audit_retention_days: z.number().int().min(1).max(3650).nullable().openapi({ description: 'Audit entries older than this are deleted daily; null keeps them forever' }),
    session_duration_secs: z.number().int().min(300).max(31_536_000).openapi({
      description: "Cap on the absolute lifetime of user sessions (auth-config's session_ttl applies within it); lowering it also ends running sessions past it",
    }),
    password_min_length: z.number().int().min(8).max(1024).openapi({ description: 'Shortest password users may set' }),
    ip_allowlist: z.array(z.string().max(64).refine(isValidCidr, { message: 'Must be an IP address or CIDR range' })).max(100).openapi({
      description:
        'CIDR ranges app users may sign in, refresh and use access tokens from; empty allows all. Portal identities (the tenant\'s customers) and API keys (see their own ip_allowlist) are not bound by it',
    }),
    trash_retention_days: z.number().int().min(1).max(3650).openapi({ description: 'Trashed records older than this are deleted for good, daily' }),
    masked_properties: z.array(MaskRuleSchema).max(500).openapi({ description: 'Properties whose values users with the listed roles do not see' }),
    approval_required_object_types: z.array(z.string().min(1).max(64)).max(200).openapi({
      description: 'Object types (ids) whose record changes take effect only once approved through the type\'s workflow',
    }),
  })
  .openapi('GovernanceSettings');

export type GovernanceSettings = z.infer<typeof GovernanceSettingsSchema>;

export const GOVERNANCE_DEFAULTS: GovernanceSettings = {
  audit_retention_days: 365,
  // The same as auth-config's default session_ttl: by default the cap changes nothing.
  session_duration_secs: 90 * 86_400,
  password_min_length: 8,
  ip_allowlist: [],
  trash_retention_days: 30,
  masked_properties: [],
  approval_required_object_types: [],
};

export type GovernancePatch = Partial<GovernanceSettings>;

/** Lets other modules check their parts of a change (the data engine resolves type names to ids). */
export type GovernanceValidator = (ctx: TenantContext, patch: GovernancePatch) => Promise<GovernancePatch>;

/** The settings in effect (defaults for anything never set), for callers holding a tenant transaction but no context. */
export async function loadGovernance(db: Db, tenantId: string) {
  const [row] = await db.select().from(governance).where(eq(governance.tenantId, tenantId));
  const stored = GovernanceSettingsSchema.partial().safeParse(row?.settings ?? {});
  const settings: GovernanceSettings = { ...GOVERNANCE_DEFAULTS, ...(stored.success ? stored.data : {}) };
  return { ...settings, updated_at: row ? row.updatedAt.toISOString() : null, updated_by: row?.updatedBy ?? null };
}

export function getGovernance(ctx: TenantContext) {
  return loadGovernance(ctx.db, ctx.tenantId);
}

export async function updateGovernance(ctx: TenantContext, patch: GovernancePatch, validate?: GovernanceValidator) {
  const checked = validate ? await validate(ctx, patch) : patch;
  const current = await getGovernance(ctx);
  const { updated_at: _a, updated_by: _b, ...settings } = current;
  const next = { ...settings, ...checked };
  await ctx.db
    .insert(governance)
    .values({ tenantId: ctx.tenantId, settings: next, updatedBy: ctx.actor.id, updatedAt: new Date() })
    .onConflictDoUpdate({ target: governance.tenantId, set: { settings: next, updatedBy: ctx.actor.id, updatedAt: new Date() } });
  await ctx.emit({ type: 'governance.updated', resourceType: 'governance', resourceId: ctx.tenantId, data: { changes: Object.keys(patch) } });
  // Identity caches each session's state with the session rules and allowlist folded in: every process
  // drops this tenant's entries, so the change applies from the next request on.
  ctx.afterCommit(() => ctx.kernel.bus.publish(IDENTITY_INVALIDATE_CHANNEL, ctx.tenantId));
  return getGovernance(ctx);
}

export const AUDIT_RETENTION_JOB = 'governance.audit-retention';

/**
 * Deletes audit entries past each tenant's retention (the default where a tenant set none). One
 * statement over all tenants: this is maintenance about no single tenant, so it runs as the owner.
 */
export async function purgeAuditLogs(kernel: Kernel): Promise<number> {
  const days = sql`(g.settings ->> 'audit_retention_days')::int`;
  const set = await kernel.db.system.execute(sql`
    delete from ${auditLogs} a using ${governance} g
    where a.tenant_id = g.tenant_id and g.settings ? 'audit_retention_days' and ${days} is not null
      and a.created_at < now() - make_interval(days => ${days})`);
  const unset = await kernel.db.system.execute(sql`
    delete from ${auditLogs} a
    where a.created_at < now() - make_interval(days => ${GOVERNANCE_DEFAULTS.audit_retention_days})
      and not exists (select 1 from ${governance} g where g.tenant_id = a.tenant_id and g.settings ? 'audit_retention_days')`);
  return affected(set) + affected(unset);
}

/** Rows changed by a raw statement, from either driver. */
function affected(result: unknown): number {
  const r = result as { rowCount?: number | null; affectedRows?: number };
  return r.rowCount ?? r.affectedRows ?? 0;
}
