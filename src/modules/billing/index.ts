import { defineModule } from '../../core/module.ts';
import { BILLING_EVENTS } from './events.ts';
import { billingRoutes } from './routes.ts';
import { sweep, pushUsage, SWEEP_JOB, USAGE_PUSH_JOB } from './service.ts';

export {
  billingEventDto,
  billingPlans,
  cancelSubscription,
  enforceGracePeriods,
  findPlan,
  getSubscription,
  listBillingEvents,
  recordUsage,
  startSubscription,
  subscriptionDto,
  updateSubscription,
  usageSummary,
  type BillingEventDto,
  type SubscriptionDto,
  type UsageInput,
  type Work,
} from './service.ts';
export type { BillingPlan, PlanFeature } from './plans.ts';
export { billingStream } from './stream.ts';
export { stripeWebhook, StripeEventBody, StripeSignatureHeader } from './routes.ts';
export { BILLING_EVENTS } from './events.ts';

/**
 * Billing: the platform's plan tiers as plans, a subscription per tenant (local, or in Stripe with
 * STRIPE_SECRET_KEY), usage records counted once per client key, the billing history and stream, and
 * the Stripe webhook receiver that keeps plan and status in step (failed payment -> warning -> suspension
 * after the grace period -> restored on payment).
 */
export const billingModule = defineModule({
  name: 'billing',
  events: BILLING_EVENTS,
  routes: () => billingRoutes(),
  register(kernel) {
    kernel.jobs.define<{ tenantId: string }>(USAGE_PUSH_JOB, { retryLimit: 5, retryDelay: 10, retryBackoff: true, handler: async (data) => void (await pushUsage(kernel, data.tenantId)) });
    kernel.jobs.define(SWEEP_JOB, { retryLimit: 0, handler: () => sweep(kernel) });
    void kernel.jobs.schedule(SWEEP_JOB, '* * * * *');
  },
});
