import type { Kernel } from '../../core/kernel.ts';
import { WebhookEngine } from './engine.ts';

export { WEBHOOK_EVENTS } from './events.ts';
export { webhookEngine, MAX_ATTEMPTS, RETRY_DELAYS_MS, FANOUT_CONSUMER, type WebhookEngine } from './engine.ts';
export { createWebhook, listWebhooks, updateWebhook, assertWebhookUrl, webhookDto, type CreateWebhookInput } from './service.ts';
export { WebhookSchema } from './routes.ts';

/** Delivery jobs, the outbox fan-out consumer, the DLQ source and the retry scheduler of this kernel. */
export function registerWebhooks(kernel: Kernel): void {
  WebhookEngine.register(kernel);
}
