import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ApiError } from '../../../core/http/errors.ts';

/**
 * A plugin's config is checked against the JSON Schema its manifest names (`config_schema`), with ajv.
 * A schema comes from a tenant, and ajv treats schemas as trusted code, so one is bounded before it
 * is compiled: its size and depth, no `pattern`/`patternProperties` (JavaScript regular expressions
 * can backtrack without end on an input), no `$data`, and no `$ref` beyond the schema itself.
 * Defaults the schema gives are filled into the config that is stored.
 */

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const MAX_SCHEMA_CHARS = 50_000;
const MAX_SCHEMA_DEPTH = 32;
const REFUSED_KEYWORDS = new Set(['pattern', 'patternProperties', '$data', '$dynamicRef', '$recursiveRef']);

const ajv = addFormats(new Ajv({ allErrors: true, strict: false, useDefaults: true, validateSchema: true, loadSchema: undefined, addUsedSchema: false }));
const compiled = new Map<string, ValidateFunction>();

interface Issue {
  field: string;
  location: 'body';
  code: string;
  message: string;
}

function fail(issues: Issue[]): never {
  const first = issues[0]!;
  throw new ApiError('VALIDATION_ERROR', `${first.field}: ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`, { details: { issues } });
}

const schemaIssue = (path: string, message: string): Issue => ({ field: `manifest_json.config_schema${path}`, location: 'body', code: 'invalid_schema', message });

/** Refuses what ajv should not compile from a tenant: too big, too deep, regular expressions, remote refs. */
function bound(schema: unknown): void {
  const text = JSON.stringify(schema);
  if (text.length > MAX_SCHEMA_CHARS) fail([schemaIssue('', `a config schema is at most ${MAX_SCHEMA_CHARS} characters of JSON`)]);
  const walk = (node: unknown, path: string, depth: number): void => {
    if (depth > MAX_SCHEMA_DEPTH) fail([schemaIssue(path, `nested deeper than ${MAX_SCHEMA_DEPTH} levels`)]);
    if (Array.isArray(node)) return node.forEach((item, i) => walk(item, `${path}.${i}`, depth + 1));
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      const at = `${path}.${key}`;
      if (REFUSED_KEYWORDS.has(key)) fail([schemaIssue(at, `'${key}' is not supported in a plugin's config schema (use enum, format or length limits)`)]);
      if (key === '$ref' && (typeof value !== 'string' || !value.startsWith('#'))) fail([schemaIssue(at, 'only references within the schema (#/...) are supported')]);
      walk(value, at, depth + 1);
    }
  };
  walk(schema, '', 0);
}

/** Compiles a manifest's config schema; a 400 naming `manifest_json.config_schema...` when it is not one. */
export function compileConfigSchema(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  const known = compiled.get(key);
  if (known) return known;
  bound(schema);
  if (!ajv.validateSchema(schema)) {
    fail((ajv.errors ?? []).map((e) => schemaIssue(pointerToPath(e.instancePath), e.message ?? 'invalid schema')));
  }
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (error) {
    fail([schemaIssue('', (error as Error).message)]);
  }
  if (compiled.size > 500) compiled.clear();
  compiled.set(key, validate);
  return validate;
}

/** `/a/0/b` -> `.a.0.b` (the platform's field paths join with dots). */
function pointerToPath(pointer: string): string {
  if (!pointer) return '';
  return pointer
    .split('/')
    .slice(1)
    .map((part) => `.${part.replace(/~1/g, '/').replace(/~0/g, '~')}`)
    .join('');
}

function fieldOf(error: ErrorObject): string {
  let path = `config_json${pointerToPath(error.instancePath)}`;
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'required' && typeof params.missingProperty === 'string') path += `.${params.missingProperty}`;
  if (error.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') path += `.${params.additionalProperty}`;
  if (error.keyword === 'unevaluatedProperties' && typeof params.unevaluatedProperty === 'string') path += `.${params.unevaluatedProperty}`;
  return path;
}

function messageOf(error: ErrorObject): string {
  if (error.keyword === 'required') return 'required by the plugin\'s config schema';
  if (error.keyword === 'additionalProperties' || error.keyword === 'unevaluatedProperties') return 'unknown field; the plugin\'s config schema does not allow it';
  if (error.keyword === 'enum') return `${error.message}: ${JSON.stringify((error.params as { allowedValues?: unknown[] }).allowedValues)}`;
  return error.message ?? 'invalid value';
}

/**
 * Checks a config against the manifest's schema (none: any object) and returns it with the schema's
 * defaults filled in; a 400 whose issues name each path (`config_json.api.url`).
 */
export function validatePluginConfig(schema: Record<string, unknown> | undefined, config: Record<string, unknown>): Record<string, unknown> {
  if (!schema) return config;
  const validate = compileConfigSchema(schema);
  const copy = structuredClone(config);
  if (validate(copy)) return copy;
  const issues = (validate.errors ?? []).map((e): Issue => ({ field: fieldOf(e), location: 'body', code: e.keyword, message: messageOf(e) }));
  fail(issues.length ? issues : [{ field: 'config_json', location: 'body', code: 'invalid', message: 'does not match the plugin\'s config schema' }]);
}
