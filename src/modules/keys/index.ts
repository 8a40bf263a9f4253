import type { Kernel } from '../../core/kernel.ts';
import { defineModule } from '../../core/module.ts';
import { KEY_EVENTS } from './events.ts';
import { createKeyResolver, keyPrincipalLoader } from './resolver.ts';
import { keysRoutes } from './routes.ts';
import { createKey } from './service.ts';

export { createKey, keyDto, listKeys, revokeKey, type CreateKeyInput } from './service.ts';
export { ApiKeySchema } from './routes.ts';
export { KEY_EVENTS } from './events.ts';

/** Lets the kernel authenticate `sk_`/`pk_` bearer tokens. */
function registerKeyAuth(kernel: Kernel): void {
  const { resolve, invalidate } = createKeyResolver(kernel);
  kernel.principals.register(resolve, invalidate);
  kernel.principals.registerLoader('api_key', keyPrincipalLoader(kernel));
}

export const keysModule = defineModule({
  name: 'keys',
  events: KEY_EVENTS,
  register: registerKeyAuth,
  // A new tenant starts with an admin key (scope `*`), shown once.
  hooks: { provisionTenant: (ctx) => createKey(ctx, { label: 'Admin key', scopes: ['*'] }) },
  routes: () => keysRoutes(),
});
