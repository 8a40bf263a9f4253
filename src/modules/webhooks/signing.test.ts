import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateSecret, signatureHeader } from './signing.ts';

describe('webhook signatures', () => {
  it('are what the standardwebhooks library signs and verifies, for both secrets during a rotation', () => {
    for (let i = 0; i < 50; i++) {
      const secret = generateSecret();
      const previous = `whsec_${randomBytes(24 + i).toString('base64')}`;
      const id = `msg_${randomBytes(8).toString('hex')}`;
      const at = new Date(Date.now() - i * 1000);
      const body = JSON.stringify({ i, text: 'é ✓ '.repeat(i), nested: { n: i } });
      const header = signatureHeader({ secret, previousSecret: previous, previousSecretExpiresAt: new Date(Date.now() + 60_000) }, id, at, body, Date.now());
      expect(header).toBe(`${new Webhook(secret).sign(id, at, body)} ${new Webhook(previous).sign(id, at, body)}`);
      const headers = { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': header };
      expect(new Webhook(previous).verify(body, headers)).toEqual(JSON.parse(body));
    }
  });

  it('leave out an expired previous secret', () => {
    const secret = generateSecret();
    const at = new Date();
    const header = signatureHeader({ secret, previousSecret: generateSecret(), previousSecretExpiresAt: new Date(Date.now() - 1) }, 'msg_1', at, '{}', Date.now());
    expect(header).toBe(new Webhook(secret).sign('msg_1', at, '{}'));
  });
});
