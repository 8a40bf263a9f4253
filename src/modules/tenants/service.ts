import { randomBytes } from 'node:crypto';
import { and, count, desc, eq, inArray, type SQL } from 'drizzle-orm';
import { invalidatePrincipals, type TenantSnapshot } from '../../core/auth/principal.ts';
import { runHooks, runInTenant, type Actor, type TenantContext } from '../../core/context.ts';
import type { Db } from '../../core/db/client.ts';
import { ApiError, notFound } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import type { Kernel } from '../../core/kernel.ts';
import { effectiveLimits } from './plans.ts';
import { contactMessages, tenants, type TenantRow, type TenantSettings } from './tables.ts';

export function toSnapshot(row: TenantRow): TenantSnapshot {
  return {
    id: row.id,
    slug: row.slug,
    status: row.status,
    planTier: row.planTier,
    limits: effectiveLimits(row.planTier, row.planLimits),
    billingAnchorDay: row.billingAnchorDay,
    ...(row.settings.api_versions ? { apiVersions: row.settings.api_versions } : {}),
  };
}

export function tenantDto(row: TenantRow) {
  return {
    id: row.id,
    name: row.name,
    slug: row.slug,
    plan_tier: row.planTier,
    plan_limits: effectiveLimits(row.planTier, row.planLimits),
    plan_limit_overrides: row.planLimits,
    status: row.status,
    suspended_reason: row.suspendedReason,
    owner_email: row.ownerEmail,
    billing_anchor_day: row.billingAnchorDay,
    branding: row.settings.branding ?? {},
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export interface CreateTenantInput {
  name: string;
  slug?: string;
  plan_tier?: string;
  plan_limits?: Record<string, number>;
  owner_email?: string;
  branding?: TenantSettings['branding'];
}

function slugify(name: string): string {
  const base = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    // Runs are single dashes by now, so trimming one at each end is enough (and `-+$` would be quadratic).
    .replace(/^-|-$/g, '')
    .slice(0, 40);
  return base || 'tenant';
}

/**
 * Creates a tenant and, through `provision`, what it starts with (its first API key), all in one
 * transaction: a tenant never exists half made.
 */
export async function createTenant<T>(
  kernel: Kernel,
  input: CreateTenantInput,
  actor: Actor,
  provision: (ctx: TenantContext) => Promise<T>,
  requestId: string | null = null,
): Promise<{ tenant: TenantRow; provisioned: T }> {
  const hooks: (() => Promise<void> | void)[] = [];
  const out = await kernel.db.system.transaction(async (tx) => {
    let slug = input.slug;
    if (slug) {
      const taken = await tx.select({ id: tenants.id }).from(tenants).where(eq(tenants.slug, slug));
      if (taken.length) throw new ApiError('ALREADY_EXISTS', `The slug '${slug}' is taken`);
    } else {
      slug = slugify(input.name);
      const taken = await tx.select({ id: tenants.id }).from(tenants).where(eq(tenants.slug, slug));
      if (taken.length) slug = `${slug}-${randomBytes(3).toString('hex')}`;
    }
    const [tenant] = await tx
      .insert(tenants)
      .values({
        id: newId('tn'),
        name: input.name,
        slug,
        planTier: input.plan_tier ?? 'free',
        planLimits: input.plan_limits ?? {},
        ownerEmail: input.owner_email?.toLowerCase() ?? null,
        settings: input.branding ? { branding: input.branding } : {},
      })
      .returning();
    const created = tenant!;
    const provisioned = await runInTenant(
      kernel,
      { tenantId: created.id, actor, requestId },
      async (ctx) => {
        await ctx.emit({ type: 'tenant.created', resourceType: 'tenant', resourceId: created.id, data: { name: created.name, slug: created.slug, plan_tier: created.planTier } });
        return provision(ctx);
      },
      { within: { tx, afterCommit: (fn) => void hooks.push(fn) } },
    );
    return { tenant: created, provisioned };
  });
  await runHooks(kernel, hooks);
  return out;
}

export async function getTenant(db: Db, tenantId: string): Promise<TenantRow> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, tenantId));
  if (!row) throw notFound('Tenant');
  return row;
}

export async function findTenant(db: Db, idOrSlug: string): Promise<TenantRow | undefined> {
  const [row] = await db
    .select()
    .from(tenants)
    .where(idOrSlug.startsWith('tn_') ? eq(tenants.id, idOrSlug) : eq(tenants.slug, idOrSlug.toLowerCase()));
  return row;
}

export async function listTenants(kernel: Kernel, query: { limit: number; offset: number; status?: 'active' | 'suspended' }) {
  const where: SQL | undefined = query.status ? eq(tenants.status, query.status) : undefined;
  const [rows, [total]] = await Promise.all([
    kernel.db.system.select().from(tenants).where(where).orderBy(desc(tenants.id)).limit(query.limit).offset(query.offset),
    kernel.db.system.select({ n: count() }).from(tenants).where(where),
  ]);
  return { tenants: rows, total: total?.n ?? 0 };
}

export interface UpdateTenantInput {
  name?: string;
  status?: 'active' | 'suspended';
  suspended_reason?: string | null;
  plan_tier?: string;
  plan_limits?: Record<string, number>;
  owner_email?: string | null;
  billing_anchor_day?: number;
  branding?: TenantSettings['branding'];
}

/** System-level change of a tenant (admin routes). Credentials cached anywhere are dropped afterwards. */
export async function updateTenant(kernel: Kernel, tenantId: string, input: UpdateTenantInput, actor: Actor, requestId: string | null) {
  const row = await kernel.db.system.transaction(async (tx) => {
    const current = await getTenant(tx, tenantId);
    const settings: TenantSettings = input.branding === undefined ? current.settings : { ...current.settings, branding: input.branding };
    const [updated] = await tx
      .update(tenants)
      .set({
        name: input.name ?? current.name,
        status: input.status ?? current.status,
        suspendedReason: input.status === 'active' ? null : input.suspended_reason !== undefined ? input.suspended_reason : current.suspendedReason,
        planTier: input.plan_tier ?? current.planTier,
        planLimits: input.plan_limits ?? current.planLimits,
        ownerEmail: input.owner_email !== undefined ? (input.owner_email?.toLowerCase() ?? null) : current.ownerEmail,
        billingAnchorDay: input.billing_anchor_day ?? current.billingAnchorDay,
        settings,
        updatedAt: new Date(),
      })
      .where(eq(tenants.id, tenantId))
      .returning();
    const next = updated!;
    const type =
      current.status !== next.status ? (next.status === 'suspended' ? 'tenant.suspended' : 'tenant.reactivated') : 'tenant.updated';
    await runInTenant(
      kernel,
      { tenantId, actor, requestId },
      (ctx) => ctx.emit({ type, resourceType: 'tenant', resourceId: tenantId, data: { changes: Object.keys(input) } }),
      { within: { tx, afterCommit: () => {} } },
    );
    return next;
  });
  await invalidatePrincipals(kernel, tenantId);
  return row;
}

/** Tenants whose owner email matches; modules that keep identities add their own matches. */
export async function tenantsByOwnerEmail(kernel: Kernel, email: string): Promise<TenantRow[]> {
  return kernel.db.system
    .select()
    .from(tenants)
    .where(and(eq(tenants.ownerEmail, email.toLowerCase()), eq(tenants.status, 'active')));
}

export async function tenantsByIds(kernel: Kernel, ids: string[]): Promise<TenantRow[]> {
  if (ids.length === 0) return [];
  return kernel.db.system
    .select()
    .from(tenants)
    .where(and(inArray(tenants.id, ids), eq(tenants.status, 'active')));
}

export type AccountSettings = NonNullable<TenantSettings['account']>;

/** The tenant's account settings (billing contacts, billing webhook, plan metadata, flags) and signup policy, with defaults. */
export function accountSettingsOf(row: TenantRow) {
  const account = row.settings.account ?? {};
  return {
    tenant_id: row.id,
    billing_contacts: account.billing_contacts ?? [],
    billing_webhook_url: account.billing_webhook_url ?? null,
    plan_metadata: account.plan_metadata ?? {},
    flags: account.flags ?? {},
    signup_policy: row.settings.signup_policy ?? ('open' as const),
    version: account.version ?? 0,
    updated_at: account.updated_at ?? null,
  };
}

export interface AccountSettingsUpdate {
  billing_contacts?: AccountSettings['billing_contacts'];
  billing_webhook_url?: string | null;
  plan_metadata?: Record<string, string>;
  flags?: Record<string, boolean>;
  signup_policy?: NonNullable<TenantSettings['signup_policy']>;
  /** When given, the update applies only if the settings are still at this version (409 otherwise). */
  expected_version?: number;
}

/**
 * Replaces the given parts of the tenant's account settings. The row is locked, so concurrent updates
 * apply one after the other and each bumps `version`.
 */
export async function updateAccountSettings(kernel: Kernel, tenantId: string, input: AccountSettingsUpdate, actor: Actor, requestId: string | null) {
  const row = await kernel.db.system.transaction(async (tx) => {
    const [current] = await tx.select().from(tenants).where(eq(tenants.id, tenantId)).for('update');
    if (!current) throw notFound('Tenant');
    const account = current.settings.account ?? {};
    const version = account.version ?? 0;
    if (input.expected_version !== undefined && input.expected_version !== version) {
      throw new ApiError('CONFLICT', `The settings changed since version ${input.expected_version} (now ${version}); read them again`, { details: { version } });
    }
    const next: TenantSettings = {
      ...current.settings,
      ...(input.signup_policy ? { signup_policy: input.signup_policy } : {}),
      account: {
        ...account,
        ...(input.billing_contacts !== undefined ? { billing_contacts: input.billing_contacts } : {}),
        ...(input.billing_webhook_url !== undefined ? { billing_webhook_url: input.billing_webhook_url } : {}),
        ...(input.plan_metadata !== undefined ? { plan_metadata: input.plan_metadata } : {}),
        ...(input.flags !== undefined ? { flags: input.flags } : {}),
        version: version + 1,
        updated_at: new Date().toISOString(),
      },
    };
    const [updated] = await tx.update(tenants).set({ settings: next, updatedAt: new Date() }).where(eq(tenants.id, tenantId)).returning();
    await runInTenant(
      kernel,
      { tenantId, actor, requestId },
      (ctx) => ctx.emit({ type: 'tenant.updated', resourceType: 'tenant', resourceId: tenantId, data: { changes: Object.keys(input).filter((k) => k !== 'expected_version') } }),
      { within: { tx, afterCommit: () => {} } },
    );
    return updated!;
  });
  return row;
}

/**
 * Pins (or with null unpins) the version a dated contract answers the tenant in when a request names
 * none. The pin travels in the tenant snapshot of every cached principal, so the principals are dropped.
 */
export async function pinApiVersion(kernel: Kernel, tenantId: string, surface: string, version: string | null, actor: Actor, requestId: string | null) {
  const row = await kernel.db.system.transaction(async (tx) => {
    const [current] = await tx.select().from(tenants).where(eq(tenants.id, tenantId)).for('update');
    if (!current) throw notFound('Tenant');
    const pinned = { ...(current.settings.api_versions ?? {}) };
    const previous = pinned[surface] ?? null;
    if (version) pinned[surface] = version;
    else delete pinned[surface];
    const [updated] = await tx
      .update(tenants)
      .set({ settings: { ...current.settings, api_versions: pinned }, updatedAt: new Date() })
      .where(eq(tenants.id, tenantId))
      .returning();
    await runInTenant(
      kernel,
      { tenantId, actor, requestId },
      async (ctx) => {
        await ctx.audit({ action: 'tenant.api_version_pinned', resourceType: 'tenant', resourceId: tenantId, metadata: { surface, from: previous, to: version } });
        await ctx.emit({ type: 'tenant.updated', resourceType: 'tenant', resourceId: tenantId, data: { changes: ['api_versions'] }, audit: false });
      },
      { within: { tx, afterCommit: () => {} } },
    );
    return updated!;
  });
  await invalidatePrincipals(kernel, tenantId);
  return row.settings.api_versions ?? {};
}

export interface ContactInput {
  name: string;
  email: string;
  company?: string | null;
  topic?: string | null;
  subject?: string | null;
  message: string;
}

/** Stores a contact-form message and mails it to `recipients` (the tenant's admins) in the same transaction. */
export async function recordContactMessage(ctx: TenantContext, input: ContactInput, recipients: string[]) {
  const id = newId('contact');
  const [row] = await ctx.db
    .insert(contactMessages)
    .values({
      tenantId: ctx.tenantId,
      id,
      name: input.name,
      email: input.email.toLowerCase(),
      company: input.company ?? null,
      topic: input.topic ?? null,
      subject: input.subject ?? null,
      message: input.message,
      ip: ctx.ip ?? null,
      userAgent: ctx.userAgent?.slice(0, 500) ?? null,
      recipients,
    })
    .returning();
  const subject = `[Contact] ${input.subject ?? input.topic ?? `Message from ${input.name}`}`.slice(0, 200);
  const text = [`From: ${input.name} <${input.email}>`, input.company ? `Company: ${input.company}` : null, input.topic ? `Topic: ${input.topic}` : null, '', input.message]
    .filter((l) => l !== null)
    .join('\n');
  for (const to of recipients) {
    await ctx.kernel.mail.queue(ctx, { to, subject, text, replyTo: input.email, template: 'contact_message', metadata: { contact_id: id } });
  }
  await ctx.emit({ type: 'tenant.contact_received', resourceType: 'contact_message', resourceId: id, data: { topic: input.topic ?? null, recipients: recipients.length } });
  return row!;
}
