import { defineModule } from '../../core/module.ts';
import { portalRoutes } from './routes.ts';

export { portalRoutes } from './routes.ts';

/** Customer portal identities: sign-up, sign-in and lookup across tenants. */
export const portalModule = defineModule({ name: 'portal', routes: () => portalRoutes() });
