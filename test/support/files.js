import { createHash } from 'node:crypto';
import sharp from 'sharp';
export const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
export const PNG_HEADER = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** A real PNG of the given size (sharp), for type detection and variants. */
export function png(width = 64, height = 48, color = { r: 200, g: 30, b: 30 }) {
    return sharp({ create: { width, height, channels: 3, background: color } }).png().toBuffer();
}
export function jpeg(width = 64, height = 48) {
    return sharp({ create: { width, height, channels: 3, background: { r: 10, g: 120, b: 240 } } }).jpeg().toBuffer();
}
/** POST /v1/files/upload with a multipart body built by FormData. */
export function upload(t, token, bytes, options = {}) {
    const form = new FormData();
    for (const [name, value] of Object.entries(options.fields ?? {}))
        form.append(name, value);
    const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    form.append('file', new Blob([data], { type: options.type ?? 'application/octet-stream' }), options.filename ?? 'file.bin');
    return t.request('POST', '/v1/files/upload', { token, body: form, headers: options.headers });
}
/** A request whose answer is read as bytes (downloads, variants). */
export async function fetchBytes(t, path, options = {}) {
    const headers = { ...options.headers };
    if (options.token)
        headers.authorization = `Bearer ${options.token}`;
    const env = { incoming: { socket: { remoteAddress: '127.0.0.1', remotePort: 40000 } } };
    const res = await t.app.request(path, { method: options.method ?? 'GET', headers }, env);
    const bytes = Buffer.from(await res.arrayBuffer());
    let json;
    try {
        json = JSON.parse(bytes.toString('utf8'));
    }
    catch {
        json = undefined;
    }
    return { status: res.status, headers: res.headers, bytes, json };
}
/** Follows a URL this server or the S3 server issued: in-process for our own paths, over HTTP otherwise. */
export async function fetchUrl(t, url, init = {}) {
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
function safeJson(bytes) {
    try {
        return JSON.parse(bytes.toString('utf8'));
    }
    catch {
        return undefined;
    }
}
/** Changes one character of `value` at `index` to another character of the same kind. */
export function changeOneChar(value, index) {
    const c = value[index];
    const replacement = /[0-9]/.test(c) ? String((Number(c) + 1) % 10) : c === 'a' ? 'b' : c === 'A' ? 'B' : /[a-z]/.test(c) ? 'a' : /[A-Z]/.test(c) ? 'A' : 'x';
    return value.slice(0, index) + replacement + value.slice(index + 1);
}
//# sourceMappingURL=files.js.map