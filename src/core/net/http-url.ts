import { z } from '@hono/zod-openapi';

/** Longest URL accepted anywhere a tenant configures one (browsers and most servers stop near here). */
export const MAX_URL_LENGTH = 2048;

/**
 * Why `raw` is not an acceptable http(s) URL to store, or null when it is. What is stored must be what
 * was checked: the WHATWG parser silently drops tabs and newlines and trims spaces and control
 * characters, so a URL holding any of them is refused rather than cleaned. Credentials in a URL are
 * refused too (`https://bank.example@evil.example/` reads as one host and goes to another; secrets
 * belong in signed payloads or client secrets, not in URLs that show up in logs).
 */
export function urlSyntaxProblem(raw: string): string | null {
  if (raw.length > MAX_URL_LENGTH) return `longer than ${MAX_URL_LENGTH} characters`;
  if (/[\u0000-\u0020\u007f-\u009f\u2028\u2029\ufeff]/.test(raw)) return 'contains whitespace or control characters';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'not a valid URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `the scheme ${url.protocol} is not allowed; use http or https`;
  if (url.username || url.password) return 'credentials in the URL are not allowed';
  if (!url.hostname) return 'the URL names no host';
  return null;
}

/**
 * An http(s) URL field: the syntax rules above, as a zod schema, so every URL field of every route
 * refuses `javascript:`, `file:`, smuggled credentials and hidden whitespace with a 400 naming it.
 * Fields the server itself calls are also checked against the network policy (core/net/outbound.ts);
 * this alone suits URLs only browsers and mail clients follow (sign-in pages, site URLs, logos).
 */
export function httpUrl(description?: string) {
  const schema = z
    .string()
    .max(MAX_URL_LENGTH)
    .superRefine((value, ctx) => {
      const problem = urlSyntaxProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });
  return description ? schema.openapi({ format: 'uri', description }) : schema.openapi({ format: 'uri' });
}
