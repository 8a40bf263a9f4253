import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { tenantWork } from '../../core/http/work.ts';
import { httpUrl } from '../../core/net/http-url.ts';
import { SERVICE, VERSION } from '../../core/version.ts';
import { identityWork, listUsers, publicBaseUrl } from '../../modules/auth/index.ts';
import { completeSlot, createSlot, deleteFile, getFileRow, searchFiles, signContentQuery, verifySlotBytes, type FileDto } from '../../modules/files/index.ts';
import { accountSettingsOf, getTenant, recordContactMessage, updateAccountSettings } from '../../modules/tenants/index.ts';
import { surfaceRoute } from '../surface.ts';
import { IdParam, NO_NUL, OPEN_ERRORS, text, success, SuccessResponse, TenantRef, tenantFor } from './auth.ts';
import { authed, CONFLICT, DateTime, ERRORS, errorOf, json, NOT_FOUND, open, principalOf, PUBLIC_ERRORS } from './http.ts';

/**
 * The agent service's operational routes: probes at the root of its host, the contact form, tenant
 * settings and presigned storage. Storage objects are files of the files module: an upload URL
 * reserves a slot (an S3 presigned PUT, or the platform's upload-put route with local storage), and the
 * first download URL of an uploaded slot checks its bytes and makes it a file.
 */

const STARTED = Date.now();

// ---------------------------------------------------------------- probes

const HealthResponse = z
  .object({
    status: z.enum(['healthy', 'ready', 'not_ready', 'unhealthy']),
    timestamp: DateTime,
    version: z.string(),
    uptime: z.number().openapi({ description: 'Seconds since the process started' }),
    checks: z.record(z.string(), z.enum(['ok', 'down', 'not_configured'])).optional().openapi({ description: 'Per dependency (readiness and storage probes)' }),
  })
  .openapi('HealthResponse');

const probe = { access: { kind: 'probe' } as const };
const UNAVAILABLE = { 503: json(HealthResponse, 'A dependency is down') };

const root = surfaceRoute(
  {
    method: 'get',
    path: '/',
    operationId: 'root',
    tags: ['default'],
    summary: 'Root',
    description: 'Names the service and where its reference is (served on the agent service\'s own host).',
    responses: { 200: json(z.object({ message: z.string(), service: z.string(), version: z.string(), docs: z.string(), openapi: z.string() }), 'The service') },
  },
  probe,
);

const health = surfaceRoute(
  {
    method: 'get',
    path: '/health',
    operationId: 'health_check',
    tags: ['health'],
    summary: 'Health Check',
    description: 'Liveness: the process answers. Touches no dependency.',
    responses: { 200: json(HealthResponse, 'Alive') },
  },
  probe,
);

const ready = surfaceRoute(
  {
    method: 'get',
    path: '/health/ready',
    operationId: 'readiness_check',
    tags: ['health'],
    summary: 'Readiness Check',
    description: 'Checks the database and Redis (when configured), 5 s each; 503 with the same body when one is down.',
    responses: { 200: json(HealthResponse, 'Ready'), ...UNAVAILABLE },
  },
  probe,
);

const storageHealth = surfaceRoute(
  {
    method: 'get',
    path: '/health/storage',
    operationId: 'storage_health',
    tags: ['health'],
    summary: 'Storage Health',
    description: 'Checks that the object storage (local directory or S3) answers; 503 when it does not.',
    responses: { 200: json(HealthResponse, 'Storage answers'), ...UNAVAILABLE },
  },
  probe,
);

async function check(c: Context<AppEnv>, name: string, fn: () => Promise<unknown>, ms = 5_000): Promise<'ok' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([fn(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)))]);
    return 'ok';
  } catch (error) {
    c.get('log')?.warn({ err: error, check: name }, 'health check failed');
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

const healthOf = (status: z.infer<typeof HealthResponse>['status'], checks?: Record<string, 'ok' | 'down' | 'not_configured'>) => ({
  status,
  timestamp: new Date().toISOString(),
  version: VERSION,
  uptime: Math.round((Date.now() - STARTED) / 1000),
  ...(checks ? { checks } : {}),
});

// ---------------------------------------------------------------- contact

const ContactSubmissionRequest = z
  .object({
    name: text(200),
    email: z.string().trim().email().max(254),
    company: text(200, 0).optional(),
    topic: text(100, 0).optional(),
    subject: text(200, 0).optional(),
    message: text(5000),
    tenant_id: TenantRef.optional(),
    honeypot: z.string().max(200).regex(NO_NUL).optional().openapi({ description: 'Leave empty: a filled one marks a bot, whose message is answered but dropped' }),
  })
  .openapi('ContactSubmissionRequest');

const contact = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/contact',
    operationId: 'submit_contact',
    tags: ['contact'],
    summary: 'Submit Contact',
    description:
      'A contact-form message to the tenant: stored and mailed to its admins (users with the admin role, and the owner address) through the mail provider. Public (a site\'s contact form): name the tenant with `tenant_id`, X-Tenant-Id or a publishable key; a signed-in caller\'s token names it too. Limited per address like every public route.',
    request: { body: { content: { 'application/json': { schema: ContactSubmissionRequest } }, required: true } },
    responses: {
      ...OPEN_ERRORS,
      202: json(SuccessResponse, 'Received; `data.id` names the stored message'), 400: errorOf('The tenant is not named'), ...NOT_FOUND('The tenant') },
  },
  open(),
);

/** Admin users and the owner address: who hears of contact messages. */
async function adminAddresses(c: Context<AppEnv>, tenantId: string): Promise<string[]> {
  const kernel = c.get('kernel');
  const tenant = await getTenant(kernel.db.system, tenantId);
  const { users } = await identityWork(c, (ctx) => listUsers(ctx, { role: 'admin', limit: 50, offset: 0, audience: 'app' }), tenantId);
  const addresses = users.filter((u) => u.email && !u.banned).map((u) => u.email!);
  if (tenant.ownerEmail) addresses.push(tenant.ownerEmail);
  return [...new Set(addresses)];
}

// ---------------------------------------------------------------- tenant settings

const BillingContactModel = z
  .object({
    name: text(200),
    email: z.string().trim().email().max(254),
    role: text(100, 0).nullish(),
    phone: text(50, 0).nullish(),
    notify_billing: z.boolean().optional().openapi({ description: 'Default true' }),
  })
  .openapi('BillingContactModel');

const SignupPolicy = z.enum(['open', 'invite_only', 'approval']);

const TenantSettingsResponse = z
  .object({
    tenant_id: z.string(),
    billing_contacts: z.array(BillingContactModel),
    billing_webhook_url: z.string().nullable(),
    plan_metadata: z.record(z.string(), z.string()),
    flags: z.record(z.string(), z.boolean()),
    signup_policy: SignupPolicy,
    version: z.number().int().openapi({ description: 'Bumped by every update; send it back as `version` to refuse an update over someone else\'s' }),
    updated_at: DateTime.nullable(),
  })
  .openapi('TenantSettingsResponse');

const FlagKey = z.string().min(1).max(64).regex(/^[a-z0-9][a-z0-9_.-]*$/);

const TenantSettingsUpdateRequest = z
  .object({
    billing_contacts: z.array(BillingContactModel).max(20).optional(),
    billing_webhook_url: httpUrl('Where billing events are posted (http or https)').nullish(),
    plan_metadata: z.record(text(64), text(500, 0)).optional(),
    flags: z.record(FlagKey, z.boolean()).optional(),
    signup_policy: SignupPolicy.optional(),
    version: z.number().int().min(0).optional().openapi({ description: 'The version you read: the update is refused (409) when the settings changed since' }),
  })
  .refine((v) => !v.plan_metadata || Object.keys(v.plan_metadata).length <= 50, { message: 'At most 50 plan_metadata entries', path: ['plan_metadata'] })
  .refine((v) => !v.flags || Object.keys(v.flags).length <= 100, { message: 'At most 100 flags', path: ['flags'] })
  .openapi('TenantSettingsUpdateRequest');

const getSettings = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/tenants/settings',
    operationId: 'get_tenant_settings',
    tags: ['tenants'],
    summary: 'Get Tenant Settings',
    description: 'The tenant\'s billing contacts, billing webhook, plan metadata, feature flags and signup policy. Needs scope `read`.',
    responses: { 200: json(TenantSettingsResponse, 'The settings'), ...ERRORS },
  },
  authed('read'),
);

const putSettings = surfaceRoute(
  {
    method: 'put',
    path: '/api/v1/tenants/settings',
    operationId: 'update_tenant_settings',
    tags: ['tenants'],
    summary: 'Update Tenant Settings',
    description: 'Replaces the parts given (a part left out keeps its value). Needs scope `*` (an admin).',
    request: { body: { content: { 'application/json': { schema: TenantSettingsUpdateRequest } }, required: true } },
    responses: { 200: json(TenantSettingsResponse, 'The settings after the update'), ...ERRORS, ...CONFLICT('`version` is not the current one') },
  },
  authed('*'),
);

// ---------------------------------------------------------------- storage

const StoragePresignUploadRequest = z
  .object({
    filename: z
      .string()
      .trim()
      .min(1)
      .max(255)
      .refine((v) => !/[\u0000-\u001f/\\]/.test(v), 'A file name without slashes or control characters'),
    mime_type: text(255).optional(),
    size_bytes: z.number().int().min(0).openapi({ description: 'Exact size; checked when the object is first downloaded' }),
    checksum_sha256: z.string().regex(/^[0-9a-fA-F]{64}$/).optional(),
    metadata: z.record(text(64), text(500, 0)).optional(),
  })
  .openapi('StoragePresignUploadRequest');

const StoragePresignUploadResponse = z
  .object({
    object_id: z.string(),
    upload_url: z.string(),
    method: z.enum(['PUT', 'POST']),
    headers: z.record(z.string(), z.string()).openapi({ description: 'Headers to send with the upload (with local storage also your Authorization header)' }),
    object_key: z.string(),
    expires_at: DateTime,
  })
  .openapi('StoragePresignUploadResponse');

const StorageObjectResponse = z
  .object({
    id: z.string(),
    object_key: z.string(),
    filename: z.string(),
    mime_type: z.string().nullable(),
    size_bytes: z.number().int().nullable(),
    checksum_sha256: z.string().nullable(),
    status: z.enum(['pending', 'ready']),
    metadata: z.record(z.string(), z.unknown()),
    created_by: z.string().nullable(),
    created_at: DateTime,
    uploaded_at: DateTime.nullable(),
  })
  .openapi('StorageObjectResponse');

const StorageObjectListResponse = z
  .object({ items: z.array(StorageObjectResponse), next_cursor: z.string().nullable() })
  .openapi('StorageObjectListResponse');

const StoragePresignDownloadResponse = z
  .object({ object_id: z.string(), download_url: z.string(), method: z.literal('GET'), expires_at: DateTime })
  .openapi('StoragePresignDownloadResponse');

const ObjectParams = z.object({ object_id: IdParam('object_id', 'file_01jh3x2k7d9f8g6h5j4k3m2n1p') });

const uploadUrl = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/storage/objects/upload-url',
    operationId: 'create_presigned_upload',
    tags: ['storage'],
    summary: 'Create Presigned Upload',
    description:
      'Reserves an object of `size_bytes` and answers where to send its bytes: an S3 presigned PUT with S3 storage; with local storage the platform\'s `POST /v1/files/{id}/upload-put` on the main host (send your Authorization header). Unfinished reservations are removed after a day. Needs scope `files`.',
    request: { body: { content: { 'application/json': { schema: StoragePresignUploadRequest } }, required: true } },
    responses: { 201: json(StoragePresignUploadResponse, 'Where to upload'), ...ERRORS, 413: errorOf('Request body too large, or size_bytes over the largest upload'), 403: errorOf('Scope `files` missing, or the storage quota would be exceeded') },
  },
  authed('files'),
);

const listObjects = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/storage/objects',
    operationId: 'list_objects',
    tags: ['storage'],
    summary: 'List Objects',
    description: 'The tenant\'s objects, newest first; `status=pending` lists reservations whose upload is not finished. Needs scope `read`.',
    request: {
      query: z.object({
        status: z.enum(['pending', 'ready']).default('ready'),
        limit: z.coerce.number().int().min(1).max(100).default(50),
        cursor: z.string().max(500).regex(NO_NUL).optional(),
      }),
    },
    responses: { 200: json(StorageObjectListResponse, 'The objects'), ...ERRORS },
  },
  authed('read'),
);

const downloadUrl = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/storage/objects/{object_id}/download-url',
    operationId: 'get_download_url',
    tags: ['storage'],
    summary: 'Get Download Url',
    description:
      'A time-limited URL (60..86,400 s, default 3600) that downloads the object without credentials. For an object still pending, its uploaded bytes are checked first (size, and checksum when given) and it becomes ready. Needs scope `read`.',
    request: { params: ObjectParams, query: z.object({ expires_in: z.coerce.number().int().min(60).max(86_400).default(3600) }) },
    responses: {
      200: json(StoragePresignDownloadResponse, 'The URL'),
      ...NOT_FOUND('The object'),
      ...ERRORS,
      ...CONFLICT('Nothing was uploaded yet, or the reservation expired'),
      422: errorOf('The uploaded bytes differ from the announced size or checksum'),
    },
  },
  authed('read'),
);

const deleteObject = surfaceRoute(
  {
    method: 'delete',
    path: '/api/v1/storage/objects/{object_id}',
    operationId: 'delete_object',
    tags: ['storage'],
    summary: 'Delete Object',
    description: 'Deletes the object and its bytes for good (a pending reservation is cancelled). Needs scope `files`.',
    request: { params: ObjectParams },
    responses: { 204: { description: 'Deleted' }, ...NOT_FOUND('The object'), ...ERRORS },
  },
  authed('files'),
);

function objectOut(f: FileDto) {
  return {
    id: f.id,
    object_key: f.storage_key,
    filename: f.filename,
    mime_type: f.status === 'ready' ? f.mime_type : null,
    size_bytes: f.size_bytes,
    checksum_sha256: f.sha256,
    status: f.status as 'pending' | 'ready',
    metadata: f.meta,
    created_by: f.created_by,
    created_at: f.created_at,
    uploaded_at: f.uploaded_at,
  };
}

// ---------------------------------------------------------------- handlers

export function opsRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(root, (c) =>
    c.json({ message: 'Agent service API', service: SERVICE, version: VERSION, docs: '/docs', openapi: '/openapi.json' }, 200),
  );

  app.openapi(health, (c) => c.json(healthOf('healthy'), 200));

  app.openapi(ready, async (c) => {
    const kernel = c.get('kernel');
    const [database, redis] = await Promise.all([
      check(c, 'database', () => kernel.db.ping()),
      kernel.redis ? check(c, 'redis', () => kernel.redis!.ping()) : Promise.resolve('not_configured' as const),
    ]);
    if (database === 'down' || redis === 'down') return c.json(healthOf('not_ready', { database, redis }), 503) as never;
    return c.json(healthOf('ready', { database, redis }), 200);
  });

  app.openapi(storageHealth, async (c) => {
    const kernel = c.get('kernel');
    // A stat of a key that never exists: the store must answer (null), not fail.
    const storage = await check(c, 'storage', () => kernel.storage.stat('health/probe'));
    if (storage === 'down') return c.json(healthOf('unhealthy', { storage }), 503) as never;
    return c.json(healthOf('healthy', { storage }), 200);
  });

  app.openapi(contact, async (c) => {
    const body = c.req.valid('json');
    const tenantId = await tenantFor(c, body.tenant_id);
    if (body.honeypot) return c.json(success('Thanks, we will be in touch.', { id: null }), 202);
    const recipients = await adminAddresses(c, tenantId);
    const row = await identityWork(c, (ctx) => recordContactMessage(ctx, body, recipients), tenantId);
    return c.json(success('Thanks, we will be in touch.', { id: row.id }), 202);
  });

  app.openapi(getSettings, async (c) => {
    // The tenants row is read outside a tenant transaction (the embedded database has one connection).
    const row = await getTenant(c.get('kernel').db.system, principalOf(c).tenant.id);
    return c.json(accountSettingsOf(row), 200);
  });

  app.openapi(putSettings, async (c) => {
    const body = c.req.valid('json');
    const principal = c.get('principal');
    if (!principal || principal.kind === 'admin') throw new ApiError('UNAUTHORIZED', 'Not authenticated');
    const { version, ...rest } = body;
    const row = await updateAccountSettings(
      c.get('kernel'),
      principal.tenant.id,
      {
        ...rest,
        ...(rest.billing_contacts ? { billing_contacts: rest.billing_contacts.map((b) => ({ ...b, email: b.email.toLowerCase(), notify_billing: b.notify_billing ?? true })) } : {}),
        ...(version !== undefined ? { expected_version: version } : {}),
      },
      { type: principal.kind, id: principal.id },
      c.get('requestId'),
    );
    return c.json(accountSettingsOf(row), 200);
  });

  app.openapi(uploadUrl, async (c) => {
    const kernel = c.get('kernel');
    const body = c.req.valid('json');
    const max = kernel.config.FILES_MAX_UPLOAD_BYTES;
    if (body.size_bytes > max) throw new ApiError('PAYLOAD_TOO_LARGE', `size_bytes exceeds the largest upload of ${max} bytes`);
    const slot = await tenantWork(c, (ctx) =>
      createSlot(ctx, {
        filename: body.filename,
        ...(body.mime_type ? { mime_type: body.mime_type } : {}),
        size_bytes: body.size_bytes,
        ...(body.checksum_sha256 ? { sha256: body.checksum_sha256.toLowerCase() } : {}),
        ...(body.metadata ? { meta: body.metadata } : {}),
      }),
    );
    const expiresIn = Math.max(1, Math.round((slot.uploadExpiresAt!.getTime() - Date.now()) / 1000));
    const presigned = await kernel.storage.presignPut(slot.storageKey, { expiresIn: Math.min(expiresIn, 7 * 86_400) });
    return c.json(
      {
        object_id: slot.id,
        upload_url: presigned ?? `${publicBaseUrl(c)}/v1/files/${slot.id}/upload-put`,
        method: presigned ? ('PUT' as const) : ('POST' as const),
        headers: presigned ? {} : { 'Content-Type': 'application/octet-stream' },
        object_key: slot.storageKey,
        expires_at: slot.uploadExpiresAt!.toISOString(),
      },
      201,
    );
  });

  app.openapi(listObjects, async (c) => {
    const query = c.req.valid('query');
    const page = await tenantWork(c, (ctx) =>
      searchFiles(ctx, { status: query.status, sort: 'created_at', sort_dir: 'desc', limit: query.limit, cursor: query.cursor ?? null }),
    ).catch((error: unknown) => {
      // The files module names its cursor a body field; here it is a query parameter.
      if (error instanceof ApiError && error.code === 'VALIDATION_ERROR') {
        throw new ApiError('VALIDATION_ERROR', 'query.cursor: not a cursor this list issued', { details: { issues: [{ field: 'cursor', location: 'query', code: 'custom', message: 'Invalid cursor' }] } });
      }
      throw error;
    });
    return c.json({ items: page.results.map(objectOut), next_cursor: page.next_cursor }, 200);
  });

  app.openapi(downloadUrl, async (c) => {
    const kernel = c.get('kernel');
    const { object_id } = c.req.valid('param');
    const { expires_in } = c.req.valid('query');
    let row = await tenantWork(c, (ctx) => getFileRow(ctx, object_id, { pending: true }));
    if (row.status === 'pending') {
      if (row.uploadExpiresAt && row.uploadExpiresAt.getTime() <= Date.now()) throw new ApiError('CONFLICT', 'The upload reservation has expired; request a new upload URL');
      // Checking the bytes reads them back: outside any transaction.
      const verified = await verifySlotBytes(kernel, row);
      await tenantWork(c, (ctx) => completeSlot(ctx, object_id, verified), { write: true });
      row = await tenantWork(c, (ctx) => getFileRow(ctx, object_id));
    }
    const file = row;
    const expires = Math.floor(Date.now() / 1000) + expires_in;
    const presigned = await kernel.storage.presignGet(file.storageKey, { expiresIn: expires_in, contentType: file.mimeType });
    const url = presigned ?? `${publicBaseUrl(c)}/v1/files/${file.id}/content?${signContentQuery(kernel, { tenantId: file.tenantId, fileId: file.id, expires, disposition: 'attachment' })}`;
    return c.json({ object_id: file.id, download_url: url, method: 'GET' as const, expires_at: new Date(expires * 1000).toISOString() }, 200);
  });

  app.openapi(deleteObject, async (c) => {
    await tenantWork(c, (ctx) => deleteFile(ctx, c.req.valid('param').object_id, true));
    return c.body(null, 204);
  });
}
