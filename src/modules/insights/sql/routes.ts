import { z } from '@hono/zod-openapi';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { createRouter, defineRoute, errorResponse } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { SQL_MAX_CHARS, SQL_RELATIONS } from './guard.ts';
import { runSql, SQL_ROW_CAP, SQL_TIMEOUT_MS } from './service.ts';

const run = defineRoute({ kind: 'tenant', scope: '*' }, {
  method: 'post',
  path: '/v1/sql',
  tags: ['SQL'],
  summary: 'Execute SQL query',
  description: [
    `One read-only SELECT (at most ${SQL_MAX_CHARS.toLocaleString('en')} characters) over the tenant's data, parsed by PostgreSQL's parser and refused unless it only reads these relations with allow-listed functions:`,
    ...Object.entries(SQL_RELATIONS).map(([name, cols]) => `- \`${name}\`: ${cols}`),
    `\`$1\`, \`$2\`... take \`params\`. At most ${SQL_ROW_CAP} rows (\`truncated\` says when there were more); cancelled after ${SQL_TIMEOUT_MS} ms. Every query is audited. Needs PostgreSQL; API keys only.`,
  ].join('\n'),
  request: {
    body: jsonBody(
      z.object({
        sql: z.string().min(1).max(SQL_MAX_CHARS).openapi({ example: "select object_type, count(*) from objects group by 1" }),
        params: z.array(z.union([z.string().max(10_000), z.number(), z.boolean(), z.null()])).max(100).optional(),
      }),
    ),
  },
  responses: {
    200: jsonResponse(
      z.object({
        columns: z.array(z.string()),
        rows: z.array(z.record(z.string(), z.unknown())),
        row_count: z.number().int(),
        truncated: z.boolean(),
        duration_ms: z.number(),
      }),
      'The result',
    ),
    400: errorResponse('Not a single read of the allowed relations (the message says what was refused), a syntax error, or an error PostgreSQL raised running it'),
    403: errorResponse('Missing scope `*`, or a user token (free SQL cannot apply record policies)'),
    408: errorResponse('The query ran past the statement timeout and was cancelled'),
    501: errorResponse('The embedded database (PGlite) cannot run user SQL safely'),
  },
});

export function sqlRoutes() {
  const app = createRouter();
  app.openapi(run, async (c) => {
    const body = c.req.valid('json');
    try {
      return c.json(ok(c, await tenantWork(c, (ctx) => runSql(ctx, body))), 200);
    } catch (error) {
      // A refused or failed query leaves no audit entry of its own (its transaction rolled back): one
      // is written here, so every query is audited.
      const reason = error instanceof ApiError ? error.code : 'INTERNAL_ERROR';
      await tenantWork(c, (ctx) => ctx.audit({ action: 'sql.refused', resourceType: 'sql', metadata: { sql: body.sql.slice(0, 2000), reason } })).catch(() => {});
      throw error;
    }
  });
  return app;
}
