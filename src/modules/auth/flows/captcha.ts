import { ApiError } from '../../../core/http/errors.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { captchaSettings } from '../config/service.ts';
import type { FlowContext } from './context.ts';

const VERIFY_TIMEOUT_MS = 5_000;

/** Cloudflare's error codes that blame the tenant's configuration, not the caller's token. */
const CONFIG_ERRORS = new Set(['missing-input-secret', 'invalid-input-secret']);

function tokenError(field: string, message: string, code: string): ApiError {
  return new ApiError('VALIDATION_ERROR', `${field}: ${message}`, {
    details: { issues: [{ field, location: 'body', code, message }] },
  });
}

/**
 * When the tenant's auth config enables captcha, `token` must be a Turnstile response that Cloudflare's
 * siteverify accepts; otherwise nothing happens. Fails closed: a verifier that cannot be reached or
 * answers nonsense is a 503, never a pass.
 */
export async function requireCaptcha(flow: FlowContext, token: string | undefined): Promise<void> {
  const captcha = await flow.work((ctx) => captchaSettings(ctx));
  if (!captcha) return;
  await verifyTurnstile(flow.kernel, { secret: captcha.secret_key, token, ip: flow.ip, field: 'turnstile_token', tenantId: flow.tenantId });
}

/**
 * Checks a Turnstile response under `secret` (a tenant's, or the operator's for routes that create a
 * tenant and so have no tenant config yet). A missing or refused token is a 400 naming `field`.
 */
export async function verifyTurnstile(
  kernel: Kernel,
  options: { secret: string; token: string | undefined; ip?: string; field: string; tenantId?: string },
): Promise<void> {
  const { field } = options;
  if (!options.token) throw tokenError(field, `required: ${options.tenantId ? 'this tenant protects sign-up and sign-in' : 'this service protects registration'} with Cloudflare Turnstile`, 'required');
  const form = new URLSearchParams({ secret: options.secret, response: options.token });
  if (options.ip && options.ip !== 'unknown') form.set('remoteip', options.ip);
  let outcome: { success?: unknown; 'error-codes'?: unknown };
  try {
    // Plain fetch, not the outbound guard (core/net/outbound.ts) that tenant-set URLs go through: the URL
    // is the operator's TURNSTILE_VERIFY_URL, never a tenant's, and an air-gapped install may well point
    // it at a private address.
    const res = await fetch(kernel.config.TURNSTILE_VERIFY_URL, { method: 'POST', body: form, signal: AbortSignal.timeout(VERIFY_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`siteverify answered ${res.status}`);
    outcome = (await res.json()) as typeof outcome;
  } catch (error) {
    kernel.log.warn({ err: error, tenant_id: options.tenantId }, 'turnstile verification unavailable');
    throw new ApiError('SERVICE_UNAVAILABLE', 'The captcha could not be verified right now; try again shortly', { headers: { 'Retry-After': '5' } });
  }
  if (outcome?.success === true) return;
  const codes = Array.isArray(outcome?.['error-codes']) ? outcome['error-codes'].map(String) : [];
  if (codes.some((c) => CONFIG_ERRORS.has(c))) {
    kernel.log.warn({ tenant_id: options.tenantId, codes }, 'turnstile refused the captcha secret key');
    throw new ApiError('SERVICE_UNAVAILABLE', `The captcha could not be verified: the ${options.tenantId ? "tenant's " : ''}captcha secret key is refused by the verifier`);
  }
  throw tokenError(field, `verification failed${codes.length ? ` (${codes.join(', ').slice(0, 200)})` : ''}; solve the challenge again`, 'invalid');
}
