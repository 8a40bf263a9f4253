import { convert, type HtmlToTextOptions } from 'html-to-text';
import { Parser } from 'htmlparser2';
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
 * Past this many open elements the rest of the HTML is left out of the derived text. htmlparser2 keeps
 * its open-element stack with `unshift`, so each tag costs O(depth) and 512 KiB of `<b>` took 5 s;
 * browsers stop nesting at 512 too.
 */
const MAX_HTML_DEPTH = 512;

/** The HTML up to where it first nests deeper than MAX_HTML_DEPTH elements (one linear pass). */
function boundedDepth(html: string): string {
  let depth = 0;
  let cut = -1;
  const parser = new Parser(
    {
      onopentag() {
        if (++depth > MAX_HTML_DEPTH && cut < 0) {
          cut = parser.startIndex;
          parser.pause();
        }
      },
      onclosetag() {
        depth--;
      },
    },
    { decodeEntities: false },
  );
  parser.write(html);
  return cut < 0 ? html : html.slice(0, cut);
}

const HTML_TO_TEXT: HtmlToTextOptions = {
  selectors: [
    // Headings as written (the default shouts them), images left out (a logo is not text).
    ...(['h1', 'h2', 'h3', 'h4', 'h5', 'h6'] as const).map((selector) => ({ selector, options: { uppercase: false } })),
    { selector: 'img', format: 'skip' },
  ],
};

/**
 * A plain-text part for a message sent with HTML only: mail without one is more often marked as spam.
 * html-to-text parses the HTML (linear, unlike the regular expressions this replaced, which took 9.6 s
 * on 128 K characters of `<a`); a caller who cares about the text part sends `text` too.
 */
export function textFromHtml(html: string): string {
  return convert(boundedDepth(html), HTML_TO_TEXT);
}
