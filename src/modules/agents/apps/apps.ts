import { and, count, desc, eq, isNull, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import type { Scope } from '../../../core/auth/principal.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { findUser } from '../../auth/index.ts';
import { createKey, revokeKey } from '../../keys/index.ts';
import { agentAppKeys, agentApplications, agentConnections, agentEndUsers, agentPackages, agents, type AppKeyRow, type ApplicationRow, type EndUserRow } from '../tables.ts';

/**
 * Applications, their end users and their API keys: the agent platform contract's grouping inside an
 * organization (= a Plinth tenant). No module has applications, so they are rows of this module.
 */

export const ASK_PREFIX = 'ask_';

export function applicationDto(row: ApplicationRow) {
  return { id: row.id, name: row.name, description: row.description, metadata: row.metadata, created_at: row.createdAt.toISOString(), updated_at: row.updatedAt.toISOString() };
}

export async function createApplication(ctx: TenantContext, input: { name: string; description?: string | null; metadata?: Record<string, unknown> }) {
  const [row] = await ctx.db
    .insert(agentApplications)
    .values({ tenantId: ctx.tenantId, id: newId('app'), name: input.name, description: input.description ?? null, metadata: input.metadata ?? {} })
    .returning();
  await ctx.audit({ action: 'agent_application.created', resourceType: 'agent_application', resourceId: row!.id });
  return applicationDto(row!);
}

export async function findApplication(ctx: TenantContext, id: string): Promise<ApplicationRow> {
  const [row] = await ctx.db.select().from(agentApplications).where(and(eq(agentApplications.tenantId, ctx.tenantId), eq(agentApplications.id, id)));
  if (!row) throw notFound('Application');
  return row;
}

export async function listApplications(ctx: TenantContext, page: { limit: number; offset: number }) {
  const where = eq(agentApplications.tenantId, ctx.tenantId);
  const list = await ctx.db.select().from(agentApplications).where(where).orderBy(desc(agentApplications.createdAt)).limit(page.limit).offset(page.offset);
  const [total] = await ctx.db.select({ n: count() }).from(agentApplications).where(where);
  return { data: list.map(applicationDto), total: total?.n ?? 0 };
}

export async function updateApplication(ctx: TenantContext, id: string, patch: { name?: string; description?: string | null; metadata?: Record<string, unknown> }) {
  const row = await findApplication(ctx, id);
  const [updated] = await ctx.db
    .update(agentApplications)
    .set({ name: patch.name ?? row.name, description: patch.description !== undefined ? patch.description : row.description, metadata: patch.metadata ?? row.metadata, updatedAt: new Date() })
    .where(and(eq(agentApplications.tenantId, ctx.tenantId), eq(agentApplications.id, id)))
    .returning();
  return applicationDto(updated!);
}

/** 409 while the application still has agents; its end users, connections and package records go with it and its keys are revoked. */
export async function deleteApplication(ctx: TenantContext, id: string) {
  await findApplication(ctx, id);
  const [n] = await ctx.db.select({ n: count() }).from(agents).where(and(eq(agents.tenantId, ctx.tenantId), eq(agents.applicationId, id)));
  if ((n?.n ?? 0) > 0) throw new ApiError('CONFLICT', `The application still has ${n!.n} agent(s); delete them first`, { details: { agents: n!.n } });
  const keys = await ctx.db.select().from(agentAppKeys).where(and(eq(agentAppKeys.tenantId, ctx.tenantId), eq(agentAppKeys.applicationId, id), isNull(agentAppKeys.revokedAt)));
  for (const k of keys) await revokeKey(ctx, k.keyId);
  await ctx.db.delete(agentAppKeys).where(and(eq(agentAppKeys.tenantId, ctx.tenantId), eq(agentAppKeys.applicationId, id)));
  await ctx.db.delete(agentEndUsers).where(and(eq(agentEndUsers.tenantId, ctx.tenantId), eq(agentEndUsers.applicationId, id)));
  // Its connections and the records of packages whose agents are gone go with it.
  await ctx.db.delete(agentConnections).where(and(eq(agentConnections.tenantId, ctx.tenantId), eq(agentConnections.applicationId, id)));
  await ctx.db.delete(agentPackages).where(and(eq(agentPackages.tenantId, ctx.tenantId), eq(agentPackages.applicationId, id)));
  await ctx.db.delete(agentApplications).where(and(eq(agentApplications.tenantId, ctx.tenantId), eq(agentApplications.id, id)));
  await ctx.audit({ action: 'agent_application.deleted', resourceType: 'agent_application', resourceId: id });
  return { id, deleted: true as const };
}

// ---------------------------------------------------------------- end users

export function endUserDto(row: EndUserRow) {
  return {
    id: row.id,
    application_id: row.applicationId,
    external_id: row.externalId,
    name: row.name,
    email: row.email,
    user_id: row.userId,
    metadata: row.metadata,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export interface EndUserInput {
  external_id?: string | null;
  name?: string | null;
  email?: string | null;
  user_id?: string | null;
  metadata?: Record<string, unknown>;
}

/** A linked user must be one of the tenant's users (a stranger's id reads as unknown). */
async function checkUser(ctx: TenantContext, userId: string | null | undefined) {
  if (!userId) return;
  if (!(await findUser(ctx, userId))) {
    throw new ApiError('VALIDATION_ERROR', `userId: no user ${userId} in this organization`, { details: { issues: [{ field: 'userId', location: 'body', message: 'Unknown user' }] } });
  }
}

export async function createEndUser(ctx: TenantContext, applicationId: string, input: EndUserInput) {
  await findApplication(ctx, applicationId);
  await checkUser(ctx, input.user_id);
  if (input.external_id) {
    const [dup] = await ctx.db
      .select({ id: agentEndUsers.id })
      .from(agentEndUsers)
      .where(and(eq(agentEndUsers.tenantId, ctx.tenantId), eq(agentEndUsers.applicationId, applicationId), eq(agentEndUsers.externalId, input.external_id)));
    if (dup) throw new ApiError('ALREADY_EXISTS', `An end user with external_id ${input.external_id} exists in this application`);
  }
  const [row] = await ctx.db
    .insert(agentEndUsers)
    .values({ tenantId: ctx.tenantId, id: newId('eu'), applicationId, externalId: input.external_id ?? null, name: input.name ?? null, email: input.email ?? null, userId: input.user_id ?? null, metadata: input.metadata ?? {} })
    .returning();
  await ctx.audit({ action: 'agent_end_user.created', resourceType: 'agent_end_user', resourceId: row!.id });
  return endUserDto(row!);
}

export async function findEndUser(ctx: TenantContext, applicationId: string, id: string): Promise<EndUserRow> {
  const [row] = await ctx.db
    .select()
    .from(agentEndUsers)
    .where(and(eq(agentEndUsers.tenantId, ctx.tenantId), eq(agentEndUsers.applicationId, applicationId), eq(agentEndUsers.id, id)));
  if (!row) throw notFound('End user');
  return row;
}

export async function listEndUsers(ctx: TenantContext, applicationId: string, page: { limit: number; offset: number }) {
  const where = and(eq(agentEndUsers.tenantId, ctx.tenantId), eq(agentEndUsers.applicationId, applicationId));
  const list = await ctx.db.select().from(agentEndUsers).where(where).orderBy(desc(agentEndUsers.createdAt)).limit(page.limit).offset(page.offset);
  const [total] = await ctx.db.select({ n: count() }).from(agentEndUsers).where(where);
  return { data: list.map(endUserDto), total: total?.n ?? 0 };
}

export async function updateEndUser(ctx: TenantContext, applicationId: string, id: string, patch: EndUserInput) {
  const row = await findEndUser(ctx, applicationId, id);
  await checkUser(ctx, patch.user_id);
  const [updated] = await ctx.db
    .update(agentEndUsers)
    .set({
      name: patch.name !== undefined ? patch.name : row.name,
      email: patch.email !== undefined ? patch.email : row.email,
      userId: patch.user_id !== undefined ? patch.user_id : row.userId,
      metadata: patch.metadata ?? row.metadata,
      updatedAt: new Date(),
    })
    .where(and(eq(agentEndUsers.tenantId, ctx.tenantId), eq(agentEndUsers.id, id)))
    .returning();
  return endUserDto(updated!);
}

export async function deleteEndUser(ctx: TenantContext, applicationId: string, id: string) {
  await findEndUser(ctx, applicationId, id);
  await ctx.db.delete(agentEndUsers).where(and(eq(agentEndUsers.tenantId, ctx.tenantId), eq(agentEndUsers.id, id)));
  await ctx.audit({ action: 'agent_end_user.deleted', resourceType: 'agent_end_user', resourceId: id });
  return { id, deleted: true as const };
}

// ---------------------------------------------------------------- application keys

export function appKeyDto(row: AppKeyRow) {
  return { id: row.keyId, application_id: row.applicationId, name: row.name, revoked_at: row.revokedAt?.toISOString() ?? null, created_at: row.createdAt.toISOString() };
}

/** Issues a Plinth API key (scopes `ai`, `read`) bound to the application; the `ask_` token is shown once. */
export async function createAppKey(ctx: TenantContext, applicationId: string, input: { name: string; scopes?: Scope[] }) {
  await findApplication(ctx, applicationId);
  const issued = await createKey(ctx, { label: `agent platform: ${input.name}`, scopes: input.scopes ?? ['ai', 'read'] });
  const keyId = (issued.key as { id: string }).id;
  const [row] = await ctx.db.insert(agentAppKeys).values({ tenantId: ctx.tenantId, keyId, applicationId, name: input.name }).returning();
  return { ...appKeyDto(row!), token: `${ASK_PREFIX}${issued.token}` };
}

export async function listAppKeys(ctx: TenantContext, applicationId: string, page: { limit: number; offset: number }) {
  const where: SQL = and(eq(agentAppKeys.tenantId, ctx.tenantId), eq(agentAppKeys.applicationId, applicationId))!;
  const list = await ctx.db.select().from(agentAppKeys).where(where).orderBy(desc(agentAppKeys.createdAt)).limit(page.limit).offset(page.offset);
  const [total] = await ctx.db.select({ n: count() }).from(agentAppKeys).where(where);
  return { data: list.map(appKeyDto), total: total?.n ?? 0 };
}

export async function revokeAppKey(ctx: TenantContext, applicationId: string, keyId: string) {
  const [row] = await ctx.db
    .select()
    .from(agentAppKeys)
    .where(and(eq(agentAppKeys.tenantId, ctx.tenantId), eq(agentAppKeys.applicationId, applicationId), eq(agentAppKeys.keyId, keyId)));
  if (!row) throw notFound('API key');
  await revokeKey(ctx, keyId);
  const [updated] = await ctx.db
    .update(agentAppKeys)
    .set({ revokedAt: row.revokedAt ?? new Date() })
    .where(and(eq(agentAppKeys.tenantId, ctx.tenantId), eq(agentAppKeys.keyId, keyId)))
    .returning();
  return appKeyDto(updated!);
}

/** The application a Plinth key is bound to (null: a plain tenant key, not an application key). */
export async function applicationOfKey(ctx: TenantContext, keyId: string): Promise<string | null> {
  const [row] = await ctx.db.select().from(agentAppKeys).where(and(eq(agentAppKeys.tenantId, ctx.tenantId), eq(agentAppKeys.keyId, keyId), isNull(agentAppKeys.revokedAt)));
  return row?.applicationId ?? null;
}
