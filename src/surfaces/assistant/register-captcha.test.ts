import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';

/** A stand-in for Cloudflare's siteverify: accepts GOOD under SECRET, records every form it gets. */
const SECRET = '0x4AAAAAAAregister-secret';
const GOOD = 'good-turnstile-response';
let received: URLSearchParams[] = [];
let down = false;
let verifier: Server;
let t: TestPlatform;

// Four registrations from the test's one address: under the limit of five per hour.
const register = (body: Record<string, unknown>) => t.request('POST', '/api/v1/register', { headers: { host: 'assistant.localhost' }, body });

beforeAll(async () => {
  verifier = createServer((req, res) => {
    if (down) return void req.socket.destroy();
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      received.push(form);
      const errors = form.get('secret') !== SECRET ? ['invalid-input-secret'] : form.get('response') !== GOOD ? ['invalid-input-response'] : [];
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(errors.length ? { success: false, 'error-codes': errors } : { success: true }));
    });
  });
  await new Promise<void>((resolve) => verifier.listen(0, '127.0.0.1', resolve));
  const { port } = verifier.address() as AddressInfo;
  t = await testPlatform({ TURNSTILE_VERIFY_URL: `http://127.0.0.1:${port}/siteverify`, REGISTER_TURNSTILE_SECRET_KEY: SECRET });
});
afterAll(async () => {
  await t?.close();
  await new Promise((resolve) => verifier?.close(resolve));
});

describe('assistant registration with captcha configured', () => {
  it('refuses a registration without a token, naming the field, and creates no tenant', async () => {
    const res = await register({ name: 'No Token Co' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ success: false, error: { code: 'VALIDATION_ERROR', message: expect.stringContaining('captchaToken') } });
    expect(received).toHaveLength(0);
  });

  it('refuses a token the verifier rejects', async () => {
    const res = await register({ name: 'Bad Token Co', captchaToken: 'forged' });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/captchaToken: verification failed \(invalid-input-response\)/);
  });

  it('registers with a token the verifier accepts, sending it the secret and the address', async () => {
    received = [];
    const res = await register({ name: 'Good Token Co', captchaToken: GOOD });
    expect(res.status).toBe(201);
    expect(res.body.data.apiKey).toMatch(/^sk_/);
    expect(received).toHaveLength(1);
    expect(received[0]!.get('secret')).toBe(SECRET);
    expect(received[0]!.get('remoteip')).toBe('127.0.0.1');
    const own = await t.request('GET', '/api/v1/tenants', { headers: { host: 'assistant.localhost', 'x-api-key': res.body.data.apiKey } });
    expect(own.body.data).toMatchObject({ id: res.body.data.tenantId, name: 'Good Token Co' });
  });

  it('fails closed with 503 and Retry-After while the verifier is unreachable', async () => {
    down = true;
    try {
      const res = await register({ name: 'Outage Co', captchaToken: GOOD });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.body.success).toBe(false);
    } finally {
      down = false;
    }
  });

  it('guards the agent service\'s tenant-creating sign-up the same way', async () => {
    const signup = (extra: Record<string, unknown>) =>
      t.request('POST', '/api/v1/auth/register', { body: { email: `owner-${Math.random().toString(36).slice(2)}@example.com`, password: 'a long enough password 1!', tenant_name: 'Signup Co', ...extra } });
    const refused = await signup({});
    expect(refused.status).toBe(422);
    expect(refused.body.detail[0].loc).toEqual(['body', 'captcha_token']);
    const made = await signup({ captcha_token: GOOD });
    expect(made.status, made.text).toBeLessThan(300);
    expect(made.body.tenant_id).toMatch(/^tn_/);
  });
});
