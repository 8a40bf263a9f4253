import { and, eq, inArray } from 'drizzle-orm';
import { EVENT_CATALOG } from '../../src/app.js';
import { events } from '../../src/core/events/tables.js';
import { newUser } from './identity.js';
/** Creates a type and its properties; answers the ids. */
export async function defineType(t, token, name, props = {}) {
    const created = await t.request('POST', '/v1/object-types', { token, body: { name } });
    if (created.status !== 201)
        throw new Error(`type creation failed: ${created.status} ${created.text}`);
    const ids = {};
    for (const [prop, spec] of Object.entries(props)) {
        const res = await t.request('POST', `/v1/object-types/${name}/properties`, { token, body: { name: prop, ...spec } });
        if (res.status !== 201)
            throw new Error(`property ${prop} failed: ${res.status} ${res.text}`);
        ids[prop] = res.body.data.id;
    }
    return { typeId: created.body.data.id, props: ids };
}
export async function createObject(t, token, type, properties) {
    const res = await t.request('POST', `/v1/objects/${type}`, { token, body: { properties } });
    if (res.status !== 201)
        throw new Error(`object creation failed: ${res.status} ${res.text}`);
    return res.body.data;
}
const BUILTIN_ROLES = new Set(['admin', 'member', 'viewer']);
/**
 * A signed-in user of the tenant behind `tenantToken` holding `role`, through identity's real routes:
 * a custom role is created first (POST /v1/roles) with `permissions` (kernel scopes by default).
 */
export async function roleUser(t, tenantToken, role, permissions = ['read', 'write']) {
    if (!BUILTIN_ROLES.has(role)) {
        const res = await t.request('POST', '/v1/roles', { token: tenantToken, body: { name: role, permissions } });
        if (res.status !== 201 && res.status !== 409)
            throw new Error(`role ${role} failed: ${res.status} ${res.text}`);
    }
    const user = await newUser(t, tenantToken, { role });
    return { token: user.accessToken, id: user.userId };
}
export function eventsOf(t, tenantId, type) {
    return t.db.system.select().from(events).where(and(eq(events.tenantId, tenantId), eq(events.type, type)));
}
/** Polls until `done` holds (background jobs); fails after `tries` polls rather than hang. */
export async function pollUntil(fetch, done, tries = 300, everyMs = 100) {
    let last;
    for (let i = 0; i < tries; i++) {
        last = await fetch();
        if (done(last))
            return last;
        await new Promise((r) => setTimeout(r, everyMs));
    }
    throw new Error(`condition not reached; last value: ${JSON.stringify(last)}`);
}
/**
 * Every event the tenants emitted is in the catalog (GET /events/types) and its data has the shape
 * the catalog declares.
 */
export async function uncatalogedEvents(t, tenantIds) {
    const rows = await t.db.system.select().from(events).where(inArray(events.tenantId, tenantIds));
    const problems = [];
    for (const row of rows) {
        const entry = EVENT_CATALOG.find((e) => e.type === row.type);
        if (!entry)
            problems.push(`${row.type}: not in the catalog`);
        else {
            const parsed = entry.payload.safeParse(row.data);
            if (!parsed.success)
                problems.push(`${row.type}: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
        }
    }
    return { count: rows.length, problems: [...new Set(problems)] };
}
//# sourceMappingURL=objects.js.map