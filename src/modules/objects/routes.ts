import { createRouter } from '../../core/http/route.ts';
import { mountObjectRoutes } from './records/routes.ts';
import { mountTypeRoutes } from './types/routes.ts';

/** The data engine's HTTP surface: /v1/object-types/..., /v1/objects/... and /v1/policies/simulate. */
export function objectsRoutes() {
  const app = createRouter();
  mountTypeRoutes(app);
  mountObjectRoutes(app);
  return app;
}
