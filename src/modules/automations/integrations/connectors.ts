import { z } from '@hono/zod-openapi';
import { ApiError } from '../../../core/http/errors.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { assertOutboundUrls } from '../../../core/net/outbound.ts';
import { checkMapping } from '../actions/expressions.ts';
import { throwIssues } from '../actions/vocabulary.ts';

/**
 * The connectors that ship, each a config schema, the directions it syncs and its secret fields:
 *
 * - `rest`: pulls JSON from a URL into records of an object type (inbound), and pushes the type's
 *   record changes to a URL (outbound), each with a JSONata field mapping.
 * - `s3_csv`: a CSV file in an S3-compatible bucket: rows imported into records (inbound), the
 *   type's records written back as CSV (outbound).
 * - `webhook`: an endpoint (`POST /v1/integrations/{id}/webhook`) that receives JSON and upserts
 *   records; nothing to pull, so a sync has nothing to do.
 *
 * Every inbound item is matched by its external id (`id_field`), so running a sync again, or a
 * sender delivering twice, updates the record it made instead of duplicating it.
 */
export const PROVIDERS = ['rest', 's3_csv', 'webhook'] as const;
export type Provider = (typeof PROVIDERS)[number];
export type Direction = 'inbound' | 'outbound' | 'both';

export const DIRECTIONS: Record<Provider, readonly Direction[]> = {
  rest: ['inbound', 'outbound', 'both'],
  s3_csv: ['inbound', 'outbound', 'both'],
  webhook: ['inbound'],
};

/** Sealed with the kernel's SecretBox at rest and shown as `********`: `text` values as they are, `json` ones as JSON. */
export const SECRET_FIELDS: Record<string, 'text' | 'json'> = {
  auth_token: 'text',
  headers: 'json',
  push_headers: 'json',
  access_key_id: 'text',
  secret_access_key: 'text',
  secret: 'text',
};

const Expr = z.string().min(1).max(2000);
const Mapping = z.record(z.string().min(1).max(64), Expr);
const ObjectType = z.string().min(1).max(64).openapi({ description: 'The object type the items become records of (or whose records are pushed)', example: 'contacts' });
const IdField = z.string().min(1).max(500).default('id').openapi({ description: 'JSONata giving an item\'s external id (what makes syncs idempotent)', example: 'id' });
const Headers = z.record(z.string().min(1).max(200), z.string().max(4096));

export const RestConfigSchema = z
  .object({
    url: z.string().url().max(2048).optional().openapi({ description: 'Inbound: where the JSON comes from (GET unless `method`)', example: 'https://api.example.com/contacts' }),
    method: z.enum(['GET', 'POST']).optional(),
    headers: Headers.optional().openapi({ description: 'Sent with every request; sealed at rest, never returned' }),
    auth_token: z.string().max(4096).optional().openapi({ description: 'Sent as `Authorization: Bearer`; sealed at rest, never returned' }),
    items_path: z.string().max(500).optional().openapi({ description: 'JSONata selecting the array of items in the answer (default: the answer itself)', example: 'data.items' }),
    object_type: ObjectType,
    id_field: IdField,
    field_mapping: Mapping.optional().openapi({ description: 'Inbound: property name -> JSONata over the item', example: { name: 'first_name & " " & last_name', email: 'email' } }),
    push_url: z.string().url().max(2048).optional().openapi({ description: 'Outbound: where a created or updated record is sent (JSON body, `Idempotency-Key: <record id>:v<version>`)', example: 'https://api.example.com/contacts' }),
    push_method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
    push_headers: Headers.optional().openapi({ description: 'Outbound: extra headers; sealed at rest, never returned' }),
    push_mapping: Mapping.optional().openapi({
      description: 'Outbound: body field -> JSONata over the record (`id`, `properties`, `version`, `created_at`, `updated_at`); default `{id, ...properties}`',
      example: { external_ref: 'id', full_name: 'properties.name' },
    }),
    push_deletes: z.boolean().default(false).openapi({ description: 'Outbound: send `DELETE <push_url>/<record id>` when a record is deleted' }),
  })
  .strict();

export const S3CsvConfigSchema = z
  .object({
    endpoint: z.string().url().max(2048).optional().openapi({ description: 'An S3-compatible endpoint (MinIO, R2, ...); default AWS S3 of `region`', example: 'https://s3.eu-central-1.amazonaws.com' }),
    region: z.string().min(1).max(64).default('us-east-1'),
    bucket: z.string().min(3).max(63).regex(/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/).openapi({ example: 'crm-exports' }),
    key: z.string().min(1).max(1024).openapi({ description: 'The CSV object read by an inbound sync', example: 'contacts.csv' }),
    export_key: z.string().min(1).max(1024).optional().openapi({ description: 'The object an outbound sync writes (default `key`)' }),
    force_path_style: z.boolean().optional().openapi({ description: 'Path-style addressing (default true with `endpoint`)' }),
    access_key_id: z.string().min(1).max(256).openapi({ description: 'Sealed at rest, never returned' }),
    secret_access_key: z.string().min(1).max(256).openapi({ description: 'Sealed at rest, never returned' }),
    delimiter: z.string().length(1).default(','),
    object_type: ObjectType,
    id_field: IdField.openapi({ description: 'JSONata over a row (its columns by header name) giving the external id', example: 'id' }),
    field_mapping: Mapping.optional().openapi({ description: 'Inbound: property name -> JSONata over the row; default every column to the property of its name', example: { name: '`Full name`', email: 'email' } }),
    export_columns: Mapping.optional().openapi({
      description: 'Outbound: CSV column -> JSONata over the record (`id`, `properties`, ...); default `id` and every property',
      example: { id: 'id', name: 'properties.name' },
    }),
  })
  .strict();

export const WebhookConfigSchema = z
  .object({
    secret: z.string().min(16).max(256).openapi({
      description: 'What senders prove: `Authorization: Bearer <secret>`, or `X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`. Sealed at rest, never returned',
    }),
    items_path: z.string().max(500).optional().openapi({ description: 'JSONata selecting the items in a delivery (default: the body; an object is one item)' }),
    object_type: ObjectType,
    id_field: IdField,
    field_mapping: Mapping.openapi({ description: 'Property name -> JSONata over the item', example: { name: 'name', email: 'email' } }),
  })
  .strict();

export type RestConfig = z.infer<typeof RestConfigSchema>;
export type S3CsvConfig = z.infer<typeof S3CsvConfigSchema>;
export type WebhookConfig = z.infer<typeof WebhookConfigSchema>;
export type AnyConfig = RestConfig | S3CsvConfig | WebhookConfig;

export const CONFIG_SCHEMAS: Record<Provider, z.ZodObject<any>> = { rest: RestConfigSchema, s3_csv: S3CsvConfigSchema, webhook: WebhookConfigSchema };

const invalid = (field: string, message: string) =>
  new ApiError('VALIDATION_ERROR', `${field}: ${message}`, { details: { issues: [{ field, location: 'body', code: 'invalid_config', message }] } });

export const pullsIn = (d: Direction) => d === 'inbound' || d === 'both';
export const pushesOut = (d: Direction) => d === 'outbound' || d === 'both';

/**
 * Checks a provider's config for a direction: shape, what the direction needs, expressions, and
 * URLs under the outbound policy. Call before a transaction: it resolves DNS.
 */
export async function checkConfig(kernel: Kernel, provider: string, config: Record<string, unknown>, direction: Direction = 'inbound'): Promise<AnyConfig> {
  if (!(PROVIDERS as readonly string[]).includes(provider)) throw invalid('provider', `unknown provider '${provider}'; available: ${PROVIDERS.join(', ')}`);
  const p = provider as Provider;
  if (!DIRECTIONS[p].includes(direction)) throw invalid('sync_direction', `a ${p} integration syncs ${DIRECTIONS[p].join(' or ')}`);
  const parsed = CONFIG_SCHEMAS[p].safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.code === 'unrecognized_keys' ? `config_json.${issue.keys[0]}` : ['config_json', ...issue.path].join('.');
    throw invalid(at, issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message);
  }
  const c = parsed.data as Record<string, any>;
  const needs = (field: string, why: string) => {
    if (c[field] === undefined) throw invalid(`config_json.${field}`, `required ${why}`);
  };
  if (p === 'rest') {
    if (pullsIn(direction)) {
      needs('url', 'to sync inbound');
      needs('field_mapping', 'to sync inbound');
    }
    if (pushesOut(direction)) needs('push_url', 'to sync outbound');
  }
  const expressions: [string, string][] = [
    ...(c.items_path ? [['config_json.items_path', c.items_path] as [string, string]] : []),
    ['config_json.id_field', c.id_field],
    ...(['field_mapping', 'push_mapping', 'export_columns'] as const).flatMap((m) => Object.entries((c[m] ?? {}) as Record<string, string>).map(([k, v]) => [`config_json.${m}.${k}`, v] as [string, string])),
  ];
  throwIssues(expressions.flatMap(([field, source]) => checkMapping(`{{${source}}}`, field)));
  await assertOutboundUrls(kernel.outbound, [
    { field: 'config_json.url', url: c.url },
    { field: 'config_json.push_url', url: c.push_url },
    { field: 'config_json.endpoint', url: c.endpoint },
  ]);
  return parsed.data as AnyConfig;
}
