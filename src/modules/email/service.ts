import { z } from '@hono/zod-openapi';
import type { TenantContext } from '../../core/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import type { Kernel } from '../../core/kernel.ts';
import { getBranding } from '../insights/index.ts';
import { getTenant } from '../tenants/index.ts';
import { EMAIL_TEMPLATES, renderEmail, textFromHtml } from './templates.ts';

export interface SendEmailInput {
  to: string | string[];
  subject?: string;
  html?: string;
  text?: string;
  from?: string;
  reply_to?: string;
  template?: string;
  data?: Record<string, unknown>;
}

/** The address of `Name <addr>` or `"Name" <addr>`. A quoted and a bare name are separate branches, so no character can go to two parts (that ambiguity made the old pattern quadratic). */
const ADDRESS = /^(?:"[^"<>]*"\s*|[^"<>]*)<([^<>\s]+)>$/;

function senderDomains(kernel: Kernel): Set<string> {
  const configured = ADDRESS.exec(kernel.config.MAIL_FROM.trim())?.[1] ?? kernel.config.MAIL_FROM.trim();
  const domains = new Set(kernel.config.MAIL_FROM_DOMAINS.split(',').map((d) => d.trim().toLowerCase()).filter(Boolean));
  const own = configured.split('@')[1];
  if (own) domains.add(own.toLowerCase());
  return domains;
}

function invalid(field: string, message: string): ApiError {
  return new ApiError('VALIDATION_ERROR', `${field}: ${message}`, { details: { issues: [{ field, location: 'body', code: 'invalid', message }] } });
}

/**
 * `from` may be `Name <addr>` or `addr`, but the address must be of the platform's sending domain
 * (MAIL_FROM's) or one listed in MAIL_FROM_DOMAINS: mail from other domains fails SPF/DMARC and
 * would let a tenant spoof anyone.
 */
export function checkSender(kernel: Kernel, from: string): string {
  const match = ADDRESS.exec(from.trim());
  const address = (match?.[1] ?? from.trim()).toLowerCase();
  if (!z.email().safeParse(address).success) throw invalid('from', 'Must be an email address or `Name <address>`');
  const domain = address.split('@')[1]!;
  if (!senderDomains(kernel).has(domain)) throw invalid('from', `Mail can be sent from ${[...senderDomains(kernel)].join(', ')} only (MAIL_FROM_DOMAINS)`);
  return from.trim();
}

/**
 * Tenant variables every template sees: the tenant's own branding (`/v1/branding`) over the defaults
 * its operator set on the tenant (`branding` of the admin tenant routes), over Plinth's.
 */
async function tenantView(ctx: TenantContext) {
  const tenant = await getTenant(ctx.db, ctx.tenantId);
  const branding = tenant.settings.branding ?? {};
  const own = await getBranding(ctx);
  return {
    name: tenant.name,
    brand_name: own.brand_name ?? branding.brand_name ?? tenant.name,
    logo_url: own.logo_url ?? branding.logo_url ?? null,
    primary_color: own.primary_color ?? branding.primary_color ?? '#0071e3',
    support_email: branding.support_email ?? null,
  };
}

/** Sends a transactional email through the mail provider: stored in the outbox, delivered by SMTP when configured. */
export async function sendEmail(ctx: TenantContext, input: SendEmailInput) {
  const from = input.from ? checkSender(ctx.kernel, input.from) : undefined;
  const recipients = Array.isArray(input.to) ? [...new Set(input.to.map((a) => a.toLowerCase()))] : [input.to.toLowerCase()];
  const view = { subject: input.subject, ...input.data, tenant: await tenantView(ctx) };
  let rendered;
  if (input.template) {
    const template = EMAIL_TEMPLATES[input.template]!;
    rendered = renderEmail({ subject: input.subject ?? template.subject, text: input.text ?? template.text, html: input.html ?? template.html }, view);
  } else if (input.data) {
    rendered = renderEmail({ subject: input.subject!, text: input.text, html: input.html }, view);
  } else {
    // No data: nothing to fill in, so braces in the content stay as they are.
    rendered = { subject: input.subject!.replace(/[\r\n]+/g, ' ').trim(), text: input.text ?? textFromHtml(input.html ?? ''), html: input.html };
  }
  if (!rendered.subject) throw invalid('subject', 'The subject is empty once rendered');
  const status = ctx.kernel.mail.mode === 'smtp' ? ('queued' as const) : ('stored' as const);
  const id = await ctx.kernel.mail.queue(ctx, {
    to: recipients.join(', '),
    subject: rendered.subject,
    text: rendered.text,
    html: rendered.html,
    from,
    replyTo: input.reply_to,
    template: input.template ?? 'custom',
    metadata: { source: 'api', recipients: recipients.length },
  });
  await ctx.emit({ type: 'email.sent', resourceType: 'email', resourceId: id, data: { template: input.template ?? null, recipients: recipients.length, status } });
  return { sent: true as const, message_id: id, status };
}
