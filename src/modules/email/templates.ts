import Mustache from 'mustache';

export interface EmailTemplate {
  description: string;
  subject: string;
  text: string;
  html: string;
}

const layout = (inner: string) => `<!doctype html>
<html><body style="margin:0;padding:24px;background:#f5f5f7;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1d1d1f">
<table role="presentation" width="100%" style="max-width:560px;margin:0 auto;background:#fff;border-radius:8px;padding:32px">
<tr><td>
{{#tenant.logo_url}}<img src="{{tenant.logo_url}}" alt="{{tenant.brand_name}}" style="max-height:40px;margin-bottom:24px">{{/tenant.logo_url}}
${inner}
<p style="margin-top:32px;font-size:12px;color:#6e6e73">{{tenant.brand_name}}{{#tenant.support_email}} · <a href="mailto:{{tenant.support_email}}" style="color:#6e6e73">{{tenant.support_email}}</a>{{/tenant.support_email}}</p>
</td></tr></table></body></html>`;

const button = `{{#action_url}}<p><a href="{{action_url}}" style="display:inline-block;background:{{tenant.primary_color}};color:#fff;padding:10px 18px;border-radius:6px;text-decoration:none">{{action_label}}</a></p>{{/action_url}}`;

/**
 * Built-in templates for POST /v1/email/send. Variables are Mustache (`{{name}}`, escaped in HTML);
 * `tenant.*` (brand_name, logo_url, primary_color, support_email) comes from the tenant's branding.
 */
export const EMAIL_TEMPLATES: Record<string, EmailTemplate> = {
  basic: {
    description: 'A heading, a message and an optional button. Variables: subject, heading, body, action_url, action_label',
    subject: '{{subject}}',
    text: '{{heading}}\n\n{{body}}\n{{#action_url}}\n{{action_label}}: {{action_url}}\n{{/action_url}}\n-- \n{{tenant.brand_name}}',
    html: layout(`<h1 style="font-size:20px">{{heading}}</h1><p style="white-space:pre-line">{{body}}</p>${button}`),
  },
  notification: {
    description: 'A notification sent by email. Variables: title, body, action_url, action_label',
    subject: '{{title}}',
    text: '{{title}}\n\n{{body}}\n{{#action_url}}\n{{action_label}}: {{action_url}}\n{{/action_url}}\n-- \n{{tenant.brand_name}}',
    html: layout(`<h1 style="font-size:20px">{{title}}</h1><p style="white-space:pre-line">{{body}}</p>${button}`),
  },
};

export const TEMPLATE_NAMES = Object.keys(EMAIL_TEMPLATES) as [string, ...string[]];

export interface RenderedEmail {
  subject: string;
  text: string;
  html?: string;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Mustache's default escape also rewrites `/` and `=`, which mangles URLs in mail source; these five suffice in text and quoted attributes. */
const escapeHtml = (value: unknown) => String(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);

const plain = (template: string, view: object) => Mustache.render(template, view, {}, { escape: (value: unknown) => String(value) });

/** Renders subject and text without escaping and HTML with it; subject lines stay on one line. */
export function renderEmail(parts: { subject: string; text?: string; html?: string }, view: object): RenderedEmail {
  const html = parts.html === undefined ? undefined : Mustache.render(parts.html, view, {}, { escape: escapeHtml });
  const text = parts.text === undefined ? textFromHtml(html ?? '') : plain(parts.text, view);
  return { subject: plain(parts.subject, view).replace(/[\r\n]+/g, ' ').trim(), text, ...(html === undefined ? {} : { html }) };
}

/**
 * A plain-text part for a message sent with HTML only: mail without one is more often marked as spam.
 * Tags are dropped and entities decoded; this is a fallback, not a renderer, so a caller who cares
 * sends `text` too.
 */
export function textFromHtml(html: string): string {
  return html
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, '')
    .replace(/<br\s*\/?>|<\/(p|div|h[1-6]|li|tr)>/gi, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
