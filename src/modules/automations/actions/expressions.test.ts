import jsonata from 'jsonata';
import { describe, expect, it } from 'vitest';
import { resolveMapping } from './expressions.ts';

/** What JSONata itself makes of an expression, as a mapping returns it (JSON, undefined as null). */
async function byJsonata(source: string, scope: unknown): Promise<unknown> {
  const value = await jsonata(source).evaluate(scope);
  return value === undefined ? null : JSON.parse(JSON.stringify(value) ?? 'null');
}

describe('mapping expressions', () => {
  // Plain paths are read without JSONata's evaluator: every answer must be the one JSONata gives.
  const scope = {
    event: { id: 'evt_1', type: 'object.created', data: { properties: { n: 3, name: 'Ada', ok: false, none: null } } },
    data: { properties: { n: 3, name: 'Ada', ok: false, none: null, tags: ['a', 'b'], one: ['x'], nested: { deep: { x: 1 } }, zero: 0, empty: '' }, items: [{ sku: 'a' }, { sku: 'b' }], text: 'abc' },
    steps: { note: { id: 'obj_1' }, missing: null },
    now: '2026-01-01T00:00:00.000Z',
  };
  const paths = [
    'data.properties.n', 'data.properties.name', 'data.properties.ok', 'data.properties.none', 'data.properties.absent',
    'data.properties.tags', 'data.properties.one', 'data.properties.nested', 'data.properties.nested.deep.x', 'data.properties.zero',
    'data.properties.empty', 'data.items.sku', 'data.items', 'data.text.length', 'data.text', 'steps.note.id', 'steps.missing.id',
    'steps.absent.id', 'now', 'event.type', 'event.data.properties.n', 'data.constructor', 'data.properties.toString', 'nothing',
  ];
  for (const path of paths) {
    it(`reads ${path} as JSONata does`, async () => {
      expect(await resolveMapping(`{{ ${path} }}`, scope, 'input')).toEqual(await byJsonata(path, scope));
      expect(await resolveMapping(`[{{${path}}}]`, scope, 'input')).toEqual(await resolveMapping(`[{{ (${path}) }}]`, scope, 'input'));
    });
  }
});
