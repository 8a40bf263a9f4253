import { createHash } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import { and, count, desc, eq, inArray, sql } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { TOOL_NAMES } from '../../ai/index.ts';
import { bindConnections, CONNECTION_TYPES, connectionsByName } from './connections.ts';
import { HttpToolSchema, KnowledgeSchema } from '../schemas.ts';
import { checkHttpTools, createAgent, DEFAULT_LIMITS, deleteAgent, updateAgent } from '../service.ts';
import { agentPackages, agentRuns, agents, type PackageRow } from '../tables.ts';

/**
 * Packages: installable bundles of agents. A package is a versioned JSON manifest (name, semver
 * version, description, its agents' definitions, and the connections they need by name). Importing it
 * into an application creates its agents, or, for another version of an installed package, updates
 * them (a new agent version each), creates the new ones and deletes the ones it no longer has, all in
 * one transaction. Importing the installed version again changes nothing; the same version with other
 * content is refused. Uninstalling deletes its agents, refused while one of them has a run in flight.
 */

/** Largest manifest accepted (bytes of the request body). */
export const MAX_MANIFEST_BYTES = 512 * 1024;
const MAX_PACKAGE_AGENTS = 20;

/** npm-style names: lower case, digits, `-`, `.`, `_`, optionally `@scope/`. */
const PACKAGE_NAME = /^(?:@[a-z0-9][a-z0-9._-]{0,49}\/)?[a-z0-9][a-z0-9._-]{0,99}$/;
/** Semantic Versioning 2.0.0 (semver.org's expression; recheck finds it linear). */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export const PackageAgentSchema = z
  .object({
    name: z.string().trim().min(1).max(100).openapi({ description: 'Unique in the package: it identifies the agent across versions' }),
    description: z.string().max(2000).nullable().optional(),
    model: z.string().max(200).nullable().optional(),
    instructions: z.string().max(100_000).optional(),
    tools: z.array(z.enum(TOOL_NAMES)).max(TOOL_NAMES.length).optional(),
    httpTools: z.array(HttpToolSchema).max(20).optional().openapi({ description: 'HTTP tools; `connection` names one of the package\'s `connections`' }),
    knowledge: KnowledgeSchema.nullable().optional(),
    limits: z
      .object({
        maxSteps: z.number().int().min(1).max(50).optional(),
        maxTokens: z.number().int().min(1).max(200_000).optional(),
        timeoutMs: z.number().int().min(100).max(3_600_000).optional(),
      })
      .optional(),
  })
  .openapi('PackageAgent');

export const PackageManifestSchema = z
  .object({
    name: z.string().min(1).max(150).regex(PACKAGE_NAME).openapi({ description: 'Package name (npm style: `support-kit`, `@acme/support-kit`)', example: 'support-kit' }),
    version: z.string().min(5).max(64).regex(SEMVER).openapi({ description: 'Semantic version', example: '1.0.0' }),
    description: z.string().max(2000).nullable().optional(),
    connections: z
      .array(
        z.object({
          name: z.string().min(1).max(100).openapi({ description: 'A connection the application must have, by name' }),
          type: z.enum(CONNECTION_TYPES).optional().openapi({ description: 'The type it must have' }),
          description: z.string().max(500).optional(),
        }),
      )
      .max(20)
      .optional()
      .openapi({ description: 'Connections the agents need: created in the application before the import' }),
    agents: z.array(PackageAgentSchema).min(1).max(MAX_PACKAGE_AGENTS),
  })
  .openapi('PackageManifest');
export type PackageManifest = z.infer<typeof PackageManifestSchema>;

const invalid = (issues: { field: string; message: string }[]) =>
  new ApiError('VALIDATION_ERROR', `${issues[0]!.field}: ${issues[0]!.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`, {
    details: { issues: issues.map((i) => ({ ...i, location: 'body', code: 'invalid' })) },
  });

/** What the schema cannot say: unique agent and connection names, tools naming declared connections. */
function checkManifest(m: PackageManifest) {
  const issues: { field: string; message: string }[] = [];
  const declared = new Set<string>();
  for (const [i, c] of (m.connections ?? []).entries()) {
    if (declared.has(c.name)) issues.push({ field: `connections.${i}.name`, message: `${c.name} is declared twice` });
    declared.add(c.name);
  }
  const names = new Set<string>();
  for (const [i, a] of m.agents.entries()) {
    if (names.has(a.name)) issues.push({ field: `agents.${i}.name`, message: `Two agents are named ${a.name}` });
    names.add(a.name);
    const tools = new Set<string>();
    for (const [j, t] of (a.httpTools ?? []).entries()) {
      if (tools.has(t.name)) issues.push({ field: `agents.${i}.httpTools.${j}.name`, message: `The tool name ${t.name} is used twice` });
      tools.add(t.name);
      if (t.connection && !declared.has(t.connection)) issues.push({ field: `agents.${i}.httpTools.${j}.connection`, message: `${t.connection} is not among the package's connections` });
    }
  }
  if (issues.length) throw invalid(issues);
}

/** Save-time checks that need no transaction: the manifest's own rules, and its tools' URLs through the outbound guard (DNS). */
export async function checkPackage(kernel: Kernel, m: PackageManifest): Promise<void> {
  checkManifest(m);
  for (const [i, a] of m.agents.entries()) {
    try {
      await checkHttpTools(kernel, a.httpTools as { name: string; url: string }[] | undefined);
    } catch (error) {
      // Name the field in the manifest, not in an agent body.
      if (error instanceof ApiError && error.code === 'VALIDATION_ERROR') {
        const issues = ((error.details as { issues?: { field: string; message: string }[] } | undefined)?.issues ?? [{ field: 'httpTools', message: error.message }]).map((x) => ({
          field: `agents.${i}.${x.field.replace(/^http_tools/, 'httpTools')}`,
          message: x.message,
        }));
        throw invalid(issues);
      }
      throw error;
    }
  }
}

/** JSON with object keys sorted, so equal manifests hash alike whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export function packageDto(row: PackageRow) {
  return {
    id: row.id,
    application_id: row.applicationId,
    name: row.name,
    version: row.version,
    description: row.description,
    checksum: row.checksum,
    agents: Object.entries(row.agentIds).map(([name, id]) => ({ name, id })),
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}
export type PackageDto = ReturnType<typeof packageDto>;

const appWhere = (ctx: TenantContext, applicationId: string) => and(eq(agentPackages.tenantId, ctx.tenantId), eq(agentPackages.applicationId, applicationId));

/** 409 while one of the agents has a queued or running run (deleting it would pull the definition from under it). */
async function assertIdle(ctx: TenantContext, agentIds: string[], what: string) {
  if (agentIds.length === 0) return;
  const [busy] = await ctx.db
    .select({ n: count() })
    .from(agentRuns)
    .where(and(eq(agentRuns.tenantId, ctx.tenantId), inArray(agentRuns.agentId, agentIds), inArray(agentRuns.status, ['queued', 'running'])));
  if ((busy?.n ?? 0) > 0) throw new ApiError('CONFLICT', `${what}: ${busy!.n} run(s) of its agents are queued or running; wait for them or cancel them first`, { details: { runs_in_flight: busy!.n } });
}

/**
 * Installs a manifest (checked by `checkPackage` first) in the application, in the caller's one
 * transaction. Answers the package and what happened: installed, updated (another version) or
 * unchanged (this version with this content was installed already).
 */
export async function importPackage(ctx: TenantContext, applicationId: string, m: PackageManifest): Promise<{ package: PackageDto; outcome: 'installed' | 'updated' | 'unchanged' }> {
  checkManifest(m);
  const checksum = createHash('sha256').update(canonical(m)).digest('hex');
  // Imports of one package into one application take turns: a second import of a new package waits for
  // the first and then finds it installed (no duplicate agents, no unique-index failure).
  await ctx.db.execute(sql`select pg_advisory_xact_lock(hashtext(${`agent-package:${ctx.tenantId}:${applicationId}:${m.name}`}))`);
  const [existing] = await ctx.db
    .select()
    .from(agentPackages)
    .where(and(appWhere(ctx, applicationId), eq(agentPackages.name, m.name)))
    .for('update');

  // Its agents still there (one may have been deleted through /api/agents since).
  const previous = existing?.agentIds ?? {};
  const present = new Set(
    Object.values(previous).length
      ? (
          await ctx.db
            .select({ id: agents.id })
            .from(agents)
            .where(and(eq(agents.tenantId, ctx.tenantId), eq(agents.applicationId, applicationId), inArray(agents.id, Object.values(previous))))
        ).map((a) => a.id)
      : [],
  );
  if (existing && existing.version === m.version) {
    const whole = Object.values(previous).every((id) => present.has(id));
    if (existing.checksum === checksum && whole) return { package: packageDto(existing), outcome: 'unchanged' };
    if (existing.checksum !== checksum) {
      throw new ApiError('CONFLICT', `Version ${m.version} of ${m.name} is installed with other content; publish it as a new version`, {
        details: { issues: [{ field: 'version', message: 'Installed with other content' }] },
      });
    }
    // The same version with an agent missing: installed again below, which recreates it.
  }

  // The connections it needs must exist (by name, of the type it says).
  const declared = m.connections ?? [];
  const have = await connectionsByName(
    ctx,
    applicationId,
    declared.map((c) => c.name),
  );
  const missing: { field: string; message: string }[] = [];
  for (const [i, c] of declared.entries()) {
    const row = have.get(c.name);
    if (!row) missing.push({ field: `connections.${i}.name`, message: `The application has no connection named ${c.name}; create it before importing` });
    else if (c.type && row.type !== c.type) missing.push({ field: `connections.${i}.type`, message: `The connection ${c.name} is ${row.type}, the package needs ${c.type}` });
  }
  if (missing.length) throw invalid(missing);

  const dropped = Object.entries(previous).filter(([name, id]) => present.has(id) && !m.agents.some((a) => a.name === name));
  await assertIdle(
    ctx,
    dropped.map(([, id]) => id),
    `Version ${m.version} no longer has agent(s) ${dropped.map(([n]) => n).join(', ')}`,
  );

  const agentIds: Record<string, string> = {};
  for (const [i, a] of m.agents.entries()) {
    const httpTools = await bindConnections(
      ctx,
      applicationId,
      (a.httpTools ?? []).map((t) => ({ ...t, description: t.description ?? '', connection: t.connection ? have.get(t.connection)!.id : undefined })),
      (j) => `agents.${i}.httpTools.${j}`,
    );
    const definition = {
      name: a.name,
      description: a.description ?? null,
      model: a.model ?? null,
      instructions: a.instructions ?? '',
      tools: a.tools ?? [],
      http_tools: httpTools,
      knowledge: a.knowledge ?? null,
      // Omitted limits are the defaults, not what an earlier version had: the manifest is the whole definition.
      limits: { max_steps: a.limits?.maxSteps ?? DEFAULT_LIMITS.maxSteps, max_tokens: a.limits?.maxTokens ?? DEFAULT_LIMITS.maxTokens, timeout_ms: a.limits?.timeoutMs ?? DEFAULT_LIMITS.timeoutMs },
    };
    const id = previous[a.name];
    const agent = id && present.has(id) ? await updateAgent(ctx, id, definition as never, { applicationId }) : await createAgent(ctx, definition as never, { applicationId });
    agentIds[a.name] = agent.id;
  }
  for (const [, id] of dropped) await deleteAgent(ctx, id, { applicationId });

  const values = { version: m.version, description: m.description ?? null, manifest: m as Record<string, unknown>, checksum, agentIds, updatedAt: new Date() };
  const [row] = existing
    ? await ctx.db
        .update(agentPackages)
        .set(values)
        .where(and(eq(agentPackages.tenantId, ctx.tenantId), eq(agentPackages.id, existing.id)))
        .returning()
    : await ctx.db
        .insert(agentPackages)
        .values({ tenantId: ctx.tenantId, id: newId('pkg'), applicationId, name: m.name, ...values })
        .returning();
  await ctx.emit({
    type: 'agent.package.installed',
    resourceType: 'agent_package',
    resourceId: row!.id,
    data: { name: m.name, version: m.version, previous_version: existing?.version ?? null, application_id: applicationId, agent_ids: Object.values(agentIds) },
  });
  return { package: packageDto(row!), outcome: existing ? 'updated' : 'installed' };
}

export async function findPackage(ctx: TenantContext, applicationId: string, id: string, lock = false): Promise<PackageRow> {
  const q = ctx.db.select().from(agentPackages).where(and(appWhere(ctx, applicationId), eq(agentPackages.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Package');
  return row;
}

export async function listPackages(ctx: TenantContext, applicationId: string, page: { limit: number; offset: number }) {
  const where = appWhere(ctx, applicationId);
  const list = await ctx.db.select().from(agentPackages).where(where).orderBy(desc(agentPackages.createdAt), desc(agentPackages.id)).limit(page.limit).offset(page.offset);
  const [total] = await ctx.db.select({ n: count() }).from(agentPackages).where(where);
  return { data: list.map(packageDto), total: total?.n ?? 0 };
}

/** The manifest as it was imported (the installed version), ready to import elsewhere. */
export async function exportPackage(ctx: TenantContext, applicationId: string, id: string): Promise<PackageManifest> {
  return (await findPackage(ctx, applicationId, id)).manifest as PackageManifest;
}

/** Deletes the package with its agents; 409 while one of them has a queued or running run. */
export async function uninstallPackage(ctx: TenantContext, applicationId: string, id: string) {
  const row = await findPackage(ctx, applicationId, id, true);
  const ids = Object.values(row.agentIds);
  const present = ids.length
    ? (await ctx.db.select({ id: agents.id }).from(agents).where(and(eq(agents.tenantId, ctx.tenantId), eq(agents.applicationId, applicationId), inArray(agents.id, ids))).for('update')).map((a) => a.id)
    : [];
  await assertIdle(ctx, present, `${row.name} cannot be uninstalled`);
  for (const agentId of present) await deleteAgent(ctx, agentId, { applicationId });
  await ctx.db.delete(agentPackages).where(and(eq(agentPackages.tenantId, ctx.tenantId), eq(agentPackages.id, id)));
  await ctx.emit({ type: 'agent.package.uninstalled', resourceType: 'agent_package', resourceId: id, data: { name: row.name, version: row.version, application_id: applicationId } });
  return { id, deleted: true as const };
}
