import { createHash } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type Sharp from 'sharp';
import type { OutputInfo } from 'sharp';
import { lazyRequire } from '../../core/lazy.ts';
import type { TenantContext } from '../../core/context.ts';
import type { Kernel } from '../../core/kernel.ts';
import { ApiError } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import { IMAGE_INPUTS } from './detect.ts';
import { variantKey } from './service.ts';
import { fileVariants, type FileRow, type FileVariantRow } from './tables.ts';

const sharp = lazyRequire<typeof Sharp>('sharp');

/** The seed's limit for image transforms. */
export const MAX_VARIANT_PX = 4096;
/**
 * Largest source image decoded (50 MP covers the cameras people have; a decoded 50 MP RGBA image is
 * 200 MB). Bigger ones, and decompression bombs, get 422 instead of the server's memory.
 */
export const MAX_INPUT_PIXELS = 50_000_000;

export const FITS = ['cover', 'contain', 'fill', 'inside', 'outside'] as const;
export const FORMATS = ['jpeg', 'png', 'webp', 'avif'] as const;
export type Fit = (typeof FITS)[number];
export type Format = (typeof FORMATS)[number];

export interface VariantSpec {
  w?: number;
  h?: number;
  fit: Fit;
  format: Format;
}

/** Named variants; `w`, `h`, `fit` and `format` in the query adjust any of them. */
export const PRESETS = {
  thumbnail: { w: 200, h: 200, fit: 'cover', format: 'webp' },
  small: { w: 480, fit: 'inside' },
  medium: { w: 1024, fit: 'inside' },
  large: { w: 2048, fit: 'inside' },
  original: { fit: 'inside' },
  custom: { fit: 'inside' },
} as const satisfies Record<string, Partial<VariantSpec>>;

export type VariantName = keyof typeof PRESETS;
export const VARIANT_NAMES = Object.keys(PRESETS) as [VariantName, ...VariantName[]];

const OUTPUT_MIME: Record<Format, string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', avif: 'image/avif' };
const SAME_FORMAT: Record<string, Format> = { 'image/jpeg': 'jpeg', 'image/png': 'png', 'image/webp': 'webp', 'image/avif': 'avif' };

export function resolveSpec(name: VariantName, query: { w?: number; h?: number; fit?: Fit; format?: Format }, sourceMime: string): VariantSpec {
  const preset: Partial<VariantSpec> = PRESETS[name];
  const spec: VariantSpec = {
    w: query.w ?? preset.w,
    h: query.h ?? preset.h,
    fit: query.fit ?? preset.fit ?? 'inside',
    // GIF and TIFF become PNG: keep what browsers show everywhere.
    format: query.format ?? preset.format ?? SAME_FORMAT[sourceMime] ?? 'png',
  };
  if (name === 'custom' && spec.w === undefined && spec.h === undefined) {
    throw new ApiError('VALIDATION_ERROR', 'query.w: the custom variant needs w or h', {
      details: { issues: [{ field: 'w', location: 'query', message: 'w or h is required for the custom variant' }] },
    });
  }
  return spec;
}

export const canonicalSpec = (s: VariantSpec) => `w=${s.w ?? ''},h=${s.h ?? ''},fit=${s.fit},format=${s.format}`;

/** Variants being made in this process, so concurrent requests for one wait for the same work. */
const inFlight = new Map<string, Promise<{ row: FileVariantRow; bytes?: Buffer }>>();

export async function findVariant(ctx: TenantContext, file: FileRow, spec: string): Promise<FileVariantRow | undefined> {
  const [row] = await ctx.db
    .select()
    .from(fileVariants)
    .where(
      and(
        eq(fileVariants.tenantId, ctx.tenantId),
        eq(fileVariants.fileId, file.id),
        eq(fileVariants.version, file.version),
        eq(fileVariants.spec, spec),
      ),
    );
  return row;
}

export function assertImage(file: FileRow): void {
  if (!IMAGE_INPUTS.has(file.mimeType)) {
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', `Variants are made of images only; this file is ${file.mimeType}`, {
      details: { mime_type: file.mimeType, supported: [...IMAGE_INPUTS] },
    });
  }
}

/**
 * Makes the variant with sharp from the stored original (streamed in, EXIF orientation applied,
 * metadata stripped, never enlarged), stores it, and records it once: of two racing makers the
 * second finds the first one's row and drops its own bytes.
 */
export function makeVariant(
  kernel: Kernel,
  tenantId: string,
  file: FileRow,
  spec: VariantSpec,
  record: (fn: (ctx: TenantContext) => Promise<FileVariantRow | undefined>) => Promise<FileVariantRow | undefined>,
): Promise<{ row: FileVariantRow; bytes?: Buffer }> {
  const canonical = canonicalSpec(spec);
  const flightKey = `${tenantId}:${file.id}:${file.version}:${canonical}`;
  const running = inFlight.get(flightKey);
  if (running) return running.then(({ row }) => ({ row }));
  const work = (async () => {
    const source = await kernel.storage.get(file.storageKey);
    if (!source) throw new ApiError('NOT_FOUND', 'The file\'s content is missing from storage');
    const pipeline = sharp()({ limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error', animated: false })
      .rotate()
      .resize({ width: spec.w, height: spec.h, fit: spec.fit, withoutEnlargement: true })
      .toFormat(spec.format, spec.format === 'png' ? {} : { quality: 82 });
    source.on('error', (error) => pipeline.destroy(error));
    source.pipe(pipeline);
    let output: { data: Buffer; info: OutputInfo };
    try {
      output = await pipeline.toBuffer({ resolveWithObject: true });
    } catch (error) {
      throw new ApiError('UNPROCESSABLE', `The image could not be transformed: ${(error as Error).message}`);
    }
    const hash = createHash('sha256').update(output.data).digest('hex');
    const specHash = createHash('sha256').update(canonical).digest('hex').slice(0, 16);
    const key = variantKey(tenantId, file.id, file.version, specHash, spec.format);
    await kernel.storage.put(key, output.data, { contentType: OUTPUT_MIME[spec.format] });
    const candidate: FileVariantRow = {
      id: newId('fvar'),
      tenantId,
      fileId: file.id,
      version: file.version,
      spec: canonical,
      storageKey: key,
      sizeBytes: output.data.length,
      mimeType: OUTPUT_MIME[spec.format],
      width: output.info.width,
      height: output.info.height,
      sha256: hash,
      createdAt: new Date(),
    };
    const row = await record(async (tx) => {
      const [inserted] = await tx.db.insert(fileVariants).values(candidate).onConflictDoNothing().returning();
      return inserted ?? findVariant(tx, file, canonical);
    });
    if (!row) throw new ApiError('CONFLICT', 'The file changed while its variant was being made; retry');
    // The same spec makes the same key, so a racing maker wrote the same bytes; nothing to remove.
    return { row, bytes: row.id === candidate.id ? output.data : undefined };
  })();
  inFlight.set(flightKey, work);
  return work.finally(() => inFlight.delete(flightKey));
}
