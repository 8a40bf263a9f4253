// The generated clients are current, and the README's SDK examples run as written against a real server.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, sdkSources } from '../scripts/sdk.ts';
import { toUuid } from '../src/surfaces/field-service/ids.ts';
import { listen } from './support/events.ts';
import { testPlatform, type TestPlatform } from './support/platform.ts';

const root = path.resolve(import.meta.dirname, '..');
let t: TestPlatform;
let server: Awaited<ReturnType<typeof listen>>;

beforeAll(async () => {
  t = await testPlatform();
  server = await listen(t.app);
});
afterAll(async () => {
  await server?.close();
  await t?.close();
});

describe('SDKs', () => {
  it('are generated from the documents the server serves (npm run sdk)', async () => {
    for (const source of sdkSources()) {
      const file = path.join(root, 'sdk', source.name, 'api.ts');
      expect(fs.existsSync(file), `${file} exists`).toBe(true);
      expect(fs.readFileSync(file, 'utf8') === (await generate(source)), `sdk/${source.name}/api.ts is current; run npm run sdk`).toBe(true);
    }
  }, 120_000);

  it('run the README examples as written', async () => {
    const { tenantId, token } = await t.newTenant();
    process.env.ASTERI_ORG_ID = toUuid(tenantId);
    process.env.ASTERI_API_KEY = token;
    process.env.PLINTH_API_KEY = token;
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## SDKs'), readme.indexOf('\n## ', readme.indexOf('## SDKs') + 1));
    const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBe(2);
    const dir = path.join(root, 'test', '.generated');
    fs.mkdirSync(dir, { recursive: true });
    const logged: unknown[][] = [];
    const log = console.log;
    console.log = (...args: unknown[]) => void logged.push(args);
    try {
      for (const [i, block] of blocks.entries()) {
        const file = path.join(dir, `readme-sdk-${i}.ts`);
        fs.writeFileSync(file, block.replaceAll('./sdk/', '../../sdk/').replaceAll('http://localhost:3000', `http://127.0.0.1:${server.port}`));
        await import(file);
      }
    } finally {
      console.log = log;
    }
    expect(logged[0]![0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(logged[0]![1]).toBe(1);
    expect(logged[1]![0]).toBeGreaterThanOrEqual(1);
    const objects = await t.request('GET', '/v1/objects/customers/list', { token });
    expect(objects.body.data.results.map((r: any) => toUuid(r.id))).toEqual([logged[0]![0]]);
  });
});
