import { z } from '@hono/zod-openapi';
import { isTenantPrincipal } from '../../core/auth/guard.ts';
import { jsonBody, jsonResponse, ok } from '../../core/http/envelope.ts';
import { ApiError } from '../../core/http/errors.ts';
import { createRouter, defineRoute } from '../../core/http/route.ts';
import { tenantWork } from '../../core/http/work.ts';
import { sendEmail } from './service.ts';
import { EMAIL_TEMPLATES, TEMPLATE_NAMES } from './templates.ts';

const Email = z.email().max(320);
const NoNewlines = (max: number) => z.string().max(max).refine((v) => !/[\r\n]/.test(v), 'Must be on one line');

const send = defineRoute(
  { kind: 'tenant', scope: 'write' },
  {
    method: 'post',
    path: '/v1/email/send',
    tags: ['Email'],
    summary: 'Send email',
    description: [
      'Send a transactional email through the platform\'s mail provider: stored in the mail outbox, and delivered by SMTP when SMTP_URL is set.',
      `Give \`subject\` and \`text\` and/or \`html\`, or a \`template\` (${TEMPLATE_NAMES.map((n) => `\`${n}\``).join(', ')}) with \`data\`. With \`data\`, \`{{variables}}\` (Mustache) are filled in, including \`tenant.brand_name\`, \`tenant.logo_url\`, \`tenant.primary_color\` and \`tenant.support_email\` from the tenant's branding.`,
      '`from` must be of the platform\'s sending domain. Limited per tenant per minute (EMAIL_RATE_PER_MINUTE).',
    ].join('\n\n'),
    request: {
      body: jsonBody(
        z
          .object({
            to: z.union([Email, z.array(Email).min(1).max(50)]).openapi({ description: 'One address or up to 50' }),
            subject: NoNewlines(998).optional(),
            html: z.string().max(512 * 1024).optional(),
            text: z.string().max(512 * 1024).optional(),
            from: NoNewlines(320).optional().openapi({ example: 'Acme <billing@mail.example.com>' }),
            reply_to: Email.optional(),
            template: z.enum(TEMPLATE_NAMES).optional().openapi({
              description: Object.entries(EMAIL_TEMPLATES).map(([name, t]) => `\`${name}\`: ${t.description}`).join('; '),
            }),
            data: z.record(z.string(), z.unknown()).optional().openapi({ description: 'Template variables', example: { heading: 'Welcome', body: 'Your account is ready.' } }),
          })
          .superRefine((body, issue) => {
            if (body.template) return;
            if (!body.subject?.trim()) issue.addIssue({ code: 'custom', path: ['subject'], message: 'Required unless a template is given' });
            if (body.text === undefined && body.html === undefined) issue.addIssue({ code: 'custom', path: ['text'], message: 'Give text, html or a template' });
          }),
      ),
    },
    responses: {
      200: jsonResponse(
        z.object({
          sent: z.literal(true),
          message_id: z.string(),
          status: z.enum(['stored', 'queued']).openapi({ description: '`queued` for SMTP delivery, or `stored` in the outbox (no SMTP configured)' }),
        }),
        'Accepted for delivery',
      ),
    },
  },
  { bodyLimit: 2 * 1024 * 1024 },
);

export function emailRoutes() {
  const app = createRouter();
  app.openapi(send, async (c) => {
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'This route needs a tenant credential');
    const kernel = c.get('kernel');
    const limit = kernel.config.EMAIL_RATE_PER_MINUTE;
    await kernel.rateLimits.enforce(`email:${principal.tenant.id}`, limit, (wait) => `This tenant may send ${limit} emails per minute; retry in ${wait} s`);
    return c.json(ok(c, await tenantWork(c, (ctx) => sendEmail(ctx, c.req.valid('json')))), 200);
  });
  return app;
}
