import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { TestPlatform, TestResponse } from './platform.ts';

export const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

export const PNG_HEADER = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A real PNG of the given size (sharp), for type detection and variants. */
export function png(width = 64, height = 48, color = { r: 200, g: 30, b: 30 }): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: color } }).png().toBuffer();
}

export function jpeg(width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 10, g: 120, b: 240 } } }).jpeg().toBuffer();
}

export interface UploadOptions {
  filename?: string;
  /** The part's Content-Type (what the client claims). */
  type?: string;
  fields?: Record<string, string>;
  headers?: Record<string, string>;
}

/** POST /v1/files/upload with a multipart body built by FormData. */
export function upload(t: TestPlatform, token: string, bytes: Uint8Array | string, options: UploadOptions = {}): Promise<TestResponse> {
  const form = new FormData();
  for (const [name, value] of Object.entries(options.fields ?? {})) form.append(name, value);
  const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  form.append('file', new Blob([data], { type: options.type ?? 'application/octet-stream' }), options.filename ?? 'file.bin');
  return t.request('POST', '/v1/files/upload', { token, body: form, headers: options.headers });
}

export interface BinaryResponse {
  status: number;
  headers: Headers;
  bytes: Buffer;
  json: any;
}

/** A request whose answer is read as bytes (downloads, variants). */
export async function fetchBytes(
  t: TestPlatform,
  path: string,
  options: { token?: string; headers?: Record<string, string>; method?: string } = {},
): Promise<BinaryResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const env = { incoming: { socket: { remoteAddress: '127.0.0.1', remotePort: 40000 } } };
  const res = await t.app.request(path, { method: options.method ?? 'GET', headers }, env);
  const bytes = Buffer.from(await res.arrayBuffer());
  let json: any;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, bytes, json };
}

/** Follows a URL this server or the S3 server issued: in-process for our own paths, over HTTP otherwise. */
export async function fetchUrl(t: TestPlatform, url: string, init: { method?: string; body?: Uint8Array; headers?: Record<string, string> } = {}): Promise<BinaryResponse> {
  const parsed = new URL(url);
  if (parsed.hostname === 'localhost') {
    if (init.body) {
      const res = await t.app.request(parsed.pathname + parsed.search, { method: init.method ?? 'GET', body: init.body, headers: init.headers }, { incoming: { socket: { remoteAddress: '127.0.0.1', remotePort: 40000 } } });
      const bytes = Buffer.from(await res.arrayBuffer());
      return { status: res.status, headers: res.headers, bytes, json: safeJson(bytes) };
    }
    return fetchBytes(t, parsed.pathname + parsed.search, { method: init.method, headers: init.headers });
  }
  const res = await fetch(url, { method: init.method ?? 'GET', body: init.body, headers: init.headers });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, bytes, json: safeJson(bytes) };
}

function safeJson(bytes: Buffer) {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Changes one character of `value` at `index` to another character of the same kind. */
export function changeOneChar(value: string, index: number): string {
  const c = value[index]!;
  const replacement = /[0-9]/.test(c) ? String((Number(c) + 1) % 10) : c === 'a' ? 'b' : c === 'A' ? 'B' : /[a-z]/.test(c) ? 'a' : /[A-Z]/.test(c) ? 'A' : 'x';
  return value.slice(0, index) + replacement + value.slice(index + 1);
}
