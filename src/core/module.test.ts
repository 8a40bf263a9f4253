import fs from 'node:fs';
import path from 'node:path';
import { z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { EVENT_CATALOG, MODULES } from '../app.ts';
import { SURFACES } from '../surfaces/index.ts';
import { collectHooks, eventCatalog } from './module.ts';

const modulesDir = path.join(import.meta.dirname, '..', 'modules');

describe('module descriptors', () => {
  it('lists every module folder once, by its folder name, each exporting its descriptor from index.ts', async () => {
    const folders = fs.readdirSync(modulesDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    const listed = MODULES.map((m) => m.name);
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual(folders);
    for (const folder of folders) {
      const exported = Object.values(await import(path.join(modulesDir, folder, 'index.ts')));
      expect(exported.filter((value) => MODULES.includes(value as never)), `${folder}/index.ts exports its descriptor`).toHaveLength(1);
    }
  });

  it('derives the event catalogue as the union of the descriptors\' events, each type once', () => {
    // Surfaces declare the contract events they emit beside the modules'.
    const union = [...MODULES, ...SURFACES].flatMap((m) => m.events ?? []);
    expect(EVENT_CATALOG).toEqual(union);
    expect(new Set(EVENT_CATALOG.map((e) => e.type)).size).toBe(EVENT_CATALOG.length);
    const twice = [{ name: 'a', events: union.slice(0, 1) }, { name: 'b', events: union.slice(0, 1) }];
    expect(() => eventCatalog(twice)).toThrow(/declared by a and b/);
  });

  it('refuses a tenant-config section offered twice, and needs exactly one tenant provisioner', () => {
    const provision = { provisionTenant: async () => ({ key: null, token: '' }) };
    const section = { tenantConfig: { auth: { schema: z.object({}), load: async () => ({}) } } };
    expect(() => collectHooks([{ name: 'a', hooks: section }])).toThrow(/exactly one module must offer provisionTenant/);
    expect(() => collectHooks([{ name: 'a', hooks: provision }, { name: 'b', hooks: provision }])).toThrow(/found a, b/);
    expect(() => collectHooks([{ name: 'a', hooks: { ...provision, ...section } }, { name: 'b', hooks: section }])).toThrow(/auth is offered twice/);
    const hooks = collectHooks(MODULES);
    expect(Object.keys(hooks.tenantConfig)).toEqual(['auth']);
    expect(hooks.userExport.length).toBeGreaterThanOrEqual(2);
  });
});
