import { expect } from 'vitest';
import type { TestPlatform } from './platform.ts';

/** Requests as an application key (ask_) of the agent platform surface, with its X-App-Id. */
export function asApp(t: TestPlatform, key: string, app: string) {
  return (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    t.request(method as 'GET', path, { token: key, body, headers: { 'x-app-id': app, ...headers } });
}

/** An application of the tenant whose credential `token` is, and a server key (ask_) bound to it. */
export async function createApplication(t: TestPlatform, token: string, name: string): Promise<{ app: string; key: string }> {
  const res = await t.request('POST', '/api/applications', { token, body: { name } });
  expect(res.status, res.text).toBe(201);
  const app = res.body.id as string;
  const key = await t.request('POST', '/api/api-keys', { token, body: { name: 'server' }, headers: { 'x-app-id': app } });
  expect(key.status, key.text).toBe(201);
  expect(key.body.key).toMatch(/^ask_/);
  return { app, key: key.body.key as string };
}
