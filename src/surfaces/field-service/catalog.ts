import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { tenantWork } from '../../core/http/work.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { getFile, searchFiles, type FileDto } from '../../modules/files/index.ts';
import type { ObjectDto } from '../../modules/objects/index.ts';
import { surfaceRoute } from '../surface.ts';
import { dataOf, DateTime, ERRORS, fieldRoute, idFrom, listQuery, NOT_FOUND_ERROR, pageOf, Uuid } from './http.ts';
import { toUuid } from './ids.ts';
import { pageOf as recordsPage, recordOf, withType, type Filter } from './records.ts';

/** Services (records of the `services` type, kept through /v1/objects) and files (the files module), read-only here as in the seed. */

export const ServiceSchema = z
  .object({
    id: Uuid,
    name: z.string(),
    description: z.string().nullable(),
    price: z.number(),
    duration_minutes: z.number().int(),
    is_active: z.boolean(),
    service_type: z.string().nullable(),
    created_at: DateTime,
  })
  .openapi('Service', {
    example: {
      id: '10fbd700-2b14-44c8-8b7b-f7786b3d9f74',
      name: 'Kitchen exhaust cleaning',
      description: 'Full hood, duct, and fan cleaning service.',
      price: 1950,
      duration_minutes: 180,
      is_active: true,
      service_type: 'commercial_kitchen',
      created_at: '2026-03-18T15:40:12.000Z',
    },
  });

export const FileSchema = z
  .object({
    id: Uuid,
    original_name: z.string(),
    content_type: z.string(),
    size_bytes: z.number().int(),
    status: z.string(),
    bucket: z.string().openapi({ description: 'The folder the file is in (`uploads` for the root)' }),
    created_at: DateTime,
  })
  .openapi('File', {
    example: {
      id: '1e8e8395-5581-4ad0-8462-0b4780d2fdd2',
      original_name: 'before-cleaning-photo.jpg',
      content_type: 'image/jpeg',
      size_bytes: 452301,
      status: 'ready',
      bucket: 'uploads',
      created_at: '2026-03-18T15:40:12.000Z',
    },
  });

function serviceOf(r: ObjectDto) {
  const p = r.properties as Record<string, unknown>;
  return {
    id: toUuid(r.id),
    name: String(p.name ?? ''),
    description: (p.description as string | undefined) ?? null,
    price: Number(p.price ?? 0),
    duration_minutes: Number(p.duration_minutes ?? 0),
    is_active: p.is_active !== false,
    service_type: (p.service_type as string | undefined) ?? null,
    created_at: r.created_at,
  };
}

const fileOf = (f: FileDto) => ({
  id: toUuid(f.id),
  original_name: f.filename,
  content_type: f.mime_type,
  size_bytes: f.size_bytes,
  status: f.status,
  bucket: f.folder ?? 'uploads',
  created_at: f.created_at,
});

const param = (name: string) => z.object({ [name]: z.string().max(64).openapi({ param: { name, in: 'path' }, format: 'uuid' }) });
const bool = z.enum(['true', 'false']).transform((v) => v === 'true');

const listServices = surfaceRoute(
  {
    method: 'get',
    path: '/api/public/v1/services',

    operationId: 'services_list',
    tags: ['Services'],
    summary: 'List services',
    description: 'List the service catalogue by active state, service type, or search query, newest first. Services are records of the `services` object type. Requires `read:services`.',
    request: {
      query: listQuery({
        is_active: bool.optional().openapi({ type: 'boolean' }),
        service_type: z.string().max(100).optional(),
        search: z.string().max(200).optional(),
      }),
    },
    responses: { 200: pageOf(ServiceSchema, 'A page of services'), ...ERRORS },
  },
  fieldRoute('read:services'),
);

const getService = surfaceRoute(
  {
    method: 'get',
    path: '/api/public/v1/services/{serviceId}',

    operationId: 'services_get',
    tags: ['Services'],
    summary: 'Get service',
    description: 'Retrieve one service of the catalogue. Requires `read:services`.',
    request: { params: param('serviceId') },
    responses: { 200: dataOf(ServiceSchema, 'The service'), ...ERRORS, ...NOT_FOUND_ERROR },
  },
  fieldRoute('read:services'),
);

const listFiles = surfaceRoute(
  {
    method: 'get',
    path: '/api/public/v1/files',

    operationId: 'files_list',
    tags: ['Files'],
    summary: 'List files',
    description: 'List the organization\'s files by status, content type, or filename search, newest first. Requires `read:files`.',
    request: {
      query: listQuery({
        status: z.enum(['ready', 'pending']).optional(),
        content_type: z.string().max(255).optional(),
        search: z.string().max(255).optional().openapi({ description: 'Part of the file name' }),
      }),
    },
    responses: { 200: pageOf(FileSchema, 'A page of files'), ...ERRORS },
  },
  fieldRoute('read:files'),
);

const getFileRoute = surfaceRoute(
  {
    method: 'get',
    path: '/api/public/v1/files/{fileId}',

    operationId: 'files_get',
    tags: ['Files'],
    summary: 'Get file',
    description: 'Retrieve one file\'s metadata. Requires `read:files`.',
    request: { params: param('fileId') },
    responses: { 200: dataOf(FileSchema, 'The file'), ...ERRORS, ...NOT_FOUND_ERROR },
  },
  fieldRoute('read:files'),
);

export function catalogRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(listServices, async (c) => {
    const q = c.req.valid('query');
    const filters: Filter[] = [];
    if (q.is_active !== undefined) filters.push({ property: 'is_active', op: 'eq', value: q.is_active });
    if (q.service_type) filters.push({ property: 'service_type', op: 'eq', value: q.service_type });
    const page = await withType(c, 'services', (ctx) => recordsPage(ctx, 'services', q, filters));
    const data = page.records.map(serviceOf);
    return c.json({ data, pagination: { count: data.length, limit: q.limit, next_cursor: page.next_cursor } }, 200);
  });

  app.openapi(getService, async (c) => {
    const id = idFrom('obj', c.req.valid('param').serviceId as string, 'Service');
    const data = await withType(c, 'services', async (ctx) => serviceOf(await recordOf(ctx, 'services', id, 'Service')));
    return c.json({ data }, 200);
  });

  app.openapi(listFiles, async (c) => {
    const q = c.req.valid('query');
    const page = await tenantWork(c, (ctx) =>
      searchFiles(ctx, {
        status: q.status,
        mime_type: q.content_type,
        filename: q.search,
        sort: 'created_at',
        sort_dir: 'desc',
        limit: q.limit,
        cursor: q.cursor,
      }),
    );
    const data = page.results.map(fileOf);
    return c.json({ data, pagination: { count: data.length, limit: q.limit, next_cursor: page.next_cursor } }, 200);
  });

  app.openapi(getFileRoute, async (c) => {
    const id = idFrom('file', c.req.valid('param').fileId as string, 'File');
    const data = await tenantWork(c, async (ctx) => {
      try {
        return fileOf(await getFile(ctx, id));
      } catch (error) {
        if (error instanceof ApiError && error.code === 'NOT_FOUND') throw new ApiError('NOT_FOUND', 'File not found');
        throw error;
      }
    });
    return c.json({ data }, 200);
  });
}
