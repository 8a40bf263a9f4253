import { z } from '@hono/zod-openapi';
import { jsonResponse } from '../../core/http/envelope.ts';
import { defineRoute, errorResponse, idParam } from '../../core/http/route.ts';

export const READ = { kind: 'tenant', scope: 'read' } as const;
export const WRITE = { kind: 'tenant', scope: 'write' } as const;
export const TAG = ['Accounting'];

export const Deleted = z.object({ id: z.string(), deleted: z.literal(true) });

/** The errors the books answer with, documented on the routes that can give them. */
export const E = {
  404: errorResponse('Not found (also what another tenant\'s records look like), or a referenced record is not found'),
  409: errorResponse('Conflict: closed period, wrong status, duplicate, or dependency exists (DEPENDENCY_EXISTS)'),
  422: errorResponse('Unprocessable: unbalanced entry (the difference is named), missing exchange rate, inactive or control account, no currency set up'),
} as const;

type Method = 'get' | 'post' | 'patch' | 'delete';

/** One accounting route: read scope for GET, write scope for changes. */
export function acctRoute<const P extends string, const Q extends z.ZodObject<any> | undefined, const B extends z.ZodType | undefined, const R extends z.ZodType>(config: {
  method: Method;
  path: P;
  summary: string;
  description?: string;
  param?: string;
  query?: Q;
  body?: B;
  bodyRequired?: boolean;
  response: R;
  status?: 200 | 201;
}) {
  const status = config.status ?? 200;
  return defineRoute(config.method === 'get' ? READ : WRITE, {
    method: config.method,
    path: config.path,
    tags: TAG,
    summary: config.summary,
    ...(config.description ? { description: config.description } : {}),
    request: {
      ...(config.param ? { params: idParam(config.param) } : {}),
      ...(config.query ? { query: config.query } : {}),
      ...(config.body ? { body: { content: { 'application/json': { schema: config.body } }, required: config.bodyRequired ?? true } } : {}),
    },
    responses: { [status]: jsonResponse(config.response, config.summary), ...E },
  });
}

import type { OpenAPIHono } from '@hono/zod-openapi';
import type { RequestMeta, TenantContext } from '../../core/context.ts';
import type { Kernel } from '../../core/kernel.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ok } from '../../core/http/envelope.ts';
import { tenantMeta, tenantWork } from '../../core/http/work.ts';
import { StaleBooks } from './common.ts';

type Infer<T> = T extends z.ZodType ? z.infer<T> : undefined;

export interface Op {
  route: ReturnType<typeof acctRoute>;
  status: 200 | 201;
  run: (ctx: TenantContext, input: { id: string; query: any; body: any }) => Promise<unknown>;
  /**
   * Answers the request without a transaction of its own (a write grouped with others', see
   * ledger/batch.ts), or undefined to leave it to `run`.
   */
  direct?: (kernel: Kernel, meta: RequestMeta, input: { id: string; query: any; body: any }) => Promise<unknown>;
}

/** Declares one accounting operation: its contract and the service call that answers it. */
export function op<const Q extends z.ZodObject<any> | undefined, const B extends z.ZodType | undefined>(
  config: Parameters<typeof acctRoute>[0] & { query?: Q; body?: B },
  run: (ctx: TenantContext, input: { id: string; query: Infer<Q>; body: Infer<B> }) => Promise<unknown>,
  direct?: (kernel: Kernel, meta: RequestMeta, input: { id: string; query: Infer<Q>; body: Infer<B> }) => Promise<unknown>,
): Op {
  return { route: acctRoute(config), status: config.status ?? 200, run: run as Op['run'], ...(direct ? { direct: direct as Op['direct'] } : {}) };
}

export function mount(app: OpenAPIHono<AppEnv>, ops: Op[]) {
  for (const o of ops) {
    app.openapi(o.route, (async (c: any) => {
      const params = (c.req.valid('param') ?? {}) as Record<string, string>;
      const input = { id: Object.values(params)[0] ?? '', query: c.req.valid('query'), body: c.req.valid('json') };
      const work = () => tenantWork(c, (ctx) => o.run(ctx, input));
      // Rolled back because a remembered fact proved stale (and is forgotten by now): once more.
      const again = (error: unknown) => {
        if (error instanceof StaleBooks) return work();
        throw error;
      };
      let data: unknown;
      if (o.direct) data = await o.direct(c.get('kernel'), tenantMeta(c), input).catch(again);
      if (data === undefined) data = await work().catch(again);
      return c.json(ok(c, data), o.status);
    }) as never);
  }
}
