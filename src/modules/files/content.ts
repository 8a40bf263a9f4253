import { Readable } from 'node:stream';
import { create as contentDisposition } from 'content-disposition';
import parseRange from 'range-parser';
import { ApiError } from '../../core/http/errors.ts';
import type { Kernel } from '../../core/kernel.ts';
import type { ByteRange } from '../../core/providers/storage.ts';
import { servedContentType } from './detect.ts';

export interface ServedObject {
  key: string;
  size: number;
  sha256: string;
  mimeType: string;
  filename: string;
  lastModified: Date;
}

export type Disposition = 'attachment' | 'inline';

/**
 * A Content-Disposition for any name: the name's last path segment (a stored `../../etc/passwd` is
 * offered as `.._.._etc_passwd`), an ASCII fallback and the exact UTF-8 name in `filename*`.
 */
export function dispositionHeader(filename: string, type: Disposition): string {
  const name = filename.replace(/[/\\]/g, '_').replace(/[\u0000-\u001f\u007f]/g, '') || 'download';
  return contentDisposition(name, { type });
}

const etagOf = (sha256: string) => `"${sha256}"`;

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((part) => part.trim().replace(/^W\//, '') === etag);
}

/**
 * Streams an object as an HTTP response: ETag (the sha256), conditional GET (304), one byte range
 * (206; an unsatisfiable one is 416; several ranges are answered with the whole body, as RFC 9110
 * allows), and headers that keep a browser from running what it downloads.
 */
export async function serveObject(
  kernel: Kernel,
  request: Request,
  object: ServedObject,
  options: { disposition: Disposition; cacheControl: string; extraHeaders?: Record<string, string> },
): Promise<Response> {
  const etag = etagOf(object.sha256);
  const headers = new Headers({
    ETag: etag,
    'Last-Modified': object.lastModified.toUTCString(),
    'Cache-Control': options.cacheControl,
    'Accept-Ranges': 'bytes',
    'X-Content-Type-Options': 'nosniff',
    // Even an HTML or SVG file that slipped past detection cannot script our origin.
    'Content-Security-Policy': "default-src 'none'; sandbox",
    ...options.extraHeaders,
  });
  if (matchesEtag(request.headers.get('if-none-match') ?? undefined, etag)) return new Response(null, { status: 304, headers });

  headers.set('Content-Type', servedContentType(object.mimeType));
  headers.set('Content-Disposition', dispositionHeader(object.filename, options.disposition));

  let range: ByteRange | undefined;
  const rangeHeader = request.headers.get('range');
  const ifRange = request.headers.get('if-range');
  if (rangeHeader && (!ifRange || ifRange.trim() === etag)) {
    const parsed = parseRange(object.size, rangeHeader, { combine: true });
    if (parsed === -1) {
      throw new ApiError('RANGE_NOT_SATISFIABLE', `The range is outside the file's ${object.size} bytes`, {
        headers: { 'Content-Range': `bytes */${object.size}` },
        details: { size_bytes: object.size },
      });
    }
    if (parsed !== -2 && parsed.type === 'bytes' && parsed.length === 1) range = parsed[0];
  }

  const stream = object.size === 0 ? Readable.from([]) : await kernel.storage.get(object.key, range);
  if (!stream) {
    kernel.log.error({ key: object.key }, 'stored object missing for a file');
    throw new ApiError('NOT_FOUND', 'The file\'s content is missing from storage');
  }
  const body = Readable.toWeb(stream) as ReadableStream<Uint8Array>;
  if (range) {
    headers.set('Content-Range', `bytes ${range.start}-${range.end}/${object.size}`);
    headers.set('Content-Length', String(range.end - range.start + 1));
    return new Response(body, { status: 206, headers });
  }
  headers.set('Content-Length', String(object.size));
  return new Response(body, { status: 200, headers });
}
