import type { Kernel } from '../../core/kernel.ts';
import { createKeyResolver } from './resolver.ts';

export { createKey, keyDto, type CreateKeyInput } from './service.ts';
export { ApiKeySchema } from './routes.ts';
export { KEY_EVENTS } from './events.ts';

/** Lets the kernel authenticate `sk_`/`pk_` bearer tokens. */
export function registerKeyAuth(kernel: Kernel): void {
  const { resolve, invalidate } = createKeyResolver(kernel);
  kernel.principals.register(resolve, invalidate);
}
