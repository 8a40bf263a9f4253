import { z } from '@hono/zod-openapi';

type Schema = z.ZodType;
type Def = Schema['_zod']['def'] & Record<string, unknown>;

const cache = new WeakMap<Schema, Schema>();

/** A copy of `schema` with a changed definition that keeps its metadata (description, examples, OpenAPI name). */
const remake = (schema: Schema, def: Record<string, unknown>): Schema =>
  (schema as unknown as { clone(def: unknown, params: { parent: boolean }): Schema }).clone(def, { parent: true });

/**
 * The request-body version of a schema: every z.object that would silently strip unknown keys rejects
 * them instead (zod's `unrecognized_keys`), through optional/nullable/default wrappers, arrays, unions,
 * tuples, record values and pipes. Objects that already decide for themselves (`.loose()`,
 * `.catchall()`, `.strict()`) and free-form values (z.record of unknown, z.unknown) stay as they are;
 * so do intersections, whose halves would reject each other's keys. The input is never changed.
 */
export function strictInput<T extends Schema>(schema: T): T {
  return strict(schema) as T;
}

function strict(schema: Schema): Schema {
  const cached = cache.get(schema);
  if (cached) return cached;
  const result = build(schema);
  cache.set(schema, result);
  return result;
}

function build(schema: Schema): Schema {
  const def = schema._zod.def as Def;
  switch (def.type) {
    case 'object': {
      const shape = def.shape as Record<string, Schema>;
      const next: Record<string, Schema> = {};
      let changed = false;
      for (const [key, value] of Object.entries(shape)) {
        next[key] = strict(value);
        changed ||= next[key] !== value;
      }
      if (def.catchall !== undefined) return changed ? remake(schema, { ...def, shape: next }) : schema;
      return remake(schema, { ...def, shape: next, catchall: z.never() });
    }
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
    case 'nonoptional':
      return rewrap(schema, def, 'innerType');
    case 'array':
      return rewrap(schema, def, 'element');
    case 'record':
      return rewrap(schema, def, 'valueType');
    case 'union': {
      const options = (def.options as Schema[]).map(strict);
      return options.some((o, i) => o !== (def.options as Schema[])[i]) ? remake(schema, { ...def, options }) : schema;
    }
    case 'tuple': {
      const items = (def.items as Schema[]).map(strict);
      const rest = def.rest ? strict(def.rest as Schema) : def.rest;
      return items.some((o, i) => o !== (def.items as Schema[])[i]) || rest !== def.rest ? remake(schema, { ...def, items, rest }) : schema;
    }
    case 'pipe': {
      const input = strict(def.in as Schema);
      const output = strict(def.out as Schema);
      return input !== def.in || output !== def.out ? remake(schema, { ...def, in: input, out: output }) : schema;
    }
    default:
      return schema;
  }
}

function rewrap(schema: Schema, def: Def, member: string): Schema {
  const inner = def[member] as Schema;
  const next = strict(inner);
  return next === inner ? schema : remake(schema, { ...def, [member]: next });
}
