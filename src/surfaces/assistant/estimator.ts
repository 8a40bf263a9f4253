import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { toApiError } from '../../core/http/middleware.ts';
import { tenantWork } from '../../core/http/work.ts';
import { fileTypeFromBuffer } from 'file-type';
import { describeImage, describeImageBytes, DESCRIBE_MAX_BYTES } from '../../modules/ai/index.ts';
import { batchRead } from '../../modules/files/index.ts';
import { surfaceRoute } from '../surface.ts';
import { errorOf, ERRORS, keyed, NOT_FOUND, principalOf, TenantId } from './http.ts';

/** The seed's formats (the AI module's describe also takes GIF; this contract does not). */
const FORMATS = ['image/jpeg', 'image/png', 'image/webp'];
export const MAX_IMAGES = 10;
/** An image of 10 MB as base64 in a data URL, with room for its prefix. */
const MAX_INLINE_CHARS = Math.ceil(DESCRIBE_MAX_BYTES / 3) * 4 + 64;
const DATA_URL = /^data:([a-z]+\/[a-z0-9.+-]+);base64,/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

type Image = { kind: 'file'; id: string } | { kind: 'inline'; id: string; bytes: Buffer; mimeType: string; filename: string };

/** An inline image: a base64 data URL whose bytes really are JPEG, PNG or WebP, at most 10 MB. */
async function inlineImage(index: number, value: string): Promise<Image> {
  const head = DATA_URL.exec(value.slice(0, 128));
  if (!head) throw new ApiError('VALIDATION_ERROR', `images.${index}: an inline image is a data URL (data:image/jpeg;base64,...)`);
  const payload = value.slice(head[0].length);
  if (!BASE64.test(payload)) throw new ApiError('VALIDATION_ERROR', `images.${index}: the data URL is not valid base64`);
  const bytes = Buffer.from(payload, 'base64');
  if (bytes.length > DESCRIBE_MAX_BYTES) throw new ApiError('PAYLOAD_TOO_LARGE', `Image ${index} is over 10 MB`);
  // The bytes decide, not the declared type: a PNG labelled image/jpeg is analysed as the PNG it is.
  const sniffed = (await fileTypeFromBuffer(bytes))?.mime;
  if (!sniffed || !FORMATS.includes(sniffed)) throw new ApiError('UNSUPPORTED_MEDIA_TYPE', `Image ${index} is ${sniffed ?? 'not an image'}; JPEG, PNG and WebP are analysed`);
  const ext = sniffed.split('/')[1]!.replace('jpeg', 'jpg');
  return { kind: 'inline', id: `inline-${index}`, bytes, mimeType: sniffed, filename: `image-${index + 1}.${ext}` };
}

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
    description: `Describes up to ${MAX_IMAGES} images (JPEG, PNG or WebP, at most 10 MB each) for item detection and size estimation, one event per image as it is analysed. Each item of \`images\` is either an image sent inline as a base64 data URL (\`data:image/jpeg;base64,...\`; its bytes decide its type) or the id of an image already in the asset library (/v1/files). Requires \`estimator:write\`.`,
    request: {
      body: {
        content: {
          'application/json': {
            schema: z
              .object({
                tenantId: TenantId,
                images: z
                  .array(z.string().min(1).max(MAX_INLINE_CHARS))
                  .min(1)
                  .max(MAX_IMAGES)
                  .openapi({ description: 'Images inline as base64 data URLs, or file ids of images in the asset library' }),
              })
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
  keyed('estimator:write', { bodyLimit: MAX_IMAGES * MAX_INLINE_CHARS + 64 * 1024 }),
);

export function estimatorRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(analyze, async (c) => {
    const body = c.req.valid('json');
    if (body.tenantId !== principalOf(c).tenant.id) throw new ApiError('FORBIDDEN', 'This API key does not belong to this tenant');
    const images: Image[] = [];
    for (const [index, value] of body.images.entries()) {
      if (value.startsWith('data:')) images.push(await inlineImage(index, value));
      else if (value.length > 64) throw new ApiError('VALIDATION_ERROR', `images.${index}: neither a file id nor a data URL`);
      else if (!images.some((i) => i.kind === 'file' && i.id === value)) images.push({ kind: 'file', id: value });
    }
    const ids = images.flatMap((i) => (i.kind === 'file' ? [i.id] : []));
    const files = ids.length ? await tenantWork(c, (ctx) => batchRead(ctx, ids)) : [];
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
      await send('start', { images: images.length });
      let analyzed = 0;
      for (const [index, image] of images.entries()) {
        if (stream.aborted) return;
        try {
          const out = image.kind === 'file' ? await describeImage(c, { file_id: image.id }) : await describeImageBytes(c, image);
          analyzed += 1;
          await send('analysis', { index, imageId: image.id, filename: out.filename, description: out.description, model: out.model });
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
