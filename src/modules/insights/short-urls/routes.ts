import { z } from '@hono/zod-openapi';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { tenantOfHost } from '../branding/domains.ts';
import { createRouter, defineRoute, errorResponse } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { createShortUrl, deleteShortUrl, getShortUrl, listShortUrls, resolveShortUrl, updateShortUrl } from './service.ts';

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;
const TAGS = ['Short URLs'];

const Slug = z
  .string()
  .min(3)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'letters, digits, - and _ (starting with a letter or digit)')
  .openapi({ example: 'spring-sale' });
const Target = z
  .string()
  .max(2048)
  .url()
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http(s) URL')
  .openapi({ example: 'https://example.com/landing?utm_source=sms' });
const ShortUrlSchema = z
  .object({
    id: z.string(),
    slug: z.string(),
    target_url: z.string(),
    title: z.string().nullable(),
    short_path: z.string().openapi({ description: 'The public redirect on this server' }),
    expires_at: IsoDate.nullable(),
    max_clicks: z.number().int().nullable(),
    clicks: z.number().int(),
    last_clicked_at: IsoDate.nullable(),
    active: z.boolean().openapi({ description: 'False once expired or the click limit is reached' }),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('ShortUrl');
const Params = z.object({ slug: z.string().min(1).max(64).openapi({ param: { name: 'slug', in: 'path' } }) });
const NOT_FOUND = { 404: errorResponse('No such short URL (also another tenant\'s)') };
const Fields = {
  title: z.string().max(200).nullable().optional(),
  expires_at: z.iso.datetime({ offset: true }).nullable().optional(),
  max_clicks: z.number().int().min(1).max(1_000_000_000).nullable().optional(),
};

const list = defineRoute(READ, {
  method: 'get',
  path: '/v1/short-urls',
  tags: TAGS,
  summary: 'List short URLs',
  request: { query: offsetQuery({ limit: 50, max: 200 }) },
  responses: {
    200: jsonResponse(z.object({ results: z.array(ShortUrlSchema), total: z.number().int() }), 'Short URLs, newest first'),
  },
});
const create = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/short-urls',
  tags: TAGS,
  summary: 'Create a short URL',
  description: 'A link `/s/{slug}` to an http(s) target; without `slug` a random one is chosen.',
  request: { body: jsonBody(z.object({ target_url: Target, slug: Slug.optional(), ...Fields })) },
  responses: { 201: jsonResponse(ShortUrlSchema, 'Created'), 409: errorResponse('Slug already taken') },
});
const get = defineRoute(READ, {
  method: 'get',
  path: '/v1/short-urls/{slug}',
  tags: TAGS,
  summary: 'Get short URL details',
  request: { params: Params },
  responses: { 200: jsonResponse(ShortUrlSchema, 'The short URL with its click count'), ...NOT_FOUND },
});
const update = defineRoute(WRITE, {
  method: 'patch',
  path: '/v1/short-urls/{slug}',
  tags: TAGS,
  summary: 'Update a short URL',
  request: { params: Params, body: jsonBody(z.object({ target_url: Target.optional(), ...Fields })) },
  responses: { 200: jsonResponse(ShortUrlSchema, 'Updated'), ...NOT_FOUND },
});
const remove = defineRoute(WRITE, {
  method: 'delete',
  path: '/v1/short-urls/{slug}',
  tags: TAGS,
  summary: 'Delete a short URL',
  request: { params: Params },
  responses: { 200: jsonResponse(z.object({ slug: z.string(), deleted: z.literal(true) }), 'Deleted'), ...NOT_FOUND },
});
const redirect = defineRoute({ kind: 'public' }, {
  method: 'get',
  path: '/s/{slug}',
  tags: TAGS,
  summary: 'Follow a short URL',
  description: 'Public: answers 302 to the target and counts the click. On a tenant\'s verified custom domain, only that tenant\'s links are found.',
  request: { params: Params },
  responses: {
    302: { description: 'Redirect to the target URL (Location header)' },
    404: errorResponse('No such short URL, or it expired or reached its click limit'),
  },
});

export function shortUrlRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listShortUrls(ctx, c.req.valid('query')))), 200));
  app.openapi(create, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => createShortUrl(ctx, c.req.valid('json')))), 201));
  app.openapi(get, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getShortUrl(ctx, c.req.valid('param').slug))), 200));
  app.openapi(update, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => updateShortUrl(ctx, c.req.valid('param').slug, c.req.valid('json')))), 200));
  app.openapi(remove, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => deleteShortUrl(ctx, c.req.valid('param').slug))), 200));
  app.openapi(redirect, async (c) => {
    const target = await resolveShortUrl(c.get('kernel'), c.req.valid('param').slug, await tenantOfHost(c.get('kernel'), c), { requestId: c.get('requestId'), ip: c.get('ip') });
    c.header('Cache-Control', 'no-store');
    return c.redirect(target, 302) as never;
  });
  return app;
}
