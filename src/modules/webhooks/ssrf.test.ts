import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockedReason, checkOutboundUrl, OutboundBlockedError } from '../../core/net/outbound.ts';
import { startReceiver, waitFor, type Receiver } from '../../../test/support/events.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { webhookDeliveries, webhooks } from './tables.ts';

// The table of hostile URLs, run against every URL field of the API, is test/outbound.test.ts; this
// file covers what is particular to webhooks: the reasons given, and sending (rebinding, redirects).

let t: TestPlatform;
let loose: TestPlatform;
let tenant: { tenantId: string; token: string };
let receiver: Receiver;

beforeAll(async () => {
  t = await testPlatform();
  // The old name of OUTBOUND_ALLOW_LOOPBACK keeps working: this platform reaches the loopback receiver through it.
  loose = await testPlatform({ WEBHOOK_ALLOW_LOOPBACK: 'true', EVENTS_POLL_MS: '100', WEBHOOK_TICK_MS: '200' });
  tenant = await t.newTenant();
  receiver = await startReceiver();
});
afterAll(async () => {
  await t?.close();
  await loose?.close();
  await receiver?.close();
});

describe('webhook URLs', () => {
  it('says why', async () => {
    const messages = async (url: string) => (await t.request('POST', '/v1/webhooks', { token: tenant.token, body: { url } })).body.error.message;
    expect(await messages('http://2130706433/')).toContain('127.0.0.1 is a loopback address');
    expect(await messages('http://169.254.169.254/')).toContain('cloud metadata');
    expect(await messages('http://10.1.2.3/')).toContain('private');
    expect(await messages('http://localhost/')).toContain('localhost is a loopback name');
    expect(await messages('http://app.localhost:3000/')).toContain('app.localhost is a loopback name');
    // A developer is told how to allow loopback (and only loopback) in development.
    expect(await messages('http://127.0.0.1:8080/')).toBe('url: 127.0.0.1 is a loopback address; to allow loopback in development, set OUTBOUND_ALLOW_LOOPBACK=true');
    expect(await messages('http://localhost/')).toContain('set OUTBOUND_ALLOW_LOOPBACK=true');
    expect(await messages('http://10.1.2.3/')).not.toContain('OUTBOUND_ALLOW_LOOPBACK');
    expect(await messages('ftp://example.com/')).toContain('ftp:');
  });

  it('refuses a name that resolves to a refused address, even when it also resolves to a public one', async () => {
    t.kernel.outbound.resolve = async (host) => {
      if (host === 'rebind.test') return [{ address: '127.0.0.1', family: 4 }];
      if (host === 'mixed.test') return [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.5', family: 4 }];
      if (host === 'internal.test') return [{ address: 'fd12::1', family: 6 }];
      if (host === 'fine.test') return [{ address: '93.184.216.34', family: 4 }];
      throw new Error('ENOTFOUND');
    };
    try {
      for (const url of ['http://rebind.test/', 'https://mixed.test/hook', 'http://internal.test:8443/']) {
        const res = await t.request('POST', '/v1/webhooks', { token: tenant.token, body: { url } });
        expect(res.status, url).toBe(400);
        expect(res.body.error.message, url).toMatch(/resolves to/);
      }
      const unknown = await t.request('POST', '/v1/webhooks', { token: tenant.token, body: { url: 'https://nowhere.test/' } });
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.message).toContain('does not resolve');
      // A public address is fine.
      const ok = await t.request('POST', '/v1/webhooks', { token: tenant.token, body: { url: 'https://fine.test/hook' } });
      expect(ok.status).toBe(201);
      // Updating to a hostile URL is refused too, and changes nothing.
      const patched = await t.request('PATCH', `/v1/webhooks/${ok.body.data.id}`, { token: tenant.token, body: { url: 'http://rebind.test/' } });
      expect(patched.status).toBe(400);
      const [row] = await t.db.system.select().from(webhooks).where(eq(webhooks.id, ok.body.data.id));
      expect(row!.url).toBe('https://fine.test/hook');
    } finally {
      t.kernel.outbound.resolve = undefined;
    }
  });

  it('judges addresses by range, with loopback opted in only by OUTBOUND_ALLOW_LOOPBACK', () => {
    const strict = { allowLoopback: false };
    const dev = { allowLoopback: true };
    expect(blockedReason('93.184.216.34', strict)).toBeNull();
    expect(blockedReason('2606:2800:220:1:248:1893:25c8:1946', strict)).toBeNull();
    expect(blockedReason('127.0.0.1', strict)).toBe('a loopback address');
    expect(blockedReason('127.0.0.1', dev)).toBeNull();
    expect(blockedReason('::1', dev)).toBeNull();
    for (const address of ['10.0.0.1', '0.0.0.0', '169.254.169.254', '192.168.0.1', 'fe80::1', '224.0.0.1']) {
      expect(blockedReason(address, dev), address).not.toBeNull();
    }
  });
});

describe('at send time', () => {
  it('connects to the address that was checked, resolving the name once', async () => {
    const owner = await loose.newTenant();
    let lookups = 0;
    loose.kernel.outbound.resolve = async (host) => {
      lookups += 1;
      if (host === 'receiver.test') return [{ address: '127.0.0.1', family: 4 }];
      throw new Error('ENOTFOUND');
    };
    const url = `http://receiver.test:${receiver.port}/hook`;
    const created = await loose.request('POST', '/v1/webhooks', { token: owner.token, body: { url } });
    expect(created.status).toBe(201);
    lookups = 0;
    const test = await loose.request('POST', `/v1/webhooks/${created.body.data.id}/test`, { token: owner.token });
    expect(test.status).toBe(200);
    expect(test.body.data).toMatchObject({ status_code: 200, success: true });
    expect(lookups).toBe(1);
    // The name was never resolved by the system: the connection went to the checked address.
    expect(receiver.requests.at(-1)!.headers.host).toBe(`receiver.test:${receiver.port}`);
  });

  it('refuses to send when the name resolves to a refused address by then (DNS rebinding)', async () => {
    const owner = await loose.newTenant();
    let answer = '93.184.216.34';
    loose.kernel.outbound.resolve = async () => [{ address: answer, family: 4 }];
    const created = await loose.request('POST', '/v1/webhooks', { token: owner.token, body: { url: 'http://flip.test/hook', events: ['probe.*'] } });
    expect(created.status).toBe(201);
    answer = '10.0.0.7';
    const before = receiver.requests.length;
    const res = await loose.request('POST', '/v1/events', { token: owner.token, body: { event_type: 'probe.sent' } });
    expect(res.status).toBe(200);
    const [attempt] = await waitFor(async () => {
      const rows = await loose.db.system.select().from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, created.body.data.id));
      return rows.length ? rows : null;
    }, 'a refused attempt');
    expect(attempt).toMatchObject({ status: 'failed', responseCode: null });
    // The name's answer is not repeated: that would map the operator's internal DNS for any tenant.
    expect(attempt!.error).toBe('Refused to send: flip.test resolves to a private address');
    expect(receiver.requests.length).toBe(before);
  });

  it('still refuses private addresses with loopback allowed', async () => {
    const owner = await loose.newTenant();
    for (const url of ['http://10.0.0.1/', 'http://0.0.0.0/', 'http://169.254.169.254/', 'http://[fd00::1]/']) {
      const res = await loose.request('POST', '/v1/webhooks', { token: owner.token, body: { url } });
      expect(res.status, url).toBe(400);
    }
  });

  it('does not follow a redirect to the metadata service', async () => {
    const owner = await loose.newTenant();
    loose.kernel.outbound.resolve = undefined;
    const trap = await startReceiver('/trap');
    trap.reply = () => ({ status: 302, headers: { location: 'http://169.254.169.254/latest/meta-data/iam' } });
    try {
      const created = await loose.request('POST', '/v1/webhooks', { token: owner.token, body: { url: trap.url } });
      const res = await loose.request('POST', `/v1/webhooks/${created.body.data.id}/test`, { token: owner.token });
      expect(res.body.data).toMatchObject({ status_code: 302, success: false });
      expect(res.body.data.error).toContain('redirects are not followed');
      expect(trap.requests).toHaveLength(1);
    } finally {
      await trap.close();
    }
  });

  it('checks IP literals and names the same way outside webhooks', async () => {
    await expect(checkOutboundUrl('http://[::ffff:10.0.0.1]/', { allowLoopback: true })).rejects.toBeInstanceOf(OutboundBlockedError);
    await expect(checkOutboundUrl('http//not-a-url', { allowLoopback: false })).rejects.toThrow('not a valid URL');
    const ok = await checkOutboundUrl('https://93.184.216.34/path', { allowLoopback: false });
    expect(ok.addresses).toEqual([{ address: '93.184.216.34', family: 4 }]);
  });
});
