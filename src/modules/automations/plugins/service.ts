import { z } from '@hono/zod-openapi';
import { and, desc, eq } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { ActionSchema, ACTION_TYPES } from '../actions/vocabulary.ts';
import { createAutomation } from '../automations/service.ts';
import { automationRuns, automations } from '../automations/tables.ts';
import { checkFunctionCode, createFunction } from '../functions/service.ts';
import { functionLogs, functions } from '../functions/tables.ts';
import { createJob, updateJob } from '../schedules/service.ts';
import { scheduledJobRuns, scheduledJobs } from '../schedules/tables.ts';
import { compileConfigSchema, validatePluginConfig } from './config-schema.ts';
import { plugins, type PluginRow } from './tables.ts';

const Name = z.string().min(1).max(100);

export const MANIFEST_EXAMPLE = {
      description: 'Greets new contacts',
      config_schema: { type: 'object', properties: { greeting: { type: 'string', maxLength: 50, default: 'Hello' } }, additionalProperties: false },
      functions: [{ name: 'greet', code: 'async function handler(input) { return { greeting: `Hello ${input.name}` } }' }],
      automations: [
        {
          name: 'Greet new contacts',
          trigger_event: 'object.created',
          conditions: [{ '==': [{ var: 'data.object_type' }, 'contacts'] }],
          actions: [{ type: 'run_function', input: { function_id: 'fn:greet', input: { name: '{{ data.properties.name }}' } }, on_error: 'stop' }],
        },
      ],
      scheduled_jobs: [],
    };

/**
 * A plugin is a versioned manifest bundling functions, automations and scheduled jobs. Installing it
 * creates them in one transaction, each marked with the plugin's id; uninstalling removes exactly
 * those; disabling it disables them. In an action of the manifest, `function_id: "fn:<name>"` names a
 * function of the same manifest.
 */
export const ManifestSchema = z
  .object({
    description: z.string().max(2000).optional(),
    config_schema: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({
        description:
          'JSON Schema (draft-07) of the plugin\'s `config_json`, checked with ajv on install and on every change of the config; its defaults are filled in. `pattern` and `patternProperties` are not supported.',
        example: { type: 'object', properties: { greeting: { type: 'string', default: 'Hello' } }, additionalProperties: false },
      }),
    functions: z
      .array(
        z
          .object({
            name: Name,
            description: z.string().max(2000).optional(),
            code: z.string().min(1).max(100_000),
            trigger_type: z.enum(['http', 'event', 'schedule', 'manual']).optional(),
            timeout_ms: z.number().int().min(10).max(30_000).optional(),
            memory_mb: z.number().int().min(8).max(128).optional(),
          })
          .strict(),
      )
      .max(50)
      .default([]),
    automations: z
      .array(
        z
          .object({
            name: Name,
            description: z.string().max(2000).optional(),
            trigger_event: z.string().min(1).max(100),
            conditions: z.array(z.record(z.string(), z.unknown())).max(20).default([]),
            actions: z.array(ActionSchema).min(1).max(20),
            enabled: z.boolean().optional(),
          })
          .strict(),
      )
      .max(50)
      .default([]),
    scheduled_jobs: z
      .array(
        z
          .object({
            name: Name,
            description: z.string().max(2000).optional(),
            cron_expression: z.string().max(100).optional(),
            timezone: z.string().max(64).optional(),
            run_at: z.string().datetime().optional(),
            action_type: z.enum(ACTION_TYPES),
            action_config: z.record(z.string(), z.unknown()).default({}),
            enabled: z.boolean().optional(),
          })
          .strict(),
      )
      .max(50)
      .default([]),
  })
  .strict()
  .openapi('PluginManifest', { example: MANIFEST_EXAMPLE });

export type Manifest = z.infer<typeof ManifestSchema>;

export function pluginDto(row: PluginRow, installed?: { functions: string[]; automations: string[]; scheduled_jobs: string[] }) {
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    manifest_json: row.manifest,
    config_json: row.config,
    enabled: row.enabled,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    ...(installed ? { installed } : {}),
  };
}

/** Checks the manifest; runs before the transaction (function code is compiled in an isolate). */
export async function checkManifest(raw: Record<string, unknown>): Promise<Manifest> {
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = ['manifest_json', ...issue.path, ...(issue.code === 'unrecognized_keys' ? [issue.keys[0]] : [])].join('.');
    throw new ApiError('VALIDATION_ERROR', `${field}: ${issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message}`, {
      details: { issues: [{ field, location: 'body', code: issue.code, message: issue.message }] },
    });
  }
  if (parsed.data.config_schema) compileConfigSchema(parsed.data.config_schema);
  for (const [i, fn] of parsed.data.functions.entries()) {
    try {
      await checkFunctionCode(fn.code);
    } catch (error) {
      if (error instanceof ApiError) throw new ApiError('VALIDATION_ERROR', `manifest_json.functions.${i}.${error.message}`, { details: error.details });
      throw error;
    }
  }
  return parsed.data;
}

/** A validation error of an installed part, with its path in the manifest in front. */
async function within<T>(prefix: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== 'VALIDATION_ERROR') throw error;
    const details = error.details as { issues?: { field: string }[] } | undefined;
    const issues = details?.issues?.map((issue) => ({ ...issue, field: `${prefix}.${issue.field}` }));
    throw new ApiError('VALIDATION_ERROR', `${prefix}.${error.message}`, { details: issues ? { issues } : details });
  }
}

async function loadPlugin(ctx: TenantContext, id: string, lock = false): Promise<PluginRow> {
  const q = ctx.db.select().from(plugins).where(and(eq(plugins.tenantId, ctx.tenantId), eq(plugins.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Plugin');
  return row;
}

async function installedOf(ctx: TenantContext, pluginId: string) {
  const of = async (table: typeof functions | typeof automations | typeof scheduledJobs) =>
    (await ctx.db.select({ id: table.id }).from(table).where(and(eq(table.tenantId, ctx.tenantId), eq(table.pluginId, pluginId)))).map((r) => r.id);
  return { functions: await of(functions), automations: await of(automations), scheduled_jobs: await of(scheduledJobs) };
}

export async function installPlugin(ctx: TenantContext, input: { name: string; version: string; manifest: Manifest; rawManifest: Record<string, unknown>; config?: Record<string, unknown>; enabled?: boolean }) {
  const [taken] = await ctx.db.select({ id: plugins.id }).from(plugins).where(and(eq(plugins.tenantId, ctx.tenantId), eq(plugins.name, input.name)));
  if (taken) throw new ApiError('ALREADY_EXISTS', `A plugin named ${input.name} is installed already (${taken.id}); uninstall it or update it`);
  const config = validatePluginConfig(input.manifest.config_schema, input.config ?? {});
  const id = newId('plg');
  const enabled = input.enabled ?? true;
  const [row] = await ctx.db
    .insert(plugins)
    .values({ id, tenantId: ctx.tenantId, name: input.name, version: input.version, manifest: input.rawManifest, config, enabled })
    .returning();
  const fnIds = new Map<string, string>();
  for (const fn of input.manifest.functions) {
    const created = await createFunction(ctx, { ...fn, enabled }, { pluginId: id });
    fnIds.set(fn.name, created.id);
  }
  const refer = (value: unknown, field: string) => {
    if (typeof value !== 'string' || !value.startsWith('fn:')) return value;
    const found = fnIds.get(value.slice(3));
    if (!found) throw new ApiError('VALIDATION_ERROR', `${field}: no function named ${value.slice(3)} in this manifest`);
    return found;
  };
  for (const [i, automation] of input.manifest.automations.entries()) {
    const actions = automation.actions.map((a, j) =>
      a.type === 'run_function' ? { ...a, input: { ...a.input, function_id: refer(a.input.function_id, `manifest_json.automations.${i}.actions.${j}.input.function_id`) } } : a,
    );
    await within(`manifest_json.automations.${i}`, () => createAutomation(ctx, { ...automation, actions, enabled: enabled && (automation.enabled ?? true) }, { pluginId: id }));
  }
  for (const [i, job] of input.manifest.scheduled_jobs.entries()) {
    const config = job.action_type === 'run_function' ? { ...job.action_config, function_id: refer(job.action_config.function_id, `manifest_json.scheduled_jobs.${i}.action_config.function_id`) } : job.action_config;
    await within(`manifest_json.scheduled_jobs.${i}`, () => createJob(ctx, { ...job, action_config: config, enabled: enabled && (job.enabled ?? true) }, { pluginId: id }));
  }
  await ctx.emit({ type: 'plugin.installed', resourceType: 'plugin', resourceId: id, data: { name: input.name, version: input.version } });
  return pluginDto(row!, await installedOf(ctx, id));
}

export async function listPlugins(ctx: TenantContext, query: { limit: number; offset: number }) {
  const rows = await ctx.db.select().from(plugins).where(eq(plugins.tenantId, ctx.tenantId)).orderBy(desc(plugins.createdAt), desc(plugins.id)).limit(query.limit).offset(query.offset);
  return rows.map((r) => pluginDto(r));
}

export async function getPlugin(ctx: TenantContext, id: string) {
  const row = await loadPlugin(ctx, id);
  return pluginDto(row, await installedOf(ctx, id));
}

export async function updatePlugin(ctx: TenantContext, id: string, patch: { name?: string; config?: Record<string, unknown>; enabled?: boolean }) {
  const row = await loadPlugin(ctx, id, true);
  const schema = (row.manifest as { config_schema?: Record<string, unknown> }).config_schema;
  const config = patch.config !== undefined ? validatePluginConfig(schema && typeof schema === 'object' ? schema : undefined, patch.config) : undefined;
  if (patch.name !== undefined && patch.name !== row.name) {
    const [taken] = await ctx.db.select({ id: plugins.id }).from(plugins).where(and(eq(plugins.tenantId, ctx.tenantId), eq(plugins.name, patch.name)));
    if (taken) throw new ApiError('ALREADY_EXISTS', `A plugin named ${patch.name} is installed already`);
  }
  const [updated] = await ctx.db
    .update(plugins)
    .set({
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(config !== undefined ? { config } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
      updatedAt: new Date(),
    })
    .where(and(eq(plugins.tenantId, ctx.tenantId), eq(plugins.id, id)))
    .returning();
  if (patch.enabled !== undefined && patch.enabled !== row.enabled) {
    // What the plugin installed follows it; a disabled job has no next fire time until it is enabled again.
    for (const table of [functions, automations] as const) {
      await ctx.db.update(table).set({ enabled: patch.enabled, updatedAt: new Date() }).where(and(eq(table.tenantId, ctx.tenantId), eq(table.pluginId, id)));
    }
    const jobs = await ctx.db.select({ id: scheduledJobs.id }).from(scheduledJobs).where(and(eq(scheduledJobs.tenantId, ctx.tenantId), eq(scheduledJobs.pluginId, id)));
    for (const job of jobs) await updateJob(ctx, job.id, { enabled: patch.enabled });
  }
  await ctx.emit({ type: 'plugin.updated', resourceType: 'plugin', resourceId: id, data: { name: updated!.name, version: updated!.version } });
  return pluginDto(updated!, await installedOf(ctx, id));
}

export async function uninstallPlugin(ctx: TenantContext, id: string) {
  const row = await loadPlugin(ctx, id, true);
  const installed = await installedOf(ctx, id);
  const t = ctx.tenantId;
  for (const fnId of installed.functions) await ctx.db.delete(functionLogs).where(and(eq(functionLogs.tenantId, t), eq(functionLogs.functionId, fnId)));
  for (const autoId of installed.automations) await ctx.db.delete(automationRuns).where(and(eq(automationRuns.tenantId, t), eq(automationRuns.automationId, autoId)));
  for (const jobId of installed.scheduled_jobs) await ctx.db.delete(scheduledJobRuns).where(and(eq(scheduledJobRuns.tenantId, t), eq(scheduledJobRuns.jobId, jobId)));
  for (const table of [functions, automations, scheduledJobs] as const) await ctx.db.delete(table).where(and(eq(table.tenantId, t), eq(table.pluginId, id)));
  await ctx.db.delete(plugins).where(and(eq(plugins.tenantId, t), eq(plugins.id, id)));
  await ctx.emit({ type: 'plugin.uninstalled', resourceType: 'plugin', resourceId: id, data: { name: row.name } });
  return { id, deleted: true as const };
}
