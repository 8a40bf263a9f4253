import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimOf } from '../src/surfaces/surface.ts';
import { testPlatform, type TestPlatform } from './support/platform.ts';

let t: TestPlatform;

beforeAll(async () => {
  t = await testPlatform();
});
afterAll(() => t?.close());

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const documented = (spec: any) =>
  new Set(Object.entries<any>(spec.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ':$1')}`)));

describe('contract surfaces', () => {
  it('lists every surface with its seed, host, base paths and document', async () => {
    const res = await t.request('GET', '/docs/surfaces');
    expect(res.status).toBe(200);
    expect(res.body.data.map((s: any) => s.name)).toEqual(t.surfaces.map((s) => s.descriptor.name));
    for (const s of res.body.data) {
      expect(s).toMatchObject({ host: `${s.name}.localhost` });
      expect(s.seed).toMatch(/^00[0-3]$/);
    }
    const fieldService = res.body.data.find((s: any) => s.name === 'field-service');
    expect(fieldService).toMatchObject({ seed: '000', base_paths: ['/api/public/v1'], openapi: '/api/public/v1/openapi.json' });
    const assistant = res.body.data.find((s: any) => s.name === 'assistant');
    expect(assistant).toMatchObject({ seed: '002', host: 'assistant.localhost', openapi: '/api/v1/openapi.json' });
  });

  for (const name of ['field-service', 'assistant']) {
    it(`${name}: serves exactly what its document names, on its host, and the document is valid OpenAPI 3.1`, async () => {
      const surface = t.surfaces.find((s) => s.descriptor.name === name)!;
      const host = surface.hosts[0]!;
      const spec = (await t.request('GET', surface.descriptor.openapiPath, { headers: { host } })).body;
      const result = await new Validator().validate(spec);
      expect(result.errors ?? []).toEqual([]);
      const docs = documented(spec);
      const served = new Set(surface.routes.map((r) => `${r.method} ${r.path}`));
      expect([...served].filter((r) => !docs.has(r))).toEqual([]);
      expect([...docs].filter((r) => !served.has(r))).toEqual([]);
      // The same document from the main host's reference picker.
      const viaMain = await t.request('GET', `/docs/surfaces/${name}/openapi.json`);
      expect(viaMain.body.paths).toEqual(spec.paths);
      // Its reference page loads from this server.
      const page = await t.request('GET', surface.descriptor.docsPath, { headers: { host } });
      expect(page.status).toBe(200);
      expect(page.text).toContain(`${surface.descriptor.docsPath}/scalar.js`);
    });
  }

  it('lets no two contracts claim one method and path on the main host', () => {
    const claims = new Map<string, string>();
    const claim = (owner: string, method: string, path: string) => {
      const key = claimOf(method, path);
      expect(claims.get(key), `${key} claimed by ${claims.get(key)} and ${owner}`).toBeUndefined();
      claims.set(key, owner);
    };
    const surfaceRoutes = new Set(t.surfaces.flatMap((s) => s.mainHostRoutes.map((r) => `${r.method} ${r.path}`)));
    const platform = new Set(t.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`).filter((r) => !surfaceRoutes.has(r)));
    for (const r of platform) claim('platform', r.split(' ')[0]!, r.split(' ')[1]!);
    for (const s of t.surfaces) for (const r of s.mainHostRoutes) claim(s.descriptor.name, r.method, r.path);
  });

  it('offers every document in the main host\'s reference', async () => {
    const page = await t.request('GET', '/docs');
    expect(page.status).toBe(200);
    for (const s of t.surfaces) expect(page.text).toContain(`/docs/surfaces/${s.descriptor.name}/openapi.json`);
  });
});
