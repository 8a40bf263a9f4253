import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../../../core/http/context.ts';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { requestHeader } from '../../../core/http/headers.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { tenantOfHost } from '../branding/domains.ts';
import { createRouter, defineRoute, errorResponse, idParam, offsetPage } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import {
  createForm,
  deleteForm,
  duplicateForm,
  exportSubmissions,
  formAnalytics,
  getPublicForm,
  listForms,
  listSubmissions,
  startPublicForm,
  submitPublicForm,
  updateForm,
} from './service.ts';

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;
const PUBLIC = { kind: 'public' } as const;
const TAGS = ['Forms'];
const Json = z.record(z.string(), z.unknown());

const FieldSchema = z
  .object({
    property: z.string().min(1).max(64).openapi({ description: 'The linked object type\'s property this field fills', example: 'email' }),
    label: z.string().max(200).optional(),
    required: z.boolean().optional(),
    placeholder: z.string().max(200).optional(),
    help_text: z.string().max(1000).optional(),
  })
  .openapi('FormField');
const Status = z.enum(['draft', 'active', 'archived']).openapi({ description: 'Only `active` forms are public' });
const FormSchema = z
  .object({
    id: z.string().openapi({ example: 'form_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    name: z.string(),
    description: z.string().nullable(),
    object_type_id: z.string(),
    fields: z.array(FieldSchema),
    settings: Json,
    status: Status,
    public_path: z.string(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('Form');
const SubmissionSchema = z.object({ id: z.string(), form_id: z.string(), object_id: z.string().nullable(), data: Json, created_at: IsoDate }).openapi('FormSubmission');

const Params = idParam('form_id');
const Name = z.string().min(1).max(200);
const Fields = z.array(FieldSchema).min(1).max(100);
const NOT_FOUND = { 404: errorResponse('No such form (also another tenant\'s)') };
const FIELD_ERRORS = { 400: errorResponse('Invalid input: a field names no property of the type, or twice (the message names the field)') };

const list = defineRoute(READ, {
  method: 'get',
  path: '/v1/forms',
  tags: TAGS,
  summary: 'List forms',
  request: { query: offsetQuery({ limit: 50, max: 200 }) },
  responses: { 200: jsonResponse(z.array(FormSchema), 'Forms, newest first') },
});
const create = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/forms',
  tags: TAGS,
  summary: 'Create form',
  description: 'A form whose fields fill properties of `object_type_id`; it starts as a `draft` unless `status` says otherwise.',
  request: {
    body: jsonBody(z.object({ name: Name, description: z.string().max(2000).nullable().optional(), object_type_id: z.string().min(1).max(64), fields: Fields, settings: Json.optional(), status: Status.optional() })),
  },
  responses: { 201: jsonResponse(FormSchema, 'Created'), ...FIELD_ERRORS, 404: errorResponse('No such object type') },
});
const update = defineRoute(WRITE, {
  method: 'patch',
  path: '/v1/forms/{form_id}',
  tags: TAGS,
  summary: 'Update form',
  request: {
    params: Params,
    body: jsonBody(z.object({ name: Name.optional(), description: z.string().max(2000).nullable().optional(), fields: Fields.optional(), settings: Json.optional(), status: Status.optional() })),
  },
  responses: { 200: jsonResponse(FormSchema, 'Updated'), ...FIELD_ERRORS, ...NOT_FOUND },
});
const remove = defineRoute(WRITE, {
  method: 'delete',
  path: '/v1/forms/{form_id}',
  tags: TAGS,
  summary: 'Delete form',
  description: 'Deletes the form and its submissions; the records they created stay.',
  request: { params: Params },
  responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), 'Deleted'), ...NOT_FOUND },
});
const duplicate = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/forms/{form_id}/duplicate',
  tags: TAGS,
  summary: 'Duplicate form',
  description: 'A copy named "<name> (copy)", as a draft.',
  request: { params: Params },
  responses: { 201: jsonResponse(FormSchema, 'The copy'), ...NOT_FOUND },
});
const exportRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/forms/{form_id}/submissions/export',
  tags: TAGS,
  summary: 'Export form submissions',
  description: 'Every submission (up to 100,000), one column per field; `content` is the file.',
  request: { params: Params, query: z.object({ format: z.enum(['csv', 'json']).default('csv') }) },
  responses: {
    200: jsonResponse(z.object({ format: z.enum(['csv', 'json']), filename: z.string(), content_type: z.string(), count: z.number().int(), content: z.string() }), 'The export'),
    ...NOT_FOUND,
  },
});
const analytics = defineRoute(READ, {
  method: 'get',
  path: '/v1/forms/{form_id}/analytics',
  tags: TAGS,
  summary: 'Get form analytics',
  description: 'Views (public GETs) and submissions per day over `days` (default 30), from a daily rollup.',
  request: { params: Params, query: z.object({ days: z.coerce.number().int().min(1).max(366).default(30) }) },
  responses: {
    200: jsonResponse(
      z.object({
        form_id: z.string(),
        days: z.number().int(),
        totals: z.object({ views: z.number().int(), starts: z.number().int(), submissions: z.number().int(), conversion_rate: z.number().nullable() }),
        daily: z.array(z.object({ day: z.string(), views: z.number().int(), starts: z.number().int(), submissions: z.number().int() })),
      }),
      'The analytics',
    ),
    ...NOT_FOUND,
  },
});
const submissions = defineRoute(READ, {
  method: 'get',
  path: '/v1/forms/{form_id}/submissions',
  tags: TAGS,
  summary: 'List form submissions',
  request: { params: Params, query: offsetQuery({ limit: 50, max: 200 }) },
  responses: { 200: jsonResponse(offsetPage('submissions', SubmissionSchema), 'Submissions, newest first'), ...NOT_FOUND },
});

const PUBLIC_TAGS = ['Public Forms'];
const publicGet = defineRoute(PUBLIC, {
  method: 'get',
  path: '/v1/forms/{form_id}',
  tags: PUBLIC_TAGS,
  summary: 'Get public form',
  description: 'Retrieve a published form definition including fields, settings, and branding. No authentication; counts a view. A draft, archived or unknown form, or a tenant_id that is not the form\'s, is 404. On a tenant\'s verified custom domain `tenant_id` may be left out, and only that tenant\'s forms are found.',
  request: { params: Params, query: z.object({ tenant_id: z.string().min(1).max(64).optional().openapi({ description: 'The form\'s tenant; optional on the tenant\'s verified custom domain' }) }) },
  responses: {
    200: jsonResponse(
      z.object({
        form_id: z.string(),
        name: z.string(),
        description: z.string().nullable(),
        object_type_id: z.string(),
        fields: z.array(FieldSchema),
        settings: Json,
        branding: Json,
        require_captcha: z.boolean(),
        captcha_site_key: z.string().nullable().optional(),
      }),
      'The published form',
    ),
    404: errorResponse('No published form with this id in this tenant'),
  },
});
const submit = defineRoute(
  PUBLIC,
  {
    method: 'post',
    path: '/v1/forms/{form_id}/submit',
    tags: PUBLIC_TAGS,
    summary: 'Submit public form',
    description:
      'Submit data through a public form. Creates an object in the linked type (validated by its properties\' rules) and the submission in one transaction. Rate-limited: 10 submissions a minute per address. When the tenant enables captcha, `turnstile_token` is required.',
    request: {
      params: Params,
      body: jsonBody(z.object({ data: Json.openapi({ description: 'Field values by property name' }), turnstile_token: z.string().max(4096).optional() })),
    },
    responses: {
      200: jsonResponse(z.object({ submitted: z.literal(true), object_id: z.string(), submission_id: z.string() }), 'Submitted'),
      400: errorResponse('A value the field\'s property refuses, a missing required field, a key that is no field, or a missing/refused turnstile_token'),
      403: errorResponse('The linked type refuses the record (a policy or governance rule)'),
      404: errorResponse('No published form with this id'),
      409: errorResponse('A unique property already has this value'),
      503: errorResponse('The captcha verifier could not be reached'),
    },
  },
  { idempotency: false },
);

const start = defineRoute(
  PUBLIC,
  {
    method: 'post',
    path: '/v1/forms/{form_id}/start',
    tags: PUBLIC_TAGS,
    summary: 'Count a form start',
    description:
      'Called by a public form\'s page when a visitor first fills a field: counts a start in the form\'s analytics (views, starts, submissions per day). No body, no authentication; 30 a minute per address.',
    request: { params: Params },
    responses: {
      200: jsonResponse(z.object({ started: z.literal(true) }), 'Counted'),
      404: errorResponse('No published form with this id'),
    },
  },
  { idempotency: false },
);

const metaOf = (c: Context<AppEnv>) => ({ requestId: c.get('requestId'), ip: c.get('ip'), userAgent: requestHeader(c, 'user-agent') });

export function formsRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listForms(ctx, c.req.valid('query')))), 200));
  app.openapi(create, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => createForm(ctx, c.req.valid('json')))), 201));
  app.openapi(publicGet, async (c) => c.json(ok(c, await getPublicForm(c.get('kernel'), c.req.valid('param').form_id, c.req.valid('query').tenant_id, await tenantOfHost(c.get('kernel'), c), metaOf(c))), 200));
  app.openapi(update, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => updateForm(ctx, c.req.valid('param').form_id, c.req.valid('json')))), 200));
  app.openapi(remove, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => deleteForm(ctx, c.req.valid('param').form_id))), 200));
  app.openapi(duplicate, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => duplicateForm(ctx, c.req.valid('param').form_id))), 201));
  app.openapi(submit, async (c) => c.json(ok(c, await submitPublicForm(c.get('kernel'), c.req.valid('param').form_id, await tenantOfHost(c.get('kernel'), c), c.req.valid('json'), metaOf(c))), 200));
  app.openapi(start, async (c) => c.json(ok(c, await startPublicForm(c.get('kernel'), c.req.valid('param').form_id, await tenantOfHost(c.get('kernel'), c), metaOf(c))), 200));
  app.openapi(exportRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => exportSubmissions(ctx, c.req.valid('param').form_id, c.req.valid('query').format))), 200));
  app.openapi(analytics, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => formAnalytics(ctx, c.req.valid('param').form_id, c.req.valid('query').days))), 200));
  app.openapi(submissions, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listSubmissions(ctx, c.req.valid('param').form_id, c.req.valid('query')))), 200));
  return app;
}
