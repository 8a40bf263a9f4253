import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { CONFIG_KEYS } from '../src/config.ts';

const root = path.resolve(import.meta.dirname, '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

describe('README', () => {
  it('opens with the two commands that work on a fresh machine', () => {
    const firstLines = readme.split('\n').slice(0, 4).join('\n');
    expect(firstLines).toContain('npm install && npm start');
    expect(firstLines).toContain('npm install && npm test');
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toContain('start');
    expect(pkg.scripts.test).toBe('vitest run');
  });

  it('documents every configuration variable in its table', () => {
    const documented = new Set([...readme.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
    expect(CONFIG_KEYS.filter((key) => !documented.has(key))).toEqual([]);
    expect([...documented].filter((key) => !CONFIG_KEYS.includes(key!))).toEqual([]);
  });

  it('lists what the API serves, and nothing it does not serve', () => {
    const { document } = createApp(null);
    const served = Object.keys((document() as { paths: Record<string, unknown> }).paths).filter((p) => p !== '/');
    // The area of a path: `/v1/<first segment>`, or its first segment elsewhere.
    const areaOf = (p: string) => (p.startsWith('/v1/') ? p.split('/').slice(0, 3).join('/') : `/${p.split('/')[1]}`);
    const section = readme.slice(readme.indexOf('## What works'), readme.indexOf('\n## ', readme.indexOf('## What works') + 1));
    const named = [...section.matchAll(/`(\/[^`\s]*)`/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(10);
    // Each path the README names starts a served path (`*` ends a prefix; `{x}` is any segment).
    const pattern = (p: string) => new RegExp(`^${p.replace(/\*$/, '').replace(/[.+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}${p.endsWith('*') ? '' : '(/|$)'}`);
    expect(named.filter((p) => !served.some((s) => pattern(p).test(s)))).toEqual([]);
    // Each area the API serves is named.
    const areas = [...new Set(served.map(areaOf))];
    expect(areas.filter((a) => !named.some((p) => p.replace(/\*$/, '').startsWith(a)))).toEqual([]);
  });

  it('is what .ci/run runs', () => {
    const ci = fs.readFileSync(path.join(root, '.ci/run'), 'utf8');
    expect(ci).toContain('npm install && npm test');
  });
});
