import type { Context } from 'hono';
import { insufficientScope } from '../../../core/auth/guard.ts';
import { hasScope, type Principal, type Scope } from '../../../core/auth/principal.ts';
import { runInTenant, type RequestMeta, type TenantContext } from '../../../core/context.ts';
import type { Kernel } from '../../../core/kernel.ts';
import type { AppEnv } from '../../../core/http/context.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { createObject, getObject, listObjects, updateObject } from '../../objects/index.ts';
import { searchFiles } from '../../files/index.ts';
import type { ToolCall, ToolSpec } from '../providers/types.ts';

/**
 * The platform's built-in tools a model may call. Each runs as the caller, through the objects and
 * files modules: the caller's scopes, row policies and masked properties apply, so a tool can do
 * nothing the caller could not do through the API itself.
 */
export const TOOL_NAMES = ['search_objects', 'get_object', 'create_object', 'update_object', 'search_files'] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

const str = (description: string) => ({ type: 'string', description });

const SPECS: Record<ToolName, ToolSpec & { scope: Scope; writes: boolean }> = {
  search_objects: {
    name: 'search_objects',
    description: 'Full-text search of the records of one object type. Returns up to `limit` records.',
    parameters: {
      type: 'object',
      properties: { object_type: str('Object type id or name'), query: str('Words to search for'), limit: { type: 'integer', minimum: 1, maximum: 20 } },
      required: ['object_type'],
    },
    scope: 'read',
    writes: false,
  },
  get_object: {
    name: 'get_object',
    description: 'One record by its id.',
    parameters: { type: 'object', properties: { object_type: str('Object type id or name'), object_id: str('The record id (obj_...)') }, required: ['object_type', 'object_id'] },
    scope: 'read',
    writes: false,
  },
  create_object: {
    name: 'create_object',
    description: 'Creates a record of an object type with the given properties.',
    parameters: { type: 'object', properties: { object_type: str('Object type id or name'), properties: { type: 'object' } }, required: ['object_type', 'properties'] },
    scope: 'write',
    writes: true,
  },
  update_object: {
    name: 'update_object',
    description: 'Changes properties of a record.',
    parameters: {
      type: 'object',
      properties: { object_type: str('Object type id or name'), object_id: str('The record id'), properties: { type: 'object' } },
      required: ['object_type', 'object_id', 'properties'],
    },
    scope: 'write',
    writes: true,
  },
  search_files: {
    name: 'search_files',
    description: 'Searches stored files by name, MIME type or tags.',
    parameters: {
      type: 'object',
      properties: { filename: str('Part of the file name'), mime_type: str('Exact MIME type'), tags: { type: 'array', items: { type: 'string' } }, limit: { type: 'integer', minimum: 1, maximum: 20 } },
    },
    scope: 'files',
    writes: false,
  },
};

export function toolSpecs(names: readonly ToolName[]): ToolSpec[] {
  return names.map((n) => {
    const { name, description, parameters } = SPECS[n];
    return { name, description, parameters };
  });
}

const MAX_RESULT_CHARS = 16_000;

function args(call: ToolCall): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(call.arguments || '{}');
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new ApiError('VALIDATION_ERROR', 'The tool arguments are not a JSON object');
}

const text = (v: unknown, field: string): string => {
  if (typeof v !== 'string' || !v || v.length > 200) throw new ApiError('VALIDATION_ERROR', `${field}: a string of 1..200 characters is required`);
  return v;
};
const props = (v: unknown): Record<string, unknown> => {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ApiError('VALIDATION_ERROR', 'properties: an object is required');
  return v as Record<string, unknown>;
};
const limitOf = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) ? Math.min(20, Math.max(1, v)) : 5);

async function execute(ctx: TenantContext, name: ToolName, a: Record<string, unknown>): Promise<unknown> {
  switch (name) {
    case 'search_objects': {
      const query = typeof a.query === 'string' && a.query ? a.query.slice(0, 200) : undefined;
      const found = await listObjects(ctx, text(a.object_type, 'object_type'), { limit: limitOf(a.limit), search: query, count: 'none' });
      return { results: found.results };
    }
    case 'get_object':
      return getObject(ctx, text(a.object_type, 'object_type'), text(a.object_id, 'object_id'));
    case 'create_object':
      return createObject(ctx, text(a.object_type, 'object_type'), { properties: props(a.properties) });
    case 'update_object':
      return updateObject(ctx, text(a.object_type, 'object_type'), text(a.object_id, 'object_id'), { properties: props(a.properties) });
    case 'search_files': {
      const found = await searchFiles(ctx, {
        filename: typeof a.filename === 'string' ? a.filename.slice(0, 200) : undefined,
        mime_type: typeof a.mime_type === 'string' ? a.mime_type.slice(0, 200) : undefined,
        tags: Array.isArray(a.tags) ? a.tags.filter((t): t is string => typeof t === 'string').slice(0, 20) : undefined,
        sort: 'created_at',
        sort_dir: 'desc',
        limit: limitOf(a.limit),
      });
      return found;
    }
  }
}

/**
 * Runs one call as the caller: its own transaction (a write tool's change commits with its events,
 * whatever the model does next). A failure is the tool's result ({ error }), for the model to read.
 */
export async function runTool(c: Context<AppEnv>, allowed: readonly ToolName[], call: ToolCall): Promise<{ ok: boolean; result: unknown }> {
  return runToolWith(c.get('principal'), allowed, call, (name, a, writes) => tenantWork(c, (ctx) => execute(ctx, name, a), { audit: writes }));
}

/**
 * The same outside a request (an agent run in a job): `meta.principal` is who the tool acts as, and a
 * write tool's change leaves an audit entry naming it.
 */
export async function runToolAs(kernel: Kernel, meta: RequestMeta, allowed: readonly ToolName[], call: ToolCall): Promise<{ ok: boolean; result: unknown }> {
  return runToolWith(meta.principal, allowed, call, (name, a, writes) =>
    runInTenant(kernel, meta, (ctx) => execute(ctx, name, a), writes ? { mutation: { action: `ai.tool.${name}` } } : {}),
  );
}

async function runToolWith(
  principal: Principal | undefined,
  allowed: readonly ToolName[],
  call: ToolCall,
  work: (name: ToolName, a: Record<string, unknown>, writes: boolean) => Promise<unknown>,
): Promise<{ ok: boolean; result: unknown }> {
  try {
    if (!(allowed as readonly string[]).includes(call.name)) throw new ApiError('NOT_FOUND', `No tool named ${call.name} is enabled`);
    const spec = SPECS[call.name as ToolName];
    if (!principal || principal.kind === 'admin' || !hasScope(principal, spec.scope)) throw insufficientScope(principal, spec.scope);
    const a = args(call);
    const result = await work(spec.name as ToolName, a, spec.writes);
    const json = JSON.stringify(result ?? null);
    return { ok: true, result: json.length > MAX_RESULT_CHARS ? { truncated: true, text: json.slice(0, MAX_RESULT_CHARS) } : result };
  } catch (error) {
    if (error instanceof ApiError) return { ok: false, result: { error: { code: error.code, message: error.message } } };
    throw error;
  }
}
