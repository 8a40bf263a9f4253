import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { toApiError } from '../../core/http/middleware.ts';
import { tenantWork } from '../../core/http/work.ts';
import { describeImage, DESCRIBE_MAX_BYTES } from '../../modules/ai/index.ts';
import { batchRead } from '../../modules/files/index.ts';
import { surfaceRoute } from '../surface.ts';
import { errorOf, ERRORS, keyed, NOT_FOUND, principalOf, TenantId } from './http.ts';

/** The seed's formats (the AI module's describe also takes GIF; this contract does not). */
const FORMATS = ['image/jpeg', 'image/png', 'image/webp'];
export const MAX_IMAGES = 10;

const EVENTS = [
  'Server-Sent Events, in order: `start` {images}; for each image `analysis` {index, imageId, filename, description, model}',
  '(the local provider describes an image from its metadata and says so; a vision-capable remote provider looks at it);',
  '`done` {analyzed}; or `error` {code, message} when an analysis fails, which ends the stream.',
].join(' ');

const analyze = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/estimator/analyze',
    operationId: 'estimator_analyze',
    tags: ['Estimator'],
    summary: 'Analyze images (streaming)',
    description: `Describes up to ${MAX_IMAGES} images of the asset library (/v1/files ids; JPEG, PNG or WebP, at most 10 MB each) for item detection and size estimation, one event per image as it is analysed. Requires \`estimator:write\`.`,
    request: {
      body: {
        content: {
          'application/json': {
            schema: z
              .object({ tenantId: TenantId, images: z.array(z.string().min(1).max(64)).min(1).max(MAX_IMAGES).openapi({ description: 'File ids of images in the asset library' }) })
              .openapi('EstimatorRequest'),
          },
        },
        required: true,
      },
    },
    responses: {
      200: { description: EVENTS, content: { 'text/event-stream': { schema: z.string() } } },
      ...ERRORS,
      ...NOT_FOUND('An image'),
      413: errorOf('An image is over 10 MB, or the request body is too large'),
      415: errorOf('An image is not JPEG, PNG or WebP'),
    },
  },
  keyed('estimator:write'),
);

export function estimatorRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(analyze, async (c) => {
    const body = c.req.valid('json');
    if (body.tenantId !== principalOf(c).tenant.id) throw new ApiError('FORBIDDEN', 'This API key does not belong to this tenant');
    const ids = [...new Set(body.images)];
    const files = await tenantWork(c, (ctx) => batchRead(ctx, ids));
    const byId = new Map(files.filter((f) => f.status === 'ready').map((f) => [f.id, f]));
    for (const id of ids) {
      const file = byId.get(id);
      if (!file) throw new ApiError('NOT_FOUND', `Image ${id} not found`);
      if (!FORMATS.includes(file.mime_type)) throw new ApiError('UNSUPPORTED_MEDIA_TYPE', `Image ${id} is ${file.mime_type}; JPEG, PNG and WebP are analysed`);
      if (file.size_bytes > DESCRIBE_MAX_BYTES) throw new ApiError('PAYLOAD_TOO_LARGE', `Image ${id} is over 10 MB`);
    }
    c.header('cache-control', 'no-cache');
    return streamSSE(c, async (stream) => {
      let seq = 0;
      const send = (event: string, data: unknown) => stream.writeSSE({ id: String(++seq), event, data: JSON.stringify(data) });
      await send('start', { images: ids.length });
      let analyzed = 0;
      for (const [index, id] of ids.entries()) {
        if (stream.aborted) return;
        try {
          const out = await describeImage(c, { file_id: id });
          analyzed += 1;
          await send('analysis', { index, imageId: id, filename: out.filename, description: out.description, model: out.model });
        } catch (error) {
          const known = toApiError(error);
          await send('error', { code: known?.code ?? 'INTERNAL_ERROR', message: known?.message ?? 'The analysis failed' });
          return;
        }
      }
      await send('done', { analyzed });
    }) as never;
  });
}
