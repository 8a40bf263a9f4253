import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser } from '../../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { FakeClock } from '../../../core/clock.ts';
import { refreshTokens, sessions } from '../tables.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
const clock = new FakeClock();

beforeAll(async () => {
  t = await testPlatform({}, { clock });
  tenant = await t.newTenant();
});
afterAll(() => t?.close());

const refresh = (refresh_token: string) => t.request('POST', '/v1/auth/refresh', { body: { refresh_token } });
const me = (token: string) => t.request('GET', '/v1/auth/user', { token });
const revokedReason = async (id: string) => (await t.db.system.select().from(sessions).where(eq(sessions.id, id)))[0]!.revokedReason;

describe('refresh-token reuse interval', () => {
  it('defaults to 10 seconds, bounded 0..60', async () => {
    const res = await t.request('GET', '/v1/auth-config', { token: tenant.token });
    expect(res.body.data.refresh_token_reuse_interval).toBe(10);
    for (const bad of [-1, 61, 1.5]) {
      expect((await t.request('POST', '/v1/auth-config', { token: tenant.token, body: { refresh_token_reuse_interval: bad } })).status).toBe(400);
    }
  });

  it('a reuse within the interval answers with the same successor token and keeps the session', async () => {
    const user = await newUser(t, tenant.token);
    const first = await refresh(user.refreshToken);
    expect(first.status).toBe(200);
    clock.advance(5_000);
    const again = await refresh(user.refreshToken);
    expect(again.status).toBe(200);
    // One chain, not a fork: both callers now hold the one live token.
    expect(again.body.data.refresh_token).toBe(first.body.data.refresh_token);
    expect(again.body.data.session_id).toBe(user.sessionId);
    expect((await me(again.body.data.access_token)).status).toBe(200);
    expect(await revokedReason(user.sessionId)).toBeNull();
    // The successor rotates normally afterwards.
    const next = await refresh(first.body.data.refresh_token);
    expect(next.status).toBe(200);
    expect(next.body.data.refresh_token).not.toBe(first.body.data.refresh_token);
    // The successor is never stored in clear.
    const rows = await t.db.system.select().from(refreshTokens).where(eq(refreshTokens.sessionId, user.sessionId));
    expect(JSON.stringify(rows)).not.toContain(first.body.data.refresh_token);
  });

  it('two refreshes at once both succeed with the one successor', async () => {
    const user = await newUser(t, tenant.token);
    const [a, b] = await Promise.all([refresh(user.refreshToken), refresh(user.refreshToken)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body.data.refresh_token).toBe(b.body.data.refresh_token);
    expect(await revokedReason(user.sessionId)).toBeNull();
  });

  it('a reuse after the interval revokes the session family', async () => {
    const user = await newUser(t, tenant.token);
    const first = await refresh(user.refreshToken);
    expect(first.status).toBe(200);
    clock.advance(11_000);
    const late = await refresh(user.refreshToken);
    expect(late.status).toBe(401);
    expect(late.body.error.message).toMatch(/already used/);
    expect((await refresh(first.body.data.refresh_token)).status).toBe(401);
    expect((await me(first.body.data.access_token)).status).toBe(401);
    expect(await revokedReason(user.sessionId)).toBe('refresh_token_reuse');
  });

  it('a token two rotations back is theft even within the interval', async () => {
    const user = await newUser(t, tenant.token);
    const first = await refresh(user.refreshToken);
    const second = await refresh(first.body.data.refresh_token);
    expect(second.status).toBe(200);
    const stale = await refresh(user.refreshToken);
    expect(stale.status).toBe(401);
    expect((await refresh(second.body.data.refresh_token)).status).toBe(401);
    expect(await revokedReason(user.sessionId)).toBe('refresh_token_reuse');
  });

  it('an interval of 0 turns the grace off', async () => {
    const other = await t.newTenant();
    expect((await t.request('POST', '/v1/auth-config', { token: other.token, body: { refresh_token_reuse_interval: 0 } })).status).toBe(200);
    const user = await newUser(t, other.token);
    expect((await refresh(user.refreshToken)).status).toBe(200);
    expect((await refresh(user.refreshToken)).status).toBe(401);
    expect(await revokedReason(user.sessionId)).toBe('refresh_token_reuse');
  });

  it('no grace on a session ended meanwhile', async () => {
    const user = await newUser(t, tenant.token);
    const first = await refresh(user.refreshToken);
    expect((await t.request('POST', '/v1/auth/logout', { token: first.body.data.access_token })).status).toBe(200);
    expect((await refresh(user.refreshToken)).status).toBe(401);
  });
});
