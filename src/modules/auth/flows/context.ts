import type { TenantContext } from '../../../core/context.ts';
import type { Kernel } from '../../../core/kernel.ts';
import type { Audience } from '../tables.ts';

/** Runs a step of a flow in one transaction of the request's tenant. Flows use several, so that slow work (argon2) holds no connection. */
export type Work = <T>(fn: (ctx: TenantContext) => Promise<T>) => Promise<T>;

/** What every step of a sign-in flow runs with; apart from the flows so that captcha and http.ts can name it without importing them. */
export interface FlowContext {
  kernel: Kernel;
  work: Work;
  tenantId: string;
  audience: Audience;
  ip: string;
  /**
   * This server's GET /v1/auth/verify: verification and magic links lead there, and it sends the browser
   * on to the request's redirect_to (or the tenant's site_url) with the outcome in the URL fragment.
   */
  verifyUrl: string;
}
