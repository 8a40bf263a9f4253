import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { Kernel } from '../../core/kernel.ts';

const clients = new WeakMap<Kernel, { models: { list(): PromiseLike<unknown> } }>();

/**
 * Asks the platform's own AI provider (AI_PROVIDER, AI_BASE_URL: the operator's configuration, not a
 * tenant's) for its model list: the cheapest call that proves it answers and takes the key. The local
 * provider runs in-process, so it is up whenever the process is.
 */
export async function listModelsOf(kernel: Kernel): Promise<void> {
  const c = kernel.config;
  if (c.AI_PROVIDER === 'local') return;
  let client = clients.get(kernel);
  if (!client) {
    const settings = { apiKey: c.AI_API_KEY ?? 'none', baseURL: c.AI_BASE_URL ?? null, timeout: 5_000, maxRetries: 0 };
    client = c.AI_PROVIDER === 'openai' ? new OpenAI(settings) : new Anthropic(settings);
    clients.set(kernel, client);
  }
  await client.models.list();
}
