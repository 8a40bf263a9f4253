import type { TenantContext } from '../../../core/context.ts';
import { newId } from '../../../core/http/ids.ts';
import { getTenant } from '../../tenants/index.ts';
import type { AuthConfig } from '../config/service.ts';
import { smsOutbox } from '../tables.ts';

export type MailTemplate = 'verification' | 'magic_link' | 'password_reset' | 'existing_account';

/** Built-in texts; a tenant overrides any of them in auth-config `email_templates`. */
const DEFAULT_TEMPLATES: Record<MailTemplate, { subject: string; text: string }> = {
  verification: {
    subject: 'Confirm your email for {{brand_name}}',
    text: 'Confirm your email address for {{brand_name}} by opening this link:\n\n{{link}}\n\nOr enter this code: {{token}}\n\nThe link expires in {{expires_minutes}} minutes. If you did not sign up, ignore this message.',
  },
  magic_link: {
    subject: 'Your sign-in link for {{brand_name}}',
    text: 'Sign in to {{brand_name}} with this link:\n\n{{link}}\n\nOr use this code: {{token}}\n\nIt works once and expires in {{expires_minutes}} minutes. If you did not ask for it, ignore this message.',
  },
  password_reset: {
    subject: 'Reset your {{brand_name}} password',
    text: 'Someone asked to reset the password of your {{brand_name}} account. To choose a new one, open:\n\n{{link}}\n\nOr use this code: {{token}}\n\nIt expires in {{expires_minutes}} minutes. If it was not you, ignore this message; your password stays as it is.',
  },
  existing_account: {
    subject: 'You already have a {{brand_name}} account',
    text: 'Someone tried to sign up to {{brand_name}} with this email address, which already has an account. If it was you, sign in instead, or reset your password if you forgot it. If it was not you, ignore this message.',
  },
};

const DEFAULT_SMS = 'Your {{brand_name}} code is {{code}}. It expires in {{expires_minutes}} minutes.';

function render(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (whole, name: string) => values[name] ?? whole);
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

async function brandName(ctx: TenantContext): Promise<string> {
  const tenant = await getTenant(ctx.db, ctx.tenantId);
  return tenant.settings.branding?.brand_name ?? tenant.name;
}

/** Queues one of the auth mails (outbox, or SMTP with SMTP_URL) in the caller's transaction. */
export async function sendAuthMail(
  ctx: TenantContext,
  config: AuthConfig,
  template: MailTemplate,
  to: string,
  values: { link?: string; token?: string; expires_minutes?: number },
): Promise<void> {
  const chosen = config.email_templates[template] ?? DEFAULT_TEMPLATES[template];
  const vars: Record<string, string> = {
    brand_name: await brandName(ctx),
    email: to,
    link: values.link ?? '',
    token: values.token ?? '',
    expires_minutes: String(values.expires_minutes ?? 60),
  };
  const text = render(chosen.text, vars);
  const html = `<div style="font-family:sans-serif;white-space:pre-wrap">${escapeHtml(text).replace(
    /(https?:\/\/[^\s<]+)/g,
    (url) => `<a href="${url}">${url}</a>`,
  )}</div>`;
  await ctx.kernel.mail.queue(ctx, { to, subject: render(chosen.subject, vars), text, html, template: `auth.${template}` });
}

/**
 * SMS delivery. The default provider is an outbox table (like mail without SMTP): a deployment plugs
 * in a real gateway by implementing this interface; development and tests read the table.
 */
export interface SmsProvider {
  send(ctx: TenantContext, message: { to: string; body: string; template: string }): Promise<void>;
}

export const outboxSmsProvider: SmsProvider = {
  async send(ctx, message) {
    await ctx.db.insert(smsOutbox).values({ id: newId('sms'), tenantId: ctx.tenantId, to: message.to, body: message.body, template: message.template, status: 'stored' });
  },
};

export async function sendOtpSms(ctx: TenantContext, config: AuthConfig, to: string, code: string, minutes: number, provider: SmsProvider) {
  const body = render(config.email_templates.sms_otp?.text ?? DEFAULT_SMS, { brand_name: await brandName(ctx), code, expires_minutes: String(minutes) });
  await provider.send(ctx, { to, body, template: 'auth.sms_otp' });
}
