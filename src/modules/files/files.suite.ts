import fs from 'node:fs';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs } from '../../core/audit/tables.ts';
import { events } from '../../core/events/tables.ts';
import { LocalStorage, readAll } from '../../core/providers/storage.ts';
import { listen } from '../../../test/support/events.ts';
import { changeOneChar, fetchBytes, fetchUrl, jpeg, png, sha256, upload } from '../../../test/support/files.ts';
import { rawRequest } from '../../../test/support/http.ts';
import { createObject, defineType } from '../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { EVENT_CATALOG } from '../../app.ts';
import { CLEANUP_JOB, runCleanup } from './jobs.ts';
import { signContentQuery } from './signing.ts';
import { fileUsage, fileVariants, files, fileVersions } from './tables.ts';

const MiB = 1024 * 1024;

export interface DriverSetup {
  name: 'local' | 's3';
  /** Environment for the test platform (the S3 one starts its server here). */
  start(): Promise<Record<string, string>>;
  stop(): Promise<void>;
  /** Every key the store holds, listed from the store itself (the directory, the bucket). */
  storedKeys(kernel: TestPlatform['kernel']): Promise<string[]>;
}

type Tenant = { tenantId: string; token: string; keyId: string };

/**
 * The files suite, run once per storage driver (files.local.test.ts, files.s3.test.ts): both drivers
 * must pass the same tests through the HTTP API.
 */
export function filesSuite(driver: DriverSetup) {
  let t: TestPlatform;
  let a: Tenant;
  let b: Tenant;

  beforeAll(async () => {
    t = await testPlatform(await driver.start());
    a = await t.newTenant();
    b = await t.newTenant();
  });
  afterAll(async () => {
    await t?.close();
    await driver.stop();
  });

  const eventsOf = (tenantId: string, type: string) =>
    t.db.system.select().from(events).where(and(eq(events.tenantId, tenantId), eq(events.type, type)));
  const fileRow = async (id: string) => (await t.db.system.select().from(files).where(eq(files.id, id)))[0];
  const usage = async (tenantId: string) => (await t.db.system.select().from(fileUsage).where(eq(fileUsage.tenantId, tenantId)))[0]?.bytes ?? 0;
  const stored = async (key: string) => {
    const stream = await t.kernel.storage.get(key);
    return stream ? readAll(stream) : null;
  };
  const uploadText = async (tenant: Tenant, text: string, options: Parameters<typeof upload>[3] = {}) => {
    const res = await upload(t, tenant.token, text, { filename: 'note.txt', type: 'text/plain', ...options });
    expect(res.status, res.text).toBe(201);
    return res.body.data;
  };
  /** The store's keys, from the store: a refused upload must leave none behind. */
  const storedKeys = () => driver.storedKeys(t.kernel);
  /** What another tenant's attempt must leave untouched. */
  const snapshot = async (id: string) => {
    const row = await fileRow(id);
    const versions = await t.db.system.select().from(fileVersions).where(eq(fileVersions.fileId, id));
    return { row, versions, bytes: row ? await stored(row.storageKey) : null };
  };

  it('runs on the expected driver', () => {
    expect(t.kernel.storage.kind).toBe(driver.name);
  });

  describe('POST /v1/files/upload', () => {
    it('stores the bytes under a server key and records sha256, size, detected type, folder, tags and meta', async () => {
      const bytes = await png(40, 30);
      const res = await upload(t, a.token, bytes, {
        filename: 'photo.png',
        type: 'image/png',
        fields: { folder: '/Invoices//2026/', tags: '["scan","acme","scan"]', meta: '{"customer":"acme","n":3}', access: 'private' },
      });
      expect(res.status).toBe(201);
      const file = res.body.data;
      expect(file).toMatchObject({
        filename: 'photo.png',
        folder: 'Invoices/2026',
        mime_type: 'image/png',
        mime_category: 'image',
        size_bytes: bytes.length,
        sha256: sha256(bytes),
        status: 'ready',
        access: 'private',
        tags: ['scan', 'acme'],
        meta: { customer: 'acme', n: 3 },
        version: 1,
      });
      expect(file.id).toMatch(/^file_/);
      expect(file.storage_key.startsWith(`${a.tenantId}/`)).toBe(true);
      expect(await stored(file.storage_key)).toEqual(bytes);

      const versions = await t.db.system.select().from(fileVersions).where(eq(fileVersions.fileId, file.id));
      expect(versions).toHaveLength(1);
      expect(versions[0]).toMatchObject({ version: 1, sizeBytes: bytes.length, sha256: sha256(bytes), storageKey: file.storage_key });
      const [event] = (await eventsOf(a.tenantId, 'file.uploaded')).filter((e) => e.resourceId === file.id);
      expect(event!.data).toMatchObject({ filename: 'photo.png', folder: 'Invoices/2026', size_bytes: bytes.length, version: 1 });
      expect(await usage(a.tenantId)).toBeGreaterThanOrEqual(bytes.length);
    });

    it('takes the content type from the bytes, never from the name or the client', async () => {
      const image = await png();
      const cases: [Uint8Array | string, string, string, string][] = [
        [image, 'notes.txt', 'text/plain', 'image/png'],
        ['<html><script>alert(1)</script></html>', 'picture.png', 'image/png', 'text/plain'],
        ['<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 'x.svg', 'image/svg+xml', 'text/plain'],
        ['a,b\n1,2\n', 'data.csv', 'text/csv', 'text/csv'],
        ['{"a":1}', 'data.bin', 'application/json', 'application/json'],
        [Buffer.from([0, 1, 2, 3, 255, 254, 0, 7]), 'photo.jpg', 'image/jpeg', 'application/octet-stream'],
        [await jpeg(), 'document.pdf', 'application/pdf', 'image/jpeg'],
        [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n', 'latin1'), 'x.png', 'image/png', 'application/pdf'],
      ];
      for (const [bytes, filename, claimed, detected] of cases) {
        const res = await upload(t, a.token, bytes, { filename, type: claimed });
        expect(res.status, filename).toBe(201);
        expect(res.body.data.mime_type, `${filename} claimed ${claimed}`).toBe(detected);
      }
    });

    it('keeps a name like ../../etc/passwd as a name, never a path', async () => {
      const marker = `plinth-marker-${Date.now()}`;
      const res = await upload(t, a.token, marker, { filename: '../../etc/passwd' });
      expect(res.status).toBe(201);
      const file = res.body.data;
      expect(file.filename).toBe('../../etc/passwd');
      expect(file.storage_key).not.toContain('..');
      expect(file.storage_key).not.toContain('passwd');
      expect(file.storage_key).toMatch(new RegExp(`^${a.tenantId}/blobs/blob_[0-9a-z]{26}$`));
      expect((await stored(file.storage_key))!.toString()).toBe(marker);
      if (t.kernel.storage instanceof LocalStorage) {
        // The bytes are where the key says, inside the root, and nowhere the name points.
        const root = t.kernel.storage.root;
        const found = (fs.readdirSync(root, { recursive: true }) as string[]).filter((p) => {
          const full = path.join(root, p);
          return fs.statSync(full).isFile() && fs.readFileSync(full, 'utf8') === marker;
        });
        expect(found).toEqual([file.storage_key]);
        for (const target of ['/etc/passwd', path.resolve(root, '../../etc/passwd'), path.resolve(root, a.tenantId, 'blobs', '../../etc/passwd')]) {
          expect(fs.existsSync(target) && fs.readFileSync(target, 'utf8').includes(marker)).toBe(false);
        }
      }
      // A field name is kept the same way, and the download offers only a flat name.
      const named = await upload(t, a.token, 'x', { filename: 'a.txt', fields: { filename: '..\\..\\boot.ini' } });
      expect(named.body.data.filename).toBe('..\\..\\boot.ini');
      const dl = await fetchBytes(t, `/v1/files/${file.id}/content`, { token: a.token });
      expect(dl.status).toBe(200);
      expect(dl.headers.get('content-disposition')).toBe('attachment; filename=.._.._etc_passwd');
    });

    it('accepts exactly 25 MiB and refuses one byte more with 413, keeping nothing', async () => {
      const exact = Buffer.alloc(25 * MiB, 7);
      const ok = await upload(t, a.token, exact, { filename: 'exact.bin' });
      expect(ok.status).toBe(201);
      expect(ok.body.data.size_bytes).toBe(26_214_400);
      expect(ok.body.data.sha256).toBe(sha256(exact));

      const before = await t.db.system.select().from(files).where(eq(files.tenantId, a.tenantId));
      const usedBefore = await usage(a.tenantId);
      const keys = await storedKeys();
      // The listing sees what was stored, so an empty one after the refusal would mean something.
      expect(keys).toContain(ok.body.data.storage_key);
      const over = await upload(t, a.token, Buffer.alloc(25 * MiB + 1, 7), { filename: 'over.bin' });
      expect(over.status).toBe(413);
      expect(over.body.error.code).toBe('PAYLOAD_TOO_LARGE');
      expect(over.body.error.details.limit_bytes).toBe(26_214_400);
      expect(await t.db.system.select().from(files).where(eq(files.tenantId, a.tenantId))).toHaveLength(before.length);
      expect(await usage(a.tenantId)).toBe(usedBefore);
      expect(await storedKeys()).toEqual(keys);
    });

    it('stores an empty file', async () => {
      const res = await upload(t, a.token, Buffer.alloc(0), { filename: 'empty.txt' });
      expect(res.status).toBe(201);
      expect(res.body.data).toMatchObject({ size_bytes: 0, sha256: sha256(''), mime_type: 'application/octet-stream' });
      const dl = await fetchBytes(t, `/v1/files/${res.body.data.id}/content`, { token: a.token });
      expect([dl.status, dl.bytes.length, dl.headers.get('content-length')]).toEqual([200, 0, '0']);
      expect((await fetchBytes(t, `/v1/files/${res.body.data.id}/content`, { token: a.token, headers: { range: 'bytes=0-0' } })).status).toBe(416);
    });

    it('makes a new version with file_id or overwrite, and keeps the previous one', async () => {
      const first = await uploadText(a, 'version one', { filename: 'doc.txt', fields: { folder: 'docs' } });
      const second = await upload(t, a.token, 'version two!', { filename: 'whatever.txt', fields: { file_id: first.id } });
      expect(second.status).toBe(201);
      expect(second.body.data).toMatchObject({ id: first.id, version: 2, filename: 'doc.txt', size_bytes: 12, sha256: sha256('version two!') });
      const third = await upload(t, a.token, 'version three', { filename: 'doc.txt', fields: { folder: 'docs', overwrite: 'true' } });
      expect(third.body.data).toMatchObject({ id: first.id, version: 3 });

      const versions = await t.request('GET', `/v1/files/${first.id}/versions`, { token: a.token });
      expect(versions.status).toBe(200);
      expect(versions.body.data.map((v: any) => [v.version, v.size_bytes, v.is_current])).toEqual([
        [3, 13, true],
        [2, 12, false],
        [1, 11, false],
      ]);
      const old = await fetchBytes(t, `/v1/files/${first.id}/content?version=1`, { token: a.token });
      expect(old.bytes.toString()).toBe('version one');
      expect(old.headers.get('x-file-version')).toBe('1');
      const current = await fetchBytes(t, `/v1/files/${first.id}/content`, { token: a.token });
      expect(current.bytes.toString()).toBe('version three');
      expect((await fetchBytes(t, `/v1/files/${first.id}/content?version=9`, { token: a.token })).status).toBe(404);
      expect((await eventsOf(a.tenantId, 'file.uploaded')).filter((e) => e.resourceId === first.id).map((e) => (e.data as any).version)).toEqual([1, 2, 3]);
      // Without overwrite the same name is a second file.
      const twin = await uploadText(a, 'twin', { filename: 'doc.txt', fields: { folder: 'docs' } });
      expect(twin.id).not.toBe(first.id);
    });

    it('answers bad requests with a clear code and stores nothing', async () => {
      const count = async () => (await t.db.system.select().from(files).where(eq(files.tenantId, a.tenantId))).length;
      const before = await count();
      const keys = await storedKeys();
      const notMultipart = await t.request('POST', '/v1/files/upload', { token: a.token, body: 'hello', headers: { 'content-type': 'text/plain' } });
      expect(notMultipart.status).toBe(415);
      expect(notMultipart.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');

      const noFile = new FormData();
      noFile.append('folder', 'x');
      const missing = await t.request('POST', '/v1/files/upload', { token: a.token, body: noFile });
      expect(missing.status).toBe(400);
      expect(missing.body.error.message).toContain('body.file');

      const cases: [Record<string, string>, string][] = [
        [{ folder: 'a/../b' }, 'folder'],
        [{ meta: '{not json' }, 'meta'],
        [{ meta: '[1,2]' }, 'meta'],
        [{ access: 'world' }, 'access'],
        [{ tags: JSON.stringify(Array.from({ length: 51 }, (_, i) => `t${i}`)) }, 'tags'],
        [{ meta: JSON.stringify({ long: 'x'.repeat(70 * 1024) }) }, 'meta'],
        // Unknown fields are refused, not dropped.
        [{ expires: 'tomorrow' }, 'expires'],
      ];
      for (const [fields, field] of cases) {
        const res = await upload(t, a.token, 'x', { fields });
        expect(res.status, JSON.stringify(fields)).toBe(400);
        expect(res.body.error.code).toBe('VALIDATION_ERROR');
        expect(res.body.error.details.issues[0].field).toBe(field);
      }
      const two = new FormData();
      two.append('file', new Blob(['a']), 'a.txt');
      two.append('other', new Blob(['b']), 'b.txt');
      expect((await t.request('POST', '/v1/files/upload', { token: a.token, body: two })).status).toBe(400);
      // meta nested past the stack's reach is refused by depth, before its size is measured.
      const deep = await upload(t, a.token, 'x', { fields: { meta: `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}` } });
      expect(deep.status).toBe(400);
      expect(deep.body.error.details.issues[0].field).toMatch(/^meta\.a\.a/);
      expect(deep.body.error.message).toContain('deeper than 64');
      expect(await count()).toBe(before);
      expect(await storedKeys()).toEqual(keys);
    });

    it('survives a multipart body that ends before its closing boundary: 400 over a real socket, nothing kept', async () => {
      const server = await listen(t.app);
      try {
        const count = async () => (await t.db.system.select().from(files).where(eq(files.tenantId, a.tenantId))).length;
        const before = await count();
        const keys = await storedKeys();
        // The file part starts and the body stops: busboy errors the part's stream, which nothing heard.
        const body = '--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhel';
        const headers = { authorization: `Bearer ${a.token}`, 'content-type': 'multipart/form-data; boundary=b0undary', 'content-length': Buffer.byteLength(body) };
        for (let i = 0; i < 3; i++) {
          const res = await rawRequest(server.port, 'POST', '/v1/files/upload', headers, body);
          expect(res.status, res.text).toBe(400);
          expect(res.json).toMatchObject({ success: false, error: { code: 'BAD_REQUEST' } });
          expect(res.json.error.message).toContain('Unexpected end');
          expect(res.headers['request-id']).toBe(res.json.request_id);
        }
        // A body cut off before its Content-Length is sent whole: the same.
        const short = await rawRequest(server.port, 'POST', '/v1/files/upload', { ...headers, 'content-length': 20 }, body.slice(0, 20));
        expect(short.status).toBe(400);
        expect(short.json.success).toBe(false);
        // Same process, still serving; nothing was stored.
        expect((await rawRequest(server.port, 'GET', '/v1/files/stats', { authorization: `Bearer ${a.token}` })).status).toBe(200);
        expect(await count()).toBe(before);
        expect(await storedKeys()).toEqual(keys);
      } finally {
        await server.close();
      }
    });

    it('needs a key with the files scope', async () => {
      const reader = await t.newKey(a.token, { scopes: ['read', 'write'] });
      const res = await upload(t, reader.token, 'x');
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('INSUFFICIENT_SCOPE');
      const filesKey = await t.newKey(a.token, { scopes: ['files'] });
      expect((await upload(t, filesKey.token, 'x')).status).toBe(201);
      expect((await upload(t, '', 'x')).status).toBe(401);
    });

    it('replays an upload retried with the same Idempotency-Key instead of storing it twice', async () => {
      const form = new FormData();
      form.append('file', new Blob(['idempotent bytes']), 'idem.txt');
      // The same multipart body (same boundary) twice, as a retrying client sends it.
      const request = new Request('http://localhost/', { method: 'POST', body: form });
      const body = new Uint8Array(await request.arrayBuffer());
      const headers = { 'content-type': request.headers.get('content-type')!, 'idempotency-key': `upload-${Date.now()}` };
      const first = await t.request('POST', '/v1/files/upload', { token: a.token, body, headers });
      const second = await t.request('POST', '/v1/files/upload', { token: a.token, body, headers });
      expect(first.status).toBe(201);
      expect(second.status).toBe(201);
      expect(second.headers.get('idempotent-replayed')).toBe('true');
      expect(second.body.data.id).toBe(first.body.data.id);
      const same = await t.db.system.select().from(files).where(and(eq(files.tenantId, a.tenantId), eq(files.filename, 'idem.txt')));
      expect(same).toHaveLength(1);
    });

    it('cannot make a version of another tenant\'s file', async () => {
      const theirs = await uploadText(b, 'b file');
      const before = await snapshot(theirs.id);
      const res = await upload(t, a.token, 'hijack', { fields: { file_id: theirs.id } });
      expect(res.status).toBe(404);
      expect(await snapshot(theirs.id)).toEqual(before);
    });
  });

  describe('storage quota', () => {
    let small: Tenant;
    beforeAll(async () => {
      small = await t.newTenant({ plan_limits: { storage_bytes: 1000 } });
    });

    it('refuses an upload that would exceed the plan with STORAGE_QUOTA_EXCEEDED, and shows usage', async () => {
      const kept = await upload(t, small.token, Buffer.alloc(600, 1));
      expect(kept.status).toBe(201);
      const keys = await storedKeys();
      expect(keys).toContain(kept.body.data.storage_key);
      const refused = await upload(t, small.token, Buffer.alloc(600, 2));
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('STORAGE_QUOTA_EXCEEDED');
      expect(refused.body.error.details).toMatchObject({ limit_bytes: 1000, used_bytes: 600, requested_bytes: 600 });
      expect(await t.db.system.select().from(files).where(eq(files.tenantId, small.tenantId))).toHaveLength(1);
      expect(await storedKeys()).toEqual(keys);

      const usageRes = await t.request('GET', '/v1/usage', { token: small.token });
      expect(usageRes.body.data.used_storage_bytes).toBe(600);
      const stats = await t.request('GET', '/v1/files/stats', { token: small.token });
      expect(stats.body.data.quota).toEqual({ used_bytes: 600, limit_bytes: 1000, remaining_bytes: 400, percent: 60 });

      const slot = await t.request('POST', '/v1/files/upload-url', { token: small.token, body: { filename: 'big.bin', size_bytes: 500 } });
      expect(slot.status).toBe(403);
      expect(slot.body.error.code).toBe('STORAGE_QUOTA_EXCEEDED');
      // A new version counts too; the trash still counts until purged.
      expect((await upload(t, small.token, Buffer.alloc(400, 3))).status).toBe(201);
      expect((await upload(t, small.token, Buffer.alloc(1, 3))).status).toBe(403);
    });

    it('gives the bytes back when a file is purged', async () => {
      const list = await t.request('POST', '/v1/files/search', { token: small.token, body: {} });
      for (const f of list.body.data.results) {
        expect((await t.request('DELETE', `/v1/files/${f.id}?permanent=true`, { token: small.token })).status).toBe(200);
      }
      expect((await t.request('GET', '/v1/usage', { token: small.token })).body.data.used_storage_bytes).toBe(0);
      expect((await upload(t, small.token, Buffer.alloc(1000, 4))).status).toBe(201);
    });
  });

  describe('GET /v1/files/{file_id}/content', () => {
    let file: any;
    const text = 'Hello, range requests! 0123456789';
    beforeAll(async () => {
      // Multipart escapes quotes in a part's file name, so the exact name comes as a field.
      file = await uploadText(a, text, { filename: 'résumé.txt', fields: { filename: 'résumé "final".txt' } });
    });

    it('streams the bytes with type, disposition, ETag and length', async () => {
      const res = await fetchBytes(t, `/v1/files/${file.id}/content`, { token: a.token });
      expect(res.status).toBe(200);
      expect(res.bytes.toString()).toBe(text);
      expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(res.headers.get('content-length')).toBe(String(text.length));
      expect(res.headers.get('etag')).toBe(`"${sha256(text)}"`);
      expect(res.headers.get('accept-ranges')).toBe('bytes');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-disposition')).toBe(
        `attachment; filename="r?sum? \\"final\\".txt"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.txt`,
      );
      const inline = await fetchBytes(t, `/v1/files/${file.id}/content?disposition=inline`, { token: a.token });
      expect(inline.headers.get('content-disposition')).toMatch(/^inline;/);
    });

    it('serves byte ranges (206), refuses ranges outside the file (416) and answers If-None-Match with 304', async () => {
      const first = await fetchBytes(t, `/v1/files/${file.id}/content`, { token: a.token, headers: { range: 'bytes=0-4' } });
      expect(first.status).toBe(206);
      expect(first.bytes.toString()).toBe('Hello');
      expect(first.headers.get('content-range')).toBe(`bytes 0-4/${text.length}`);
      expect(first.headers.get('content-length')).toBe('5');
      const suffix = await fetchBytes(t, `/v1/files/${file.id}/content`, { token: a.token, headers: { range: 'bytes=-4' } });
      expect(suffix.bytes.toString()).toBe('6789');
      const open = await fetchBytes(t, `/v1/files/${file.id}/content`, { token: a.token, headers: { range: 'bytes=23-' } });
      expect(open.bytes.toString()).toBe('0123456789');

      const outside = await fetchBytes(t, `/v1/files/${file.id}/content`, { token: a.token, headers: { range: 'bytes=1000-2000' } });
      expect(outside.status).toBe(416);
      expect(outside.json.error.code).toBe('RANGE_NOT_SATISFIABLE');
      expect(outside.headers.get('content-range')).toBe(`bytes */${text.length}`);

      const stale = await fetchBytes(t, `/v1/files/${file.id}/content`, { token: a.token, headers: { range: 'bytes=0-4', 'if-range': '"other"' } });
      expect(stale.status).toBe(200);
      expect(stale.bytes.toString()).toBe(text);

      const cached = await fetchBytes(t, `/v1/files/${file.id}/content`, { token: a.token, headers: { 'if-none-match': `"${sha256(text)}"` } });
      expect(cached.status).toBe(304);
      expect(cached.bytes.length).toBe(0);
    });

    it('answers HEAD with the headers and no body', async () => {
      const res = await fetchBytes(t, `/v1/files/${file.id}/content`, { token: a.token, method: 'HEAD' });
      expect(res.status).toBe(200);
      expect(res.headers.get('etag')).toBe(`"${sha256(text)}"`);
      expect(res.bytes.length).toBe(0);
    });

    it('serves public files without credentials and private ones only with them', async () => {
      expect((await fetchBytes(t, `/v1/files/${file.id}/content`)).status).toBe(401);
      await t.request('PATCH', `/v1/files/${file.id}`, { token: a.token, body: { access: 'public' } });
      const anonymous = await fetchBytes(t, `/v1/files/${file.id}/content`);
      expect(anonymous.status).toBe(200);
      expect(anonymous.bytes.toString()).toBe(text);
      expect(anonymous.headers.get('cache-control')).toBe('public, max-age=60');
      // Public is public, whoever asks; the metadata stays the owner's.
      expect((await fetchBytes(t, `/v1/files/${file.id}/content`, { token: b.token })).status).toBe(200);
      expect((await t.request('GET', `/v1/files/${file.id}`, { token: b.token })).status).toBe(404);
      await t.request('PATCH', `/v1/files/${file.id}`, { token: a.token, body: { access: 'private' } });
      expect((await fetchBytes(t, `/v1/files/${file.id}/content`)).status).toBe(401);
    });

    it('needs the files scope, and shows another tenant nothing', async () => {
      const reader = await t.newKey(a.token, { scopes: ['read'] });
      const denied = await fetchBytes(t, `/v1/files/${file.id}/content`, { token: reader.token });
      expect(denied.status).toBe(403);
      expect(denied.json.error.code).toBe('INSUFFICIENT_SCOPE');
      const foreign = await fetchBytes(t, `/v1/files/${file.id}/content`, { token: b.token });
      expect(foreign.status).toBe(404);
      expect(foreign.bytes.toString()).not.toContain('Hello');
      expect((await fetchBytes(t, '/v1/files/file_01jh3x2k7d9f8g6h5j4k3m2n1p/content', { token: a.token })).status).toBe(404);
    });
  });

  describe('POST /v1/files/{file_id}/signed-url', () => {
    let file: any;
    beforeAll(async () => {
      file = await uploadText(a, 'signed content', { filename: 'signed.txt' });
    });

    it('issues a URL that downloads without credentials within its TTL', async () => {
      const res = await t.request('POST', `/v1/files/${file.id}/signed-url`, { token: a.token, body: { expires_in: 300 } });
      expect(res.status).toBe(200);
      const { url, expires_at, ttl } = res.body.data;
      expect(ttl).toBe(300);
      expect(Math.abs(Date.parse(expires_at) - (Date.now() + 300_000))).toBeLessThan(10_000);
      const dl = await fetchUrl(t, url);
      expect(dl.status).toBe(200);
      expect(dl.bytes.toString()).toBe('signed content');
      expect(dl.headers.get('content-disposition')).toContain('signed.txt');
      if (driver.name === 's3') expect(url).toContain('X-Amz-Signature=');
      else expect(url).toMatch(/\/v1\/files\/file_[0-9a-z]+\/content\?t=tn_/);
      // Default TTL is an hour.
      expect((await t.request('POST', `/v1/files/${file.id}/signed-url`, { token: a.token })).body.data.ttl).toBe(3600);
      const audited = await t.db.system
        .select()
        .from(auditLogs)
        .where(and(eq(auditLogs.resourceId, file.id), eq(auditLogs.action, 'file.signed_url_created')));
      expect(audited.map((e) => (e.metadata as { ttl: number }).ttl).sort()).toEqual([300, 3600]);
    });

    it('refuses a URL with one changed character, and an expired one, with 403', async () => {
      const { url } = (await t.request('POST', `/v1/files/${file.id}/signed-url`, { token: a.token, body: { expires_in: 600 } })).body.data;
      const parsed = new URL(url);
      const signatureName = driver.name === 's3' ? 'X-Amz-Signature' : 'token';
      const signature = parsed.searchParams.get(signatureName)!;
      for (const index of [0, Math.floor(signature.length / 2), signature.length - 1]) {
        const tampered = new URL(url);
        tampered.searchParams.set(signatureName, changeOneChar(signature, index));
        const res = await fetchUrl(t, tampered.toString());
        expect(res.status, `signature char ${index}`).toBe(403);
        expect(res.bytes.toString()).not.toContain('signed content');
      }
      // Any other part of the URL is covered by the signature too.
      const otherParams = driver.name === 's3' ? ['X-Amz-Expires', 'X-Amz-Date'] : ['expires', 't'];
      for (const name of otherParams) {
        const tampered = new URL(url);
        const value = tampered.searchParams.get(name)!;
        const lastDigit = value.search(/\d(?!.*\d)/);
        tampered.searchParams.set(name, changeOneChar(value, lastDigit));
        expect((await fetchUrl(t, tampered.toString())).status, name).toBe(403);
      }
      const inPath = driver.name === 's3' ? file.storage_key : file.id;
      const otherPath = url.replace(inPath, changeOneChar(inPath, inPath.length - 1));
      expect(otherPath).not.toBe(url);
      expect((await fetchUrl(t, otherPath)).status).toBe(403);

      let expired: string;
      if (driver.name === 's3') {
        expired = (await t.kernel.storage.presignGet(file.storage_key, { expiresIn: 60, signingDate: new Date(Date.now() - 3600_000) }))!;
      } else {
        const query = signContentQuery(t.kernel, { tenantId: a.tenantId, fileId: file.id, expires: Math.floor(Date.now() / 1000) - 1 });
        expired = `http://localhost/v1/files/${file.id}/content?${query}`;
      }
      const res = await fetchUrl(t, expired);
      expect(res.status).toBe(403);
    });

    it.skipIf(driver.name === 's3')('compares the signed strings exactly: a leading zero on expires, or a version=01, is a 403', async () => {
      const { url } = (await t.request('POST', `/v1/files/${file.id}/signed-url`, { token: a.token, body: { expires_in: 600 } })).body.data;
      expect((await fetchUrl(t, url)).status).toBe(200);
      for (const padded of ['0', '00', '000000']) {
        const tampered = new URL(url);
        tampered.searchParams.set('expires', `${padded}${tampered.searchParams.get('expires')}`);
        const res = await fetchUrl(t, tampered.toString());
        expect(res.status, `expires=${tampered.searchParams.get('expires')}`).toBe(403);
        expect(res.bytes.toString()).not.toContain('signed content');
      }
      // A URL signed for a version is good for that spelling of it only.
      const query = signContentQuery(t.kernel, { tenantId: a.tenantId, fileId: file.id, expires: Math.floor(Date.now() / 1000) + 600, version: 1 });
      expect((await fetchUrl(t, `http://localhost/v1/files/${file.id}/content?${query}&version=1`)).status).toBe(200);
      expect((await fetchUrl(t, `http://localhost/v1/files/${file.id}/content?${query}&version=01`)).status).toBe(403);
    });

    it('validates the TTL (60..86,400 s) and answers another tenant with 404', async () => {
      for (const expires_in of [59, 86_401, 1.5]) {
        const res = await t.request('POST', `/v1/files/${file.id}/signed-url`, { token: a.token, body: { expires_in } });
        expect(res.status, String(expires_in)).toBe(400);
        expect(res.body.error.details.issues[0].field).toBe('expires_in');
      }
      expect((await t.request('POST', `/v1/files/${file.id}/signed-url`, { token: a.token, body: { expires_in: 60 } })).status).toBe(200);
      expect((await t.request('POST', `/v1/files/${file.id}/signed-url`, { token: a.token, body: { expires_in: 86_400 } })).status).toBe(200);
      const foreign = await t.request('POST', `/v1/files/${file.id}/signed-url`, { token: b.token, body: { expires_in: 60 } });
      expect(foreign.status).toBe(404);
      expect(JSON.stringify(foreign.body)).not.toContain('http');
    });
  });

  describe('presigned upload slots', () => {
    const putBytes = async (slot: any, bytes: Buffer, token = a.token) => {
      if (slot.upload_method === 'PUT') return fetchUrl(t, slot.upload_endpoint, { method: 'PUT', body: bytes });
      return fetchUrl(t, slot.upload_endpoint, { method: 'POST', body: bytes, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' } });
    };
    const newSlot = async (body: Record<string, unknown>, token = a.token) => {
      const res = await t.request('POST', '/v1/files/upload-url', { token, body: { filename: 'big.png', ...body } });
      expect(res.status, res.text).toBe(201);
      return res.body.data;
    };

    it('reserves a slot, takes the bytes at upload_endpoint and completes after checking size and checksum', async () => {
      const bytes = await png(300, 200);
      const slot = await newSlot({ size_bytes: bytes.length, sha256: sha256(bytes), mime_type: 'application/pdf', folder: 'uploads', tags: ['big'] });
      expect(slot).toMatchObject({ upload_method: driver.name === 's3' ? 'PUT' : 'POST', max_size_bytes: bytes.length });
      expect(slot.r2_key).toBe(slot.storage_key);
      expect(slot.storage_key.startsWith(`${a.tenantId}/`)).toBe(true);
      expect(slot.upload_put_endpoint).toMatch(new RegExp(`/v1/files/${slot.file_id}/upload-put$`));
      expect(Date.parse(slot.expires_at)).toBeGreaterThan(Date.now() + 23 * 3600_000);

      const pending = await t.request('GET', `/v1/files/${slot.file_id}`, { token: a.token });
      expect(pending.body.data).toMatchObject({ status: 'pending', version: 0 });
      expect((await fetchBytes(t, `/v1/files/${slot.file_id}/content`, { token: a.token })).status).toBe(409);
      const early = await t.request('POST', `/v1/files/${slot.file_id}/upload-complete`, { token: a.token });
      expect(early.status).toBe(409);
      expect((await t.request('PATCH', `/v1/files/${slot.file_id}`, { token: a.token, body: { filename: 'x' } })).status).toBe(409);

      const put = await putBytes(slot, bytes);
      expect(put.status).toBe(200);
      const done = await t.request('POST', `/v1/files/${slot.file_id}/upload-complete`, { token: a.token, body: {} });
      expect(done.status).toBe(200);
      expect(done.body.data).toMatchObject({
        id: slot.file_id,
        status: 'ready',
        version: 1,
        size_bytes: bytes.length,
        sha256: sha256(bytes),
        mime_type: 'image/png',
        folder: 'uploads',
        tags: ['big'],
      });
      const dl = await fetchBytes(t, `/v1/files/${slot.file_id}/content`, { token: a.token });
      expect(dl.bytes).toEqual(bytes);
      // Completing again changes nothing and emits nothing more.
      expect((await t.request('POST', `/v1/files/${slot.file_id}/upload-complete`, { token: a.token })).status).toBe(200);
      expect((await eventsOf(a.tenantId, 'file.uploaded')).filter((e) => e.resourceId === slot.file_id)).toHaveLength(1);
    });

    it('upload-put works with every driver and is measured on the way in', async () => {
      const bytes = Buffer.from('through the api');
      const slot = await newSlot({ filename: 'api.txt', size_bytes: bytes.length });
      const put = await fetchUrl(t, slot.upload_put_endpoint, { method: 'POST', body: bytes, headers: { authorization: `Bearer ${a.token}` } });
      expect(put.status).toBe(200);
      expect(put.json.data).toEqual({ file_id: slot.file_id, status: 'pending', received_bytes: bytes.length, sha256: sha256(bytes) });
      const done = await t.request('POST', `/v1/files/${slot.file_id}/upload-complete`, { token: a.token, body: { sha256: sha256(bytes), size_bytes: bytes.length } });
      expect(done.body.data).toMatchObject({ status: 'ready', mime_type: 'text/plain', sha256: sha256(bytes) });
    });

    it('refuses more bytes than announced (413), and a wrong size or checksum on completion (422)', async () => {
      const slot = await newSlot({ filename: 'a.bin', size_bytes: 10 });
      const tooMany = await fetchUrl(t, slot.upload_put_endpoint, { method: 'POST', body: Buffer.alloc(11), headers: { authorization: `Bearer ${a.token}` } });
      expect(tooMany.status).toBe(413);
      expect(tooMany.json.error.code).toBe('PAYLOAD_TOO_LARGE');

      await fetchUrl(t, slot.upload_put_endpoint, { method: 'POST', body: Buffer.alloc(9), headers: { authorization: `Bearer ${a.token}` } });
      const short = await t.request('POST', `/v1/files/${slot.file_id}/upload-complete`, { token: a.token });
      expect(short.status).toBe(422);
      expect(short.body.error.details).toEqual({ expected_size: 10, received_size: 9 });

      // Sending again replaces what was sent.
      await fetchUrl(t, slot.upload_put_endpoint, { method: 'POST', body: Buffer.alloc(10), headers: { authorization: `Bearer ${a.token}` } });
      const wrongSum = await t.request('POST', `/v1/files/${slot.file_id}/upload-complete`, { token: a.token, body: { sha256: 'a'.repeat(64) } });
      expect(wrongSum.status).toBe(422);
      expect(wrongSum.body.error.details.received_sha256).toBe(sha256(Buffer.alloc(10)));
      expect((await fileRow(slot.file_id))!.status).toBe('pending');
      expect((await t.request('POST', `/v1/files/${slot.file_id}/upload-complete`, { token: a.token })).status).toBe(200);

      const announcedSum = await newSlot({ filename: 'b.bin', size_bytes: 3, sha256: sha256('abc') });
      await putBytes(announcedSum, Buffer.from('abd'));
      expect((await t.request('POST', `/v1/files/${announcedSum.file_id}/upload-complete`, { token: a.token })).status).toBe(422);

      const huge = await t.request('POST', '/v1/files/upload-url', { token: a.token, body: { filename: 'x', size_bytes: 6 * 1024 ** 3 } });
      expect(huge.status).toBe(413);
      const invalid = await t.request('POST', '/v1/files/upload-url', { token: a.token, body: { filename: '', size_bytes: -1 } });
      expect(invalid.status).toBe(400);
    });

    it('with file_id, completes as a new version of that file', async () => {
      const original = await uploadText(a, 'v1 text', { filename: 'versioned.txt' });
      const slot = await newSlot({ filename: 'versioned.txt', size_bytes: 7, file_id: original.id });
      await putBytes(slot, Buffer.from('v2 text'));
      const done = await t.request('POST', `/v1/files/${slot.file_id}/upload-complete`, { token: a.token });
      expect(done.status).toBe(200);
      expect(done.body.data).toMatchObject({ id: original.id, version: 2, sha256: sha256('v2 text') });
      expect(await fileRow(slot.file_id)).toBeUndefined();
      expect((await t.request('GET', `/v1/files/${original.id}/versions`, { token: a.token })).body.data).toHaveLength(2);
      const foreign = await t.request('POST', '/v1/files/upload-url', { token: b.token, body: { filename: 'x', size_bytes: 1, file_id: original.id } });
      expect(foreign.status).toBe(404);
    });

    it('keeps another tenant out of a slot', async () => {
      const slot = await newSlot({ filename: 'mine.bin', size_bytes: 4 });
      const put = await fetchUrl(t, slot.upload_put_endpoint, { method: 'POST', body: Buffer.from('evil'), headers: { authorization: `Bearer ${b.token}` } });
      expect(put.status).toBe(404);
      expect(await t.kernel.storage.stat(slot.storage_key)).toBeNull();
      expect((await t.request('POST', `/v1/files/${slot.file_id}/upload-complete`, { token: b.token })).status).toBe(404);
      expect((await t.request('POST', `/v1/files/${slot.file_id}/stale-cleanup?force=true`, { token: b.token })).status).toBe(404);
      expect((await fileRow(slot.file_id))!.status).toBe('pending');
    });

    it('stale-cleanup removes slots never completed, and refuses open slots and complete files', async () => {
      const open = await newSlot({ filename: 'open.bin', size_bytes: 4 });
      await putBytes(open, Buffer.from('abcd'));
      const refused = await t.request('POST', `/v1/files/${open.file_id}/stale-cleanup`, { token: a.token });
      expect(refused.status).toBe(409);
      expect(refused.body.error.details.upload_expires_at).toBe(open.expires_at);
      const forced = await t.request('POST', `/v1/files/${open.file_id}/stale-cleanup?force=true`, { token: a.token });
      expect(forced.body.data).toEqual({ cleaned: 1 });
      expect(await fileRow(open.file_id)).toBeUndefined();
      expect(await t.kernel.storage.stat(open.storage_key)).toBeNull();

      const stale = await newSlot({ filename: 'stale.bin', size_bytes: 4 });
      await putBytes(stale, Buffer.from('abcd'));
      await t.db.system.update(files).set({ uploadExpiresAt: new Date(Date.now() - 1000) }).where(eq(files.id, stale.file_id));
      expect((await t.request('POST', `/v1/files/${stale.file_id}/stale-cleanup`, { token: a.token })).body.data).toEqual({ cleaned: 1 });
      expect(await t.kernel.storage.stat(stale.storage_key)).toBeNull();
      expect((await t.request('POST', `/v1/files/${stale.file_id}/upload-put`, { token: a.token, body: 'x', headers: { 'content-type': 'application/octet-stream' } })).status).toBe(404);

      const ready = await uploadText(a, 'ready');
      expect((await t.request('POST', `/v1/files/${ready.id}/stale-cleanup`, { token: a.token })).status).toBe(409);
      expect((await t.request('POST', '/v1/files/file_01jh3x2k7d9f8g6h5j4k3m2n1p/stale-cleanup', { token: a.token })).status).toBe(404);

      const s1 = await newSlot({ filename: 's1', size_bytes: 1 });
      const s2 = await newSlot({ filename: 's2', size_bytes: 1 });
      const theirs = await newSlot({ filename: 's3', size_bytes: 1 }, b.token);
      await t.db.system.update(files).set({ uploadExpiresAt: new Date(Date.now() - 1000) }).where(eq(files.status, 'pending'));
      const all = await t.request('POST', '/v1/files/all/stale-cleanup', { token: a.token });
      expect(all.body.data.cleaned).toBeGreaterThanOrEqual(2);
      expect(await fileRow(s1.file_id)).toBeUndefined();
      expect(await fileRow(s2.file_id)).toBeUndefined();
      expect(await fileRow(theirs.file_id)).toBeDefined();
      // An expired slot takes no more bytes.
      const late = await fetchUrl(t, theirs.upload_put_endpoint, { method: 'POST', body: Buffer.from('x'), headers: { authorization: `Bearer ${b.token}` } });
      expect(late.status).toBe(409);
    });

    it('the scheduled cleanup job removes stale slots of every tenant and purges the old trash', async () => {
      const slot = await newSlot({ filename: 'job.bin', size_bytes: 3 }, b.token);
      await putBytes(slot, Buffer.from('abc'), b.token);
      const trashed = await uploadText(b, 'old trash');
      await t.request('DELETE', `/v1/files/${trashed.id}`, { token: b.token });
      const fresh = await uploadText(b, 'new trash');
      await t.request('DELETE', `/v1/files/${fresh.id}`, { token: b.token });
      await t.db.system.update(files).set({ uploadExpiresAt: new Date(Date.now() - 1000) }).where(eq(files.id, slot.file_id));
      await t.db.system.update(files).set({ deletedAt: new Date(Date.now() - 31 * 86_400_000) }).where(eq(files.id, trashed.id));
      const usedBefore = await usage(b.tenantId);

      const result = await runCleanup(t.kernel);
      expect(result.slots).toBeGreaterThanOrEqual(1);
      expect(result.purged).toBeGreaterThanOrEqual(1);
      expect(await fileRow(slot.file_id)).toBeUndefined();
      expect(await t.kernel.storage.stat(slot.storage_key)).toBeNull();
      expect(await fileRow(trashed.id)).toBeUndefined();
      expect(await t.kernel.storage.stat(trashed.storage_key)).toBeNull();
      expect(await fileRow(fresh.id)).toBeDefined();
      expect(await usage(b.tenantId)).toBe(usedBefore - 'old trash'.length);
      const purgedEvents = (await eventsOf(b.tenantId, 'file.deleted')).filter((e) => e.resourceId === trashed.id);
      expect(purgedEvents.map((e) => (e.data as any).permanent)).toEqual([false, true]);

      const schedules = await t.db.raw(`select name, cron from pgboss.schedule where name = $1`, [CLEANUP_JOB]);
      expect(schedules.rows).toEqual([{ name: CLEANUP_JOB, cron: '17 * * * *' }]);
    });
  });

  describe('metadata: get, update, delete, restore, trash, versions, folders', () => {
    it('GET returns the file; another tenant gets 404', async () => {
      const file = await uploadText(a, 'get me');
      const res = await t.request('GET', `/v1/files/${file.id}`, { token: a.token });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual(file);
      const foreign = await t.request('GET', `/v1/files/${file.id}`, { token: b.token });
      expect(foreign.status).toBe(404);
      expect(foreign.text).not.toContain('get me');
      expect((await t.request('GET', '/v1/files/file_01jh3x2k7d9f8g6h5j4k3m2n1p', { token: a.token })).status).toBe(404);
    });

    it('PATCH changes name, folder, access, tags, meta (merged) and linked object, with file.updated', async () => {
      const file = await uploadText(a, 'patch me', { fields: { folder: 'inbox', meta: '{"keep":1,"drop":2}' } });
      const { typeId } = await defineType(t, a.token, 'patched_things');
      const thing = await createObject(t, a.token, 'patched_things', {});
      const res = await t.request('PATCH', `/v1/files/${file.id}`, {
        token: a.token,
        body: { filename: 'renamed.txt', folder: 'archive/2026', access: 'public', tags: ['a', 'b'], meta: { drop: null, add: 'x' }, object_type_id: 'patched_things', object_id: thing.id },
      });
      expect(res.status).toBe(200);
      expect(res.body.data).toMatchObject({
        filename: 'renamed.txt',
        folder: 'archive/2026',
        access: 'public',
        tags: ['a', 'b'],
        meta: { keep: 1, add: 'x' },
        object_type_id: typeId,
        object_id: thing.id,
      });
      const [event] = (await eventsOf(a.tenantId, 'file.updated')).filter((e) => e.resourceId === file.id);
      expect(event!.data).toEqual({
        filename: 'renamed.txt',
        folder: 'archive/2026',
        previous_folder: 'inbox',
        changes: ['filename', 'folder', 'access', 'tags', 'meta', 'object_type_id', 'object_id'],
      });
      // Nothing changed: no event.
      await t.request('PATCH', `/v1/files/${file.id}`, { token: a.token, body: { filename: 'renamed.txt' } });
      expect((await eventsOf(a.tenantId, 'file.updated')).filter((e) => e.resourceId === file.id)).toHaveLength(1);
      const toRoot = await t.request('PATCH', `/v1/files/${file.id}`, { token: a.token, body: { folder: null } });
      expect(toRoot.body.data.folder).toBeNull();

      for (const [body, field] of [
        [{ folder: '../etc' }, 'folder'],
        [{ filename: '' }, 'filename'],
        [{ access: 'open' }, 'access'],
        [{ tags: [''] }, 'tags.0'],
      ] as const) {
        const bad = await t.request('PATCH', `/v1/files/${file.id}`, { token: a.token, body });
        expect(bad.status, JSON.stringify(body)).toBe(400);
        expect(bad.body.error.details.issues[0].field).toBe(field);
      }
      const before = await snapshot(file.id);
      const foreign = await t.request('PATCH', `/v1/files/${file.id}`, { token: b.token, body: { filename: 'owned.txt' } });
      expect(foreign.status).toBe(404);
      expect(await snapshot(file.id)).toEqual(before);
    });

    it('links a file only to a record of this tenant, naming the field otherwise', async () => {
      const mine = await defineType(t, a.token, 'linked_cases');
      const theirs = await defineType(t, b.token, 'linked_cases');
      await defineType(t, a.token, 'linked_other');
      const myCase = await createObject(t, a.token, 'linked_cases', {});
      const theirCase = await createObject(t, b.token, 'linked_cases', {});
      const madeUp = 'obj_00000000000000000000000000';
      const refused: [Record<string, string>, string][] = [
        [{ object_id: theirCase.id }, 'object_id'],
        [{ object_id: madeUp }, 'object_id'],
        [{ object_type_id: theirs.typeId }, 'object_type_id'],
        [{ object_type_id: 'no_such_type' }, 'object_type_id'],
        [{ object_type_id: 'linked_other', object_id: myCase.id }, 'object_id'],
      ];
      const file = await uploadText(a, 'link me');
      const before = await snapshot(file.id);
      const keys = await storedKeys();
      const filesBefore = (await t.db.system.select({ id: files.id }).from(files).where(eq(files.tenantId, a.tenantId))).length;
      for (const [fields, field] of refused) {
        const what = JSON.stringify(fields);
        const up = await upload(t, a.token, 'linked', { filename: 'l.txt', type: 'text/plain', fields });
        expect(up.status, `upload ${what}`).toBe(404);
        expect(up.body.error, `upload ${what}`).toMatchObject({ code: 'NOT_FOUND', details: { field } });
        const slot = await t.request('POST', '/v1/files/upload-url', { token: a.token, body: { filename: 'l.bin', size_bytes: 10, ...fields } });
        expect(slot.status, `upload-url ${what}`).toBe(404);
        expect(slot.body.error.details.field, `upload-url ${what}`).toBe(field);
        const patch = await t.request('PATCH', `/v1/files/${file.id}`, { token: a.token, body: fields });
        expect(patch.status, `PATCH ${what}`).toBe(404);
        expect(patch.body.error.details.field, `PATCH ${what}`).toBe(field);
      }
      expect(await snapshot(file.id)).toEqual(before);
      expect((await t.db.system.select({ id: files.id }).from(files).where(eq(files.tenantId, a.tenantId))).length).toBe(filesBefore);
      expect(await storedKeys()).toEqual(keys);

      // The record alone is enough: the type comes from it.
      const linked = await upload(t, a.token, 'linked', { filename: 'l.txt', type: 'text/plain', fields: { object_id: myCase.id } });
      expect(linked.status).toBe(201);
      expect(linked.body.data).toMatchObject({ object_type_id: mine.typeId, object_id: myCase.id });
      const search = await t.request('POST', '/v1/files/search', { token: a.token, body: { object_type_id: 'linked_cases' } });
      expect(search.body.data.results.map((f: { id: string }) => f.id)).toEqual([linked.body.data.id]);
      const unlinked = await t.request('PATCH', `/v1/files/${linked.body.data.id}`, { token: a.token, body: { object_type_id: null, object_id: null } });
      expect(unlinked.body.data).toMatchObject({ object_type_id: null, object_id: null });
    });

    it('DELETE moves to the trash, restore brings it back, both with events', async () => {
      const file = await uploadText(a, 'trash me', { fields: { folder: 'bin' } });
      const foreign = await t.request('DELETE', `/v1/files/${file.id}`, { token: b.token });
      expect(foreign.status).toBe(404);
      expect((await fileRow(file.id))!.deletedAt).toBeNull();

      const del = await t.request('DELETE', `/v1/files/${file.id}`, { token: a.token });
      expect(del.status).toBe(200);
      expect(del.body.data).toEqual({ file_id: file.id, deleted: true, permanent: false });
      expect((await t.request('GET', `/v1/files/${file.id}`, { token: a.token })).status).toBe(404);
      expect((await fetchBytes(t, `/v1/files/${file.id}/content`, { token: a.token })).status).toBe(404);
      expect((await t.request('DELETE', `/v1/files/${file.id}`, { token: a.token })).status).toBe(404);
      expect(await stored(file.storage_key)).not.toBeNull();
      const [deleted] = (await eventsOf(a.tenantId, 'file.deleted')).filter((e) => e.resourceId === file.id);
      expect(deleted!.data).toEqual({ filename: 'note.txt', folder: 'bin', permanent: false });

      const trash = await t.request('GET', '/v1/files/trash', { token: a.token });
      expect(trash.status).toBe(200);
      expect(trash.body.data.results.map((f: any) => f.id)).toContain(file.id);
      expect(trash.body.data.total).toBeGreaterThanOrEqual(1);
      expect((await t.request('GET', '/v1/files/trash', { token: b.token })).body.data.results.map((f: any) => f.id)).not.toContain(file.id);

      expect((await t.request('POST', `/v1/files/${file.id}/restore`, { token: b.token })).status).toBe(404);
      const restored = await t.request('POST', `/v1/files/${file.id}/restore`, { token: a.token });
      expect(restored.status).toBe(200);
      expect(restored.body.data).toMatchObject({ id: file.id, deleted_at: null, folder: 'bin' });
      const [restoredEvent] = (await eventsOf(a.tenantId, 'file.restored')).filter((e) => e.resourceId === file.id);
      expect(restoredEvent!.data).toEqual({ filename: 'note.txt', folder: 'bin' });
      const again = await t.request('POST', `/v1/files/${file.id}/restore`, { token: a.token });
      expect(again.status).toBe(409);
      expect((await fetchBytes(t, `/v1/files/${file.id}/content`, { token: a.token })).bytes.toString()).toBe('trash me');
    });

    it('DELETE ?permanent=true purges rows and bytes, from the trash too', async () => {
      const file = await uploadText(a, 'gone for good');
      await t.request('DELETE', `/v1/files/${file.id}`, { token: a.token });
      const used = await usage(a.tenantId);
      const res = await t.request('DELETE', `/v1/files/${file.id}?permanent=true`, { token: a.token });
      expect(res.body.data).toEqual({ file_id: file.id, deleted: true, permanent: true });
      expect(await fileRow(file.id)).toBeUndefined();
      expect(await t.db.system.select().from(fileVersions).where(eq(fileVersions.fileId, file.id))).toEqual([]);
      expect(await t.kernel.storage.stat(file.storage_key)).toBeNull();
      expect(await usage(a.tenantId)).toBe(used - 'gone for good'.length);
    });

    it('lists the trash in pages with a cursor', async () => {
      const tenant = await t.newTenant();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const f = await uploadText(tenant, `t${i}`);
        await t.request('DELETE', `/v1/files/${f.id}`, { token: tenant.token });
        ids.push(f.id);
      }
      const first = await t.request('GET', '/v1/files/trash?limit=2', { token: tenant.token });
      expect(first.body.data.total).toBe(3);
      expect(first.body.data.results).toHaveLength(2);
      const second = await t.request('GET', `/v1/files/trash?limit=2&cursor=${first.body.data.next_cursor}`, { token: tenant.token });
      expect(second.body.data.results).toHaveLength(1);
      expect(second.body.data.next_cursor).toBeNull();
      expect([...first.body.data.results, ...second.body.data.results].map((f: any) => f.id).sort()).toEqual([...ids].sort());
      expect((await t.request('GET', '/v1/files/trash?cursor=nonsense', { token: tenant.token })).status).toBe(400);
      expect((await t.request('GET', '/v1/files/trash?limit=201', { token: tenant.token })).status).toBe(400);
    });

    it('versions: another tenant gets 404', async () => {
      const file = await uploadText(a, 'versions');
      expect((await t.request('GET', `/v1/files/${file.id}/versions`, { token: b.token })).status).toBe(404);
    });

    it('lists folders with counts and sizes', async () => {
      const tenant = await t.newTenant();
      await uploadText(tenant, 'aaaa', { fields: { folder: 'x' } });
      await uploadText(tenant, 'bb', { fields: { folder: 'x' } });
      await uploadText(tenant, 'c', { fields: { folder: 'x/y' } });
      await uploadText(tenant, 'root');
      const res = await t.request('GET', '/v1/files/folders', { token: tenant.token });
      expect(res.status).toBe(200);
      expect(res.body.data.map((f: any) => [f.folder, f.file_count, f.size_bytes])).toEqual([
        [null, 1, 4],
        ['x', 2, 6],
        ['x/y', 1, 1],
      ]);
      expect((await t.request('GET', '/v1/files/folders?limit=1001', { token: tenant.token })).status).toBe(400);
      const page = await t.request('GET', '/v1/files/folders?limit=1&offset=1', { token: tenant.token });
      expect(page.body.data.map((f: any) => f.folder)).toEqual(['x']);
      expect((await t.request('GET', '/v1/files/folders', { token: b.token })).body.data.map((f: any) => f.folder)).not.toContain('x/y');
    });
  });

  describe('batch operations', () => {
    it('reads, updates and deletes up to 100 files; other tenants\' ids are not found', async () => {
      const mine = [await uploadText(a, 'one'), await uploadText(a, 'two')];
      const theirs = await uploadText(b, 'theirs');
      const theirsBefore = await snapshot(theirs.id);
      const ids = [mine[1].id, theirs.id, mine[0].id];

      const read = await t.request('POST', '/v1/files/batch/read', { token: a.token, body: { file_ids: ids } });
      expect(read.status).toBe(200);
      expect(read.body.data.map((f: any) => f.id)).toEqual([mine[1].id, mine[0].id]);

      const update = await t.request('POST', '/v1/files/batch/update', { token: a.token, body: { file_ids: ids, access: 'public', folder: 'batch' } });
      expect(update.body.data).toEqual({ updated: 2, matched: 2, not_found: [theirs.id] });
      expect((await fileRow(mine[0].id))!).toMatchObject({ access: 'public', folder: 'batch' });
      expect((await eventsOf(a.tenantId, 'file.updated')).filter((e) => mine.some((m) => m.id === e.resourceId))).toHaveLength(2);

      const del = await t.request('POST', '/v1/files/batch/delete', { token: a.token, body: { file_ids: ids } });
      expect(del.body.data).toEqual({ deleted: [mine[0].id, mine[1].id].sort(), count: 2, not_found: [theirs.id] });
      expect((await fileRow(mine[0].id))!.deletedAt).not.toBeNull();
      expect(await snapshot(theirs.id)).toEqual(theirsBefore);

      const many = Array.from({ length: 101 }, (_, i) => `file_${i}`);
      for (const route of ['read', 'update', 'delete']) {
        const res = await t.request('POST', `/v1/files/batch/${route}`, { token: a.token, body: { file_ids: many } });
        expect(res.status, route).toBe(400);
        expect(res.body.error.details.issues[0].field).toBe('file_ids');
        expect((await t.request('POST', `/v1/files/batch/${route}`, { token: a.token, body: { file_ids: [] } })).status).toBe(400);
      }
      const hundred = await t.request('POST', '/v1/files/batch/read', { token: a.token, body: { file_ids: many.slice(0, 100) } });
      expect(hundred.status).toBe(200);
    });
  });

  describe('POST /v1/files/search and GET /v1/files/stats', () => {
    let tenant: Tenant;
    let made: Record<string, any>;
    beforeAll(async () => {
      tenant = await t.newTenant();
      made = {
        report: await uploadText(tenant, 'quarterly report text', { filename: 'Q1 Report.txt', fields: { folder: 'reports', tags: 'finance,q1', meta: '{"client":"acme"}' } }),
        sub: await uploadText(tenant, 'sub', { filename: 'sub.csv', type: 'text/csv', fields: { folder: 'reports/2026', tags: 'finance' } }),
        image: (await upload(t, tenant.token, await png(20, 20), { filename: 'logo.png', fields: { meta: '{"client":"globex"}' } })).body.data,
        odd: await uploadText(tenant, 'percent', { filename: '100%_done_.txt' }),
      };
    });
    const search = (body: Record<string, unknown>, token = tenant.token) => t.request('POST', '/v1/files/search', { token, body });
    const names = (res: any) => res.body.data.results.map((f: any) => f.filename);

    it('filters by name, type, folder, tags, meta, dates and size', async () => {
      expect(names(await search({ filename: 'report' }))).toEqual(['Q1 Report.txt']);
      expect(names(await search({ filename: '%' }))).toEqual(['100%_done_.txt']);
      expect(names(await search({ mime_category: 'image' }))).toEqual(['logo.png']);
      expect(names(await search({ mime_type: 'text/csv' }))).toEqual(['sub.csv']);
      expect(names(await search({ folder: 'reports' }))).toEqual(['Q1 Report.txt']);
      expect(names(await search({ folder: 'reports', include_subfolders: true })).sort()).toEqual(['Q1 Report.txt', 'sub.csv']);
      expect(names(await search({ folder: null })).sort()).toEqual(['100%_done_.txt', 'logo.png']);
      expect(names(await search({ tags: ['finance', 'q1'] }))).toEqual(['Q1 Report.txt']);
      expect(names(await search({ tags: ['finance'] })).sort()).toEqual(['Q1 Report.txt', 'sub.csv']);
      expect(names(await search({ meta: { client: 'globex' } }))).toEqual(['logo.png']);
      expect(names(await search({ object_id: 'none' }))).toEqual([]);
      expect((await search({ created_after: new Date(Date.now() + 60_000).toISOString() })).body.data.total).toBe(0);
      expect((await search({ created_before: new Date(Date.now() + 60_000).toISOString() })).body.data.total).toBe(4);
      expect(names(await search({ size_min: 10, size_max: 30 }))).toEqual(['Q1 Report.txt']);
      expect((await search({ status: 'pending' })).body.data.total).toBe(0);
      expect((await search({ access: 'public' })).body.data.total).toBe(0);
    });

    it('sorts and pages with a cursor (limit at most 200)', async () => {
      const first = await search({ sort: 'size_bytes', sort_dir: 'asc', limit: 2 });
      expect(first.body.data.total).toBe(4);
      expect(first.body.data.results.map((f: any) => f.size_bytes)).toEqual([3, 7]);
      const second = await search({ sort: 'size_bytes', sort_dir: 'asc', limit: 2, cursor: first.body.data.next_cursor });
      expect(second.body.data.results.map((f: any) => f.size_bytes)).toEqual([21, made.image.size_bytes].sort((x, y) => x - y));
      expect(second.body.data.next_cursor).toBeNull();
      // Name order follows the database's collation; pages must match one page of everything.
      const all = names(await search({ sort: 'filename', sort_dir: 'asc', limit: 10 }));
      const byName = await search({ sort: 'filename', sort_dir: 'asc', limit: 3 });
      const rest = await search({ sort: 'filename', sort_dir: 'asc', limit: 3, cursor: byName.body.data.next_cursor });
      expect([...names(byName), ...names(rest)]).toEqual(all);
      expect([...all].sort()).toEqual(['100%_done_.txt', 'Q1 Report.txt', 'logo.png', 'sub.csv']);
      const byDate = await search({ limit: 1 });
      expect(names(byDate)).toEqual(['100%_done_.txt']);

      expect((await search({ limit: 200 })).status).toBe(200);
      const tooMany = await search({ limit: 201 });
      expect(tooMany.status).toBe(400);
      expect(tooMany.body.error.details.issues[0].field).toBe('limit');
      expect((await search({ cursor: 'garbage' })).status).toBe(400);
      expect((await search({ sort: 'filename', cursor: first.body.data.next_cursor })).status).toBe(400);
      expect((await search({ created_after: 'yesterday' })).status).toBe(400);
    });

    it('never finds another tenant\'s files', async () => {
      const res = await search({ filename: 'Report' }, b.token);
      expect(res.body.data.results.map((f: any) => f.id)).not.toContain(made.report.id);
    });

    it('reports counts and bytes by type and folder, the trash and the quota', async () => {
      await t.request('DELETE', `/v1/files/${made.odd.id}`, { token: tenant.token });
      const res = await t.request('GET', '/v1/files/stats', { token: tenant.token });
      expect(res.status).toBe(200);
      const image = made.image.size_bytes;
      expect(res.body.data).toMatchObject({
        total_files: 3,
        total_bytes: 21 + 3 + image,
        trash_files: 1,
        trash_bytes: 7,
        previous_versions_bytes: 0,
        pending_uploads: 0,
        quota: { used_bytes: 21 + 3 + image + 7, limit_bytes: 1024 ** 3 },
      });
      expect(res.body.data.by_type).toEqual(
        expect.arrayContaining([
          { mime_category: 'text', file_count: 2, size_bytes: 24 },
          { mime_category: 'image', file_count: 1, size_bytes: image },
        ]),
      );
      expect(res.body.data.by_folder.map((f: any) => f.folder)).toEqual([null, 'reports', 'reports/2026']);
      const foreign = await t.request('GET', '/v1/files/stats', { token: b.token });
      expect(foreign.body.data.by_folder.map((f: any) => f.folder)).not.toContain('reports/2026');
    });
  });

  describe('GET /v1/files/{file_id}/variants/{variant}', () => {
    let image: any;
    beforeAll(async () => {
      image = (await upload(t, a.token, await png(800, 600), { filename: 'big photo.png' })).body.data;
    });

    it('makes a variant once, stores it, and serves it from the cache after', async () => {
      const first = await fetchBytes(t, `/v1/files/${image.id}/variants/thumbnail`, { token: a.token });
      expect(first.status).toBe(200);
      expect(first.headers.get('content-type')).toBe('image/webp');
      expect(first.headers.get('x-variant-cache')).toBe('miss');
      expect(first.headers.get('content-disposition')).toBe('inline; filename="big photo-thumbnail.webp"');
      const meta = await (await import('sharp')).default(first.bytes).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['webp', 200, 200]);

      const second = await fetchBytes(t, `/v1/files/${image.id}/variants/thumbnail`, { token: a.token });
      expect(second.headers.get('x-variant-cache')).toBe('hit');
      expect(second.bytes).toEqual(first.bytes);
      const rows = await t.db.system.select().from(fileVariants).where(eq(fileVariants.fileId, image.id));
      expect(rows).toHaveLength(1);
      expect(rows[0]!.storageKey.startsWith(`${a.tenantId}/variants/${image.id}/`)).toBe(true);
      expect(await stored(rows[0]!.storageKey)).toEqual(first.bytes);

      // Served like the file itself: ranges (206, and 416 for none of the bytes) and If-None-Match (304), as documented.
      const range = await fetchBytes(t, `/v1/files/${image.id}/variants/thumbnail`, { token: a.token, headers: { range: 'bytes=0-9' } });
      expect([range.status, range.bytes.length]).toEqual([206, 10]);
      const none = await fetchBytes(t, `/v1/files/${image.id}/variants/thumbnail`, { token: a.token, headers: { range: 'bytes=-0' } });
      expect(none.status).toBe(416);
      expect(none.json.error.code).toBe('RANGE_NOT_SATISFIABLE');
      const unchanged = await fetchBytes(t, `/v1/files/${image.id}/variants/thumbnail`, { token: a.token, headers: { 'if-none-match': first.headers.get('etag')! } });
      expect(unchanged.status).toBe(304);

      const parallel = await Promise.all([1, 2, 3].map(() => fetchBytes(t, `/v1/files/${image.id}/variants/small`, { token: a.token })));
      expect(parallel.every((r) => r.status === 200)).toBe(true);
      expect(await t.db.system.select().from(fileVariants).where(eq(fileVariants.fileId, image.id))).toHaveLength(2);
    });

    it('sizes keep the aspect ratio, never enlarge, and take w, h, fit and format', async () => {
      const sharp = (await import('sharp')).default;
      const small = await fetchBytes(t, `/v1/files/${image.id}/variants/small`, { token: a.token });
      expect(await sharp(small.bytes).metadata()).toMatchObject({ format: 'png', width: 480, height: 360 });
      const large = await fetchBytes(t, `/v1/files/${image.id}/variants/large`, { token: a.token });
      expect(await sharp(large.bytes).metadata()).toMatchObject({ width: 800, height: 600 });
      const custom = await fetchBytes(t, `/v1/files/${image.id}/variants/custom?w=100&h=100&fit=contain&format=jpeg`, { token: a.token });
      expect(custom.headers.get('content-type')).toBe('image/jpeg');
      expect(await sharp(custom.bytes).metadata()).toMatchObject({ format: 'jpeg', width: 100, height: 100 });
      const avif = await fetchBytes(t, `/v1/files/${image.id}/variants/original?format=avif`, { token: a.token });
      expect(avif.headers.get('content-type')).toBe('image/avif');
      expect(await sharp(avif.bytes).metadata()).toMatchObject({ width: 800, height: 600 });
    });

    it('answers bad variants with 400, non-images with 415 and broken images with 422', async () => {
      const tooWide = await fetchBytes(t, `/v1/files/${image.id}/variants/custom?w=4097`, { token: a.token });
      expect(tooWide.status).toBe(400);
      expect(tooWide.json.error.details.issues[0].field).toBe('w');
      expect((await fetchBytes(t, `/v1/files/${image.id}/variants/custom?w=4096`, { token: a.token })).status).toBe(200);
      expect((await fetchBytes(t, `/v1/files/${image.id}/variants/custom`, { token: a.token })).status).toBe(400);
      const unknown = await fetchBytes(t, `/v1/files/${image.id}/variants/huge`, { token: a.token });
      expect(unknown.status).toBe(400);
      expect(unknown.json.error.details.issues[0].field).toBe('variant');
      expect((await fetchBytes(t, `/v1/files/${image.id}/variants/small?format=bmp`, { token: a.token })).status).toBe(400);

      const text = await uploadText(a, 'not an image');
      const notImage = await fetchBytes(t, `/v1/files/${text.id}/variants/small`, { token: a.token });
      expect(notImage.status).toBe(415);
      expect(notImage.json.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');

      const valid = await png(10, 10);
      const broken = (await upload(t, a.token, Buffer.concat([valid.subarray(0, 40), Buffer.alloc(60, 1)]), { filename: 'broken.png' })).body.data;
      expect(broken.mime_type).toBe('image/png');
      const res = await fetchBytes(t, `/v1/files/${broken.id}/variants/small`, { token: a.token });
      expect(res.status).toBe(422);
      expect(res.json.error.code).toBe('UNPROCESSABLE');
    });

    it('a new version drops the old variants', async () => {
      const file = (await upload(t, a.token, await png(300, 300), { filename: 'v.png' })).body.data;
      await fetchBytes(t, `/v1/files/${file.id}/variants/thumbnail`, { token: a.token });
      const [old] = await t.db.system.select().from(fileVariants).where(eq(fileVariants.fileId, file.id));
      await upload(t, a.token, await png(300, 300, { r: 0, g: 255, b: 0 }), { filename: 'v.png', fields: { file_id: file.id } });
      expect(await t.db.system.select().from(fileVariants).where(eq(fileVariants.fileId, file.id))).toEqual([]);
      expect(await t.kernel.storage.stat(old!.storageKey)).toBeNull();
      const fresh = await fetchBytes(t, `/v1/files/${file.id}/variants/thumbnail`, { token: a.token });
      expect(fresh.headers.get('x-variant-cache')).toBe('miss');
    });

    it('shows another tenant nothing', async () => {
      const res = await fetchBytes(t, `/v1/files/${image.id}/variants/thumbnail`, { token: b.token });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toContain('application/json');
    });
  });

  describe('access to every files route', () => {
    const routes = (id: string): [string, string, unknown?][] => [
      ['POST', '/v1/files/batch/delete', { file_ids: [id] }],
      ['POST', '/v1/files/batch/read', { file_ids: [id] }],
      ['POST', '/v1/files/batch/update', { file_ids: [id], folder: 'x' }],
      ['POST', `/v1/files/${id}/upload-complete`, {}],
      ['POST', `/v1/files/${id}/signed-url`, { expires_in: 60 }],
      ['GET', `/v1/files/${id}`],
      ['PATCH', `/v1/files/${id}`, { filename: 'x' }],
      ['DELETE', `/v1/files/${id}`],
      ['GET', `/v1/files/${id}/variants/thumbnail`],
      ['GET', '/v1/files/stats'],
      ['POST', '/v1/files/upload-url', { filename: 'x', size_bytes: 1 }],
      ['GET', '/v1/files/trash'],
      ['GET', `/v1/files/${id}/versions`],
      ['GET', '/v1/files/folders'],
      ['POST', `/v1/files/${id}/restore`],
      ['POST', '/v1/files/search', {}],
      ['POST', `/v1/files/${id}/stale-cleanup`],
      ['POST', '/v1/files/upload', 'x'],
      ['POST', `/v1/files/${id}/upload-put`, 'x'],
    ];

    it('needs credentials (401) and the files scope (403) on every route, and changes nothing without them', async () => {
      const file = await uploadText(a, 'guarded', { fields: { folder: 'guarded' } });
      const before = await snapshot(file.id);
      const noFiles = await t.newKey(a.token, { scopes: ['read', 'write', 'schema', 'auth', 'ai'] });
      for (const [method, p, body] of routes(file.id)) {
        const headers = typeof body === 'string' ? { 'content-type': 'application/octet-stream' } : undefined;
        const anonymous = await t.request(method, p, { body, headers });
        expect(anonymous.status, `${method} ${p} anonymous`).toBe(401);
        const scoped = await t.request(method, p, { token: noFiles.token, body, headers });
        expect(scoped.status, `${method} ${p} without files scope`).toBe(403);
        expect(scoped.body.error.code).toBe('INSUFFICIENT_SCOPE');
      }
      expect((await fetchBytes(t, `/v1/files/${file.id}/content`)).status).toBe(401);
      expect((await fetchBytes(t, `/v1/files/${file.id}/content`, { token: noFiles.token })).status).toBe(403);
      expect(await snapshot(file.id)).toEqual(before);
    });
  });

  describe('events and audit', () => {
    it('declares every file event in the catalog with folder in the payload', () => {
      const types = EVENT_CATALOG.filter((e) => e.resource_type === 'file').map((e) => e.type);
      expect(types.sort()).toEqual(['file.deleted', 'file.restored', 'file.updated', 'file.uploaded']);
      for (const type of EVENT_CATALOG.filter((e) => e.resource_type === 'file')) {
        expect(Object.keys((type.payload as any).shape)).toContain('folder');
      }
    });

    it('every emitted file event matches its declared payload', async () => {
      const emitted = await t.db.system.select().from(events).where(eq(events.resourceType, 'file'));
      expect(emitted.length).toBeGreaterThan(10);
      for (const event of emitted) {
        const declared = EVENT_CATALOG.find((e) => e.type === event.type);
        expect(declared, event.type).toBeDefined();
        expect(declared!.payload.safeParse(event.data).success, `${event.type} ${JSON.stringify(event.data)}`).toBe(true);
      }
    });

    it('audits uploads once per request', async () => {
      const file = await uploadText(a, 'audited');
      const entries = await t.db.system.select().from(auditLogs).where(and(eq(auditLogs.tenantId, a.tenantId), eq(auditLogs.resourceId, file.id)));
      expect(entries.map((e) => e.action)).toEqual(['file.uploaded']);
    });
  });

  describe('OpenAPI', () => {
    it('documents every files route of the seed', async () => {
      const spec = (await t.request('GET', '/docs/openapi.json')).body;
      const routes = [
        'post /v1/files/batch/delete',
        'post /v1/files/batch/read',
        'post /v1/files/batch/update',
        'post /v1/files/{file_id}/upload-complete',
        'post /v1/files/{file_id}/signed-url',
        'get /v1/files/{file_id}',
        'patch /v1/files/{file_id}',
        'delete /v1/files/{file_id}',
        'get /v1/files/{file_id}/content',
        'get /v1/files/{file_id}/variants/{variant}',
        'get /v1/files/stats',
        'post /v1/files/upload-url',
        'get /v1/files/trash',
        'get /v1/files/{file_id}/versions',
        'get /v1/files/folders',
        'post /v1/files/{file_id}/restore',
        'post /v1/files/search',
        'post /v1/files/{file_id}/stale-cleanup',
        'post /v1/files/upload',
        'post /v1/files/{file_id}/upload-put',
      ];
      for (const route of routes) {
        const [method, p] = route.split(' ') as [string, string];
        expect(spec.paths[p]?.[method], route).toBeDefined();
      }
      expect(spec.paths['/v1/files/upload'].post.requestBody.content['multipart/form-data'].schema.properties.file.format).toBe('binary');
      expect(spec.paths['/v1/files/{file_id}/content'].get.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(['token', 'expires', 't']));
    });
  });
}
