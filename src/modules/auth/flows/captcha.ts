import { ApiError } from '../../../core/http/errors.ts';
import { captchaSettings } from '../config/service.ts';
import type { FlowContext } from './context.ts';

const VERIFY_TIMEOUT_MS = 5_000;

/** Cloudflare's error codes that blame the tenant's configuration, not the caller's token. */
const CONFIG_ERRORS = new Set(['missing-input-secret', 'invalid-input-secret']);

function tokenError(message: string, code: string): ApiError {
  return new ApiError('VALIDATION_ERROR', `turnstile_token: ${message}`, {
    details: { issues: [{ field: 'turnstile_token', location: 'body', code, message }] },
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
  if (!token) throw tokenError('required: this tenant protects sign-up and sign-in with Cloudflare Turnstile', 'required');

  const form = new URLSearchParams({ secret: captcha.secret_key, response: token });
  if (flow.ip && flow.ip !== 'unknown') form.set('remoteip', flow.ip);
  let outcome: { success?: unknown; 'error-codes'?: unknown };
  try {
    // Plain fetch, not the outbound guard (core/net/outbound.ts) that tenant-set URLs go through: the URL
    // is the operator's TURNSTILE_VERIFY_URL, never a tenant's, and an air-gapped install may well point
    // it at a private address.
    const res = await fetch(flow.kernel.config.TURNSTILE_VERIFY_URL, { method: 'POST', body: form, signal: AbortSignal.timeout(VERIFY_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`siteverify answered ${res.status}`);
    outcome = (await res.json()) as typeof outcome;
  } catch (error) {
    flow.kernel.log.warn({ err: error, tenant_id: flow.tenantId }, 'turnstile verification unavailable');
    throw new ApiError('SERVICE_UNAVAILABLE', 'The captcha could not be verified right now; try again shortly', { headers: { 'Retry-After': '5' } });
  }
  if (outcome?.success === true) return;
  const codes = Array.isArray(outcome?.['error-codes']) ? outcome['error-codes'].map(String) : [];
  if (codes.some((c) => CONFIG_ERRORS.has(c))) {
    flow.kernel.log.warn({ tenant_id: flow.tenantId, codes }, 'turnstile refused the tenant\'s secret key');
    throw new ApiError('SERVICE_UNAVAILABLE', 'The captcha could not be verified: the tenant\'s captcha secret key is refused by the verifier');
  }
  throw tokenError(`verification failed${codes.length ? ` (${codes.join(', ').slice(0, 200)})` : ''}; solve the challenge again`, 'invalid');
}
