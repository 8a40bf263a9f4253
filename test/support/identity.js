import { randomBytes } from 'node:crypto';
/**
 * Users with access tokens for any test, through the real HTTP routes: an admin key creates the user
 * (POST /v1/users), the tenant's publishable key signs them in (POST /v1/auth/login).
 */
const publishable = new WeakMap();
/** The tenant's publishable key (`pk_...`, scope `auth`), made once per tenant admin token. */
export async function publishableKey(t, tenantToken) {
    let byTenant = publishable.get(t);
    if (!byTenant)
        publishable.set(t, (byTenant = new Map()));
    let key = byTenant.get(tenantToken);
    if (!key) {
        key = (await t.newKey(tenantToken, { label: 'publishable', scopes: ['auth'] })).token;
        byTenant.set(tenantToken, key);
    }
    return key;
}
export const testPassword = () => `Pw-${randomBytes(9).toString('base64url')}`;
export const testEmail = (label = 'user') => `${label}-${randomBytes(5).toString('hex')}@example.com`;
/** A verified user of the tenant behind `tenantToken`, signed in. */
export async function newUser(t, tenantToken, input = {}) {
    const email = input.email ?? testEmail();
    const password = input.password ?? testPassword();
    const created = await t.request('POST', '/v1/users', {
        token: tenantToken,
        body: { email, password, email_verified: true, ...(input.role ? { role: input.role } : {}), ...(input.user_metadata ? { user_metadata: input.user_metadata } : {}) },
    });
    if (created.status !== 201)
        throw new Error(`user creation failed: ${created.status} ${created.text}`);
    const session = await login(t, tenantToken, email, password, input.ip);
    return { userId: created.body.data.id, email, password, ...session };
}
/** Signs an existing user in; fails on an MFA challenge (use the MFA routes for those users). */
export async function login(t, tenantToken, email, password, ip) {
    const pk = await publishableKey(t, tenantToken);
    const res = await t.request('POST', '/v1/auth/login', { token: pk, body: { email, password }, ip });
    if (res.status !== 200 || !res.body.data.access_token)
        throw new Error(`login failed: ${res.status} ${res.text}`);
    return { accessToken: res.body.data.access_token, refreshToken: res.body.data.refresh_token, sessionId: res.body.data.session_id, pk };
}
//# sourceMappingURL=identity.js.map