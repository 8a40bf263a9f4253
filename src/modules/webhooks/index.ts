import { defineModule } from '../../core/module.ts';
import { WebhookEngine } from './engine.ts';
import { WEBHOOK_EVENTS } from './events.ts';
import { webhooksRoutes } from './routes.ts';

export { WEBHOOK_EVENTS } from './events.ts';
export { webhookEngine, MAX_ATTEMPTS, RETRY_DELAYS_MS, FANOUT_CONSUMER, type WebhookEngine } from './engine.ts';
export {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listDeliveries,
  listWebhooks,
  pageWebhooks,
  prepareTest,
  rotateWebhookSecret,
  sendPrepared,
  updateWebhook,
  assertWebhookUrl,
  webhookDto,
  type CreateWebhookInput,
  type SendOutcome,
  type WebhookScope,
} from './service.ts';
export { WebhookSchema } from './routes.ts';

export const webhooksModule = defineModule({
  name: 'webhooks',
  events: WEBHOOK_EVENTS,
  // Delivery jobs, the outbox fan-out consumer, the DLQ source and the retry scheduler.
  register: (kernel) => WebhookEngine.register(kernel),
  routes: () => webhooksRoutes(),
});
