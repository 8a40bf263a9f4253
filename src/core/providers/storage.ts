import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Config } from '../../config.ts';

/** An inclusive byte range, as in a `Range: bytes=start-end` header. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface PresignGetOptions {
  expiresIn: number;
  contentType?: string;
  contentDisposition?: string;
  /** Signs as of this time instead of now (tests make URLs that have already expired). */
  signingDate?: Date;
}

export interface PresignPutOptions {
  expiresIn: number;
  contentType?: string;
}

/**
 * Where file bytes live. Keys are made by the server (`<tenant>/<kind>/<id>`), never from a client's
 * file name; drivers refuse anything else. Both drivers stream: no method holds a whole object in memory.
 */
export interface StorageProvider {
  readonly kind: 'local' | 's3';
  /** Writes the object, replacing one under the same key; resolves once it is durable. */
  put(key: string, body: Readable | Buffer, options?: { contentType?: string }): Promise<void>;
  /** The object's bytes (or one range of them); null when there is no such object. */
  get(key: string, range?: ByteRange): Promise<Readable | null>;
  /** The object's size, or null when there is none. */
  stat(key: string): Promise<{ size: number } | null>;
  /** Removes the objects; keys that do not exist are fine. */
  delete(keys: string[]): Promise<void>;
  /** A URL the client downloads from directly, or null when the driver has none (local: the API serves signed URLs). */
  presignGet(key: string, options: PresignGetOptions): Promise<string | null>;
  /** A URL the client PUTs the bytes to directly, or null when uploads go through the API. */
  presignPut(key: string, options: PresignPutOptions): Promise<string | null>;
  close(): Promise<void>;
}

const KEY = /^[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_.-]+)*$/;

/** Keys are server-made; this guards the driver against a bug that would let a path through. */
export function assertStorageKey(key: string): void {
  if (key.length > 512 || !KEY.test(key) || key.split('/').some((part) => part === '.' || part === '..')) {
    throw new Error(`invalid storage key: ${JSON.stringify(key)}`);
  }
}

/** A directory on this machine: the embedded default. Writes go to a temporary file renamed into place. */
export class LocalStorage implements StorageProvider {
  readonly kind = 'local' as const;

  constructor(
    readonly root: string,
    private readonly onClose: () => Promise<void> = async () => {},
  ) {
    fs.mkdirSync(root, { recursive: true });
  }

  private pathOf(key: string): string {
    assertStorageKey(key);
    const full = path.resolve(this.root, key);
    if (!full.startsWith(this.root + path.sep)) throw new Error(`storage key escapes the root: ${key}`);
    return full;
  }

  async put(key: string, body: Readable | Buffer): Promise<void> {
    const target = this.pathOf(key);
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
    const temp = `${target}.${randomBytes(6).toString('hex')}.part`;
    try {
      if (Buffer.isBuffer(body)) await fs.promises.writeFile(temp, body);
      else await pipeline(body, fs.createWriteStream(temp));
      await fs.promises.rename(temp, target);
    } catch (error) {
      await fs.promises.rm(temp, { force: true });
      throw error;
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable | null> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(this.pathOf(key), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    return handle.createReadStream(range ? { start: range.start, end: range.end, highWaterMark: 256 * 1024 } : { highWaterMark: 256 * 1024 });
  }

  async stat(key: string): Promise<{ size: number } | null> {
    try {
      const info = await fs.promises.stat(this.pathOf(key));
      return { size: info.size };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async delete(keys: string[]): Promise<void> {
    await Promise.all(keys.map((key) => fs.promises.rm(this.pathOf(key), { force: true })));
  }

  async presignGet(): Promise<string | null> {
    return null;
  }

  async presignPut(): Promise<string | null> {
    return null;
  }

  close(): Promise<void> {
    return this.onClose();
  }
}

export interface S3StorageOptions {
  bucket: string;
  endpoint?: string;
  publicEndpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
}

const notFound = (error: unknown) => {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
};

/** Any S3-compatible store through AWS SDK v3: AWS, R2, MinIO, Ceph... */
export class S3Storage implements StorageProvider {
  readonly kind = 's3' as const;
  readonly client: S3Client;
  /** Presigned URLs sign the host, so they are made for the endpoint the client will reach. */
  private readonly presigner: S3Client;
  private readonly bucket: string;

  constructor(options: S3StorageOptions) {
    const base: S3ClientConfig = {
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      // Checksums only where S3 requires them: the newer default (aws-chunked CRC trailers) is not
      // understood by many S3-compatible servers.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(options.accessKeyId && options.secretAccessKey
        ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } }
        : {}),
    };
    this.bucket = options.bucket;
    this.client = new S3Client({ ...base, ...(options.endpoint ? { endpoint: options.endpoint } : {}) });
    const publicEndpoint = options.publicEndpoint ?? options.endpoint;
    this.presigner =
      publicEndpoint === options.endpoint ? this.client : new S3Client({ ...base, ...(publicEndpoint ? { endpoint: publicEndpoint } : {}) });
  }

  async put(key: string, body: Readable | Buffer, options: { contentType?: string } = {}): Promise<void> {
    assertStorageKey(key);
    if (Buffer.isBuffer(body)) {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: options.contentType }));
      return;
    }
    // A stream of unknown length: lib-storage sends one PUT when it fits one part, a multipart upload
    // otherwise (and aborts it on failure), holding at most queueSize parts in memory.
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: body, ContentType: options.contentType },
      partSize: 8 * 1024 * 1024,
      queueSize: 2,
    });
    await upload.done();
  }

  async get(key: string, range?: ByteRange): Promise<Readable | null> {
    assertStorageKey(key);
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range ? `bytes=${range.start}-${range.end}` : undefined }),
      );
      return res.Body as Readable;
    } catch (error) {
      if (notFound(error)) return null;
      throw error;
    }
  }

  async stat(key: string): Promise<{ size: number } | null> {
    assertStorageKey(key);
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: res.ContentLength ?? 0 };
    } catch (error) {
      if (notFound(error)) return null;
      throw error;
    }
  }

  async delete(keys: string[]): Promise<void> {
    // One DeleteObject per key rather than DeleteObjects: a file has a handful of keys, and the
    // batch call needs a Content-MD5 that several S3-compatible servers handle differently.
    for (const key of keys) assertStorageKey(key);
    const queue = [...keys];
    const worker = async () => {
      for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, queue.length) }, worker));
  }

  async presignGet(key: string, options: PresignGetOptions): Promise<string> {
    assertStorageKey(key);
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ResponseContentType: options.contentType,
      ResponseContentDisposition: options.contentDisposition,
    });
    return getSignedUrl(this.presigner, command, { expiresIn: options.expiresIn, signingDate: options.signingDate });
  }

  async presignPut(key: string, options: PresignPutOptions): Promise<string> {
    assertStorageKey(key);
    const command = new PutObjectCommand({ Bucket: this.bucket, Key: key, ContentType: options.contentType });
    return getSignedUrl(this.presigner, command, { expiresIn: options.expiresIn });
  }

  async close(): Promise<void> {
    this.client.destroy();
    if (this.presigner !== this.client) this.presigner.destroy();
  }
}

/** The driver the configuration asks for: S3 when S3_BUCKET is set, else the local directory. */
export function createStorage(config: Config): StorageProvider {
  if (config.S3_BUCKET) {
    return new S3Storage({
      bucket: config.S3_BUCKET,
      endpoint: config.S3_ENDPOINT,
      publicEndpoint: config.S3_PUBLIC_ENDPOINT,
      region: config.S3_REGION,
      accessKeyId: config.S3_ACCESS_KEY_ID,
      secretAccessKey: config.S3_SECRET_ACCESS_KEY,
      forcePathStyle: config.S3_FORCE_PATH_STYLE,
    });
  }
  if (config.filesDir) return new LocalStorage(config.filesDir);
  // An in-memory kernel (tests) gets a private directory that goes away with it.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plinth-files-'));
  return new LocalStorage(dir, () => fs.promises.rm(dir, { recursive: true, force: true }));
}

/** Reads a stream to its end (small objects only: variants, tests). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
