import { createHash } from 'node:crypto';
import { pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import busboy from 'busboy';
import { ApiError } from '../../core/http/errors.ts';
import type { Kernel } from '../../core/kernel.ts';
import { readAll } from '../../core/providers/storage.ts';
import { detectContentType, SNIFF_BYTES } from './detect.ts';
import type { StoredBytes } from './service.ts';

/** Direct uploads: 25 MiB of file, exactly (the seed's "max 25MB"). */
export const DIRECT_UPLOAD_MAX_BYTES = 25 * 1024 * 1024;
/** What a multipart request may carry besides the file: boundaries, part headers and the text fields. */
export const MULTIPART_OVERHEAD_BYTES = 1024 * 1024;

class TooLarge extends Error {}

/**
 * Passes bytes through while hashing them (sha256), counting them, keeping the first SNIFF_BYTES for
 * type detection, and failing past `max` bytes, so one pass over an upload does all four.
 */
export class Meter extends Transform {
  readonly hash = createHash('sha256');
  /** Bytes seen so far. (Not `size`: lib-storage reads a body's `size` as its total length.) */
  bytesSeen = 0;
  private readonly headChunks: Buffer[] = [];
  private headLength = 0;

  constructor(private readonly max: number) {
    super();
    // The consumer (a storage driver) may attach its handlers only after an await; an error before
    // then must not crash the process. It still sees the error: the stream stays errored.
    this.on('error', () => {});
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytesSeen += chunk.length;
    if (this.bytesSeen > this.max) {
      callback(new TooLarge(`more than ${this.max} bytes`));
      return;
    }
    this.hash.update(chunk);
    if (this.headLength < SNIFF_BYTES) {
      const part = chunk.subarray(0, SNIFF_BYTES - this.headLength);
      this.headChunks.push(Buffer.from(part));
      this.headLength += part.length;
    }
    callback(null, chunk);
  }

  get head(): Buffer {
    return Buffer.concat(this.headChunks);
  }
}

export const tooLarge = (limit: number, what: string) =>
  new ApiError('PAYLOAD_TOO_LARGE', `${what} exceeds the limit of ${limit} bytes`, { details: { limit_bytes: limit } });

export interface ReceivedPart {
  key: string;
  size: number;
  sha256: string;
  head: Buffer;
  /** The part's file name exactly as sent (path characters and all); it is only ever a name. */
  filename: string;
  mimeType: string | undefined;
}

/**
 * Streams a multipart/form-data body: the part named `file` goes straight to storage under `key`
 * (hashed and measured on the way), the other parts are text fields. Nothing is buffered but the
 * first bytes of the file. A file over `maxFileBytes` is removed again and answered with 413.
 */
export async function receiveMultipart(
  kernel: Kernel,
  body: ReadableStream<Uint8Array> | null,
  contentType: string,
  key: string,
  maxFileBytes: number,
): Promise<{ fields: Record<string, string>; file?: ReceivedPart }> {
  if (!body) throw new ApiError('VALIDATION_ERROR', 'body.file: a multipart body with a `file` part is required');
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': contentType },
      // Keep `../../etc/passwd` as the name it is; it never becomes a path.
      preservePath: true,
      defParamCharset: 'utf8',
      // busboy flags a file that reaches its limit, so it gets one byte more; Meter enforces the exact limit.
      limits: { fileSize: maxFileBytes + 1, files: 1, fields: 50, fieldSize: 64 * 1024, parts: 60 },
    });
  } catch (error) {
    throw new ApiError('BAD_REQUEST', `Not a multipart/form-data body: ${(error as Error).message}`);
  }

  const fields: Record<string, string> = {};
  let file: ReceivedPart | undefined;
  let stored: Promise<void> | undefined;
  let truncated = false;
  let unexpectedFile: string | undefined;
  let tooManyFiles = false;
  let invalidField: string | undefined;

  const parsed = new Promise<void>((resolve, reject) => {
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) invalidField ??= name;
      fields[name] = value;
    });
    parser.on('fieldsLimit', () => (invalidField ??= 'fields'));
    parser.on('partsLimit', () => (invalidField ??= 'parts'));
    parser.on('file', (name, stream, info) => {
      if (name !== 'file' || file) {
        unexpectedFile ??= name;
        stream.resume();
        return;
      }
      const meter = new Meter(maxFileBytes);
      const part: ReceivedPart = { key, size: 0, sha256: '', head: Buffer.alloc(0), filename: info.filename ?? '', mimeType: info.mimeType };
      file = part;
      stream.on('limit', () => {
        truncated = true;
        meter.destroy(new TooLarge('file too large'));
      });
      // busboy destroys the part's stream when the body ends before its boundary ("Unexpected end of
      // file"), and pipe() forwards no errors: unheard, that error killed the process. Passed on to the
      // meter, it fails the storage write; the parser's own error answers the request (400).
      // (Not stream.pipeline: it would destroy the part's stream when storage fails, and busboy then
      // waits forever for that stream to drain.)
      stream.on('error', (error) => meter.destroy(error));
      stored = kernel.storage
        .put(key, stream.pipe(meter), { contentType: 'application/octet-stream' })
        .then(() => {
          part.size = meter.bytesSeen;
          part.sha256 = meter.hash.digest('hex');
          part.head = meter.head;
        });
      // The parser must keep going whatever storage does; a failed put is reported below.
      stored.catch(() => stream.resume());
    });
    parser.on('filesLimit', () => {
      tooManyFiles = true;
    });
    parser.on('error', (error) => reject(new ApiError('BAD_REQUEST', `Malformed multipart body: ${(error as Error).message}`)));
    parser.on('close', () => resolve());
  });

  const source = Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>);
  source.on('error', (error) => parser.destroy(error));
  source.pipe(parser);

  const cleanup = async () => {
    if (file) await kernel.storage.delete([key]).catch(() => {});
  };
  try {
    await parsed;
    if (stored) await stored;
  } catch (error) {
    await stored?.catch(() => {});
    await cleanup();
    if (truncated || error instanceof TooLarge) throw tooLarge(maxFileBytes, 'The file');
    throw error;
  }
  if (truncated) {
    await cleanup();
    throw tooLarge(maxFileBytes, 'The file');
  }
  if (invalidField !== undefined) {
    await cleanup();
    throw new ApiError('VALIDATION_ERROR', `body.${invalidField}: at most 50 text fields of 64 KB each`, {
      details: { issues: [{ field: invalidField, location: 'body', message: 'Too long or too many fields' }] },
    });
  }
  if (unexpectedFile !== undefined || tooManyFiles) {
    await cleanup();
    throw new ApiError('VALIDATION_ERROR', `body.${unexpectedFile ?? 'file'}: send exactly one file, in the part named \`file\``);
  }
  return { fields, file };
}

/** Streams a raw request body to storage, refusing more than `max` bytes. */
export async function receiveRaw(kernel: Kernel, body: ReadableStream<Uint8Array> | null, key: string, max: number) {
  const meter = new Meter(max);
  const source = body ? Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>) : Readable.from([]);
  // pipeline, not pipe: a body that breaks off mid-way errors the source, which must fail the write
  // rather than go unheard (an unhandled 'error' event ends the process).
  pipeline(source, meter, () => {});
  try {
    await kernel.storage.put(key, meter, { contentType: 'application/octet-stream' });
  } catch (error) {
    source.destroy();
    if (error instanceof TooLarge || meter.bytesSeen > max) {
      await kernel.storage.delete([key]).catch(() => {});
      throw tooLarge(max, 'The upload');
    }
    if (source.errored) {
      await kernel.storage.delete([key]).catch(() => {});
      throw new ApiError('BAD_REQUEST', 'The request body ended before it was complete');
    }
    throw error;
  }
  return { size: meter.bytesSeen, sha256: meter.hash.digest('hex'), head: meter.head };
}

/**
 * Reads back what a slot holds and checks it against what the client announced: size always,
 * sha256 when one was given. Bytes that came through upload-put were hashed on the way in; bytes a
 * client PUT straight to S3 are hashed here.
 */
export async function verifySlotBytes(
  kernel: Kernel,
  slot: { storageKey: string; expectedSize: number | null; expectedSha256: string | null; receivedSize: number | null; receivedSha256: string | null; declaredMimeType: string | null; filename: string },
  claimedSha256?: string,
): Promise<StoredBytes> {
  const stat = await kernel.storage.stat(slot.storageKey);
  if (!stat) throw new ApiError('CONFLICT', 'Nothing has been uploaded to this slot yet');
  if (slot.expectedSize !== null && stat.size !== slot.expectedSize) {
    throw new ApiError('UNPROCESSABLE', `The upload has ${stat.size} bytes, ${slot.expectedSize} were announced`, {
      details: { expected_size: slot.expectedSize, received_size: stat.size },
    });
  }
  let sha256 = slot.receivedSize === stat.size ? slot.receivedSha256 : null;
  let head: Buffer;
  if (sha256) {
    const stream = stat.size > 0 ? await kernel.storage.get(slot.storageKey, { start: 0, end: Math.min(stat.size, SNIFF_BYTES) - 1 }) : null;
    head = stream ? await readAll(stream) : Buffer.alloc(0);
  } else {
    const stream = await kernel.storage.get(slot.storageKey);
    if (!stream) throw new ApiError('CONFLICT', 'Nothing has been uploaded to this slot yet');
    const meter = new Meter(Number.MAX_SAFE_INTEGER);
    // A read error of the store fails the loop instead of being an unheard 'error' event.
    for await (const _ of pipeline(stream, meter, () => {})) {
      // draining through the meter
    }
    sha256 = meter.hash.digest('hex');
    head = meter.head;
  }
  for (const expected of [slot.expectedSha256, claimedSha256]) {
    if (expected && expected.toLowerCase() !== sha256) {
      throw new ApiError('UNPROCESSABLE', 'The upload\'s sha256 does not match the checksum given', {
        details: { expected_sha256: expected.toLowerCase(), received_sha256: sha256 },
      });
    }
  }
  return {
    key: slot.storageKey,
    size: stat.size,
    sha256,
    mimeType: await detectContentType(head, slot.declaredMimeType ?? undefined, slot.filename),
    declaredMimeType: slot.declaredMimeType,
  };
}
