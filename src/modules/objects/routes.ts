import { createRouter } from '../../core/http/route.ts';
import { mountAssociationRoutes } from './associations/routes.ts';
import { mountCommentRoutes } from './comments/routes.ts';
import { mountPolicyRoutes } from './policies/routes.ts';
import { mountViewRoutes } from './query/routes.ts';
import { mountRecordRoutes } from './records/routes.ts';
import { mountTypeRoutes } from './types/routes.ts';
import { mountWorkflowRoutes } from './workflows/routes.ts';

/** The data engine's HTTP surface: /v1/object-types/..., /v1/objects/... and /v1/policies/simulate. */
export function objectsRoutes() {
  const app = createRouter();
  mountTypeRoutes(app);
  mountViewRoutes(app);
  mountPolicyRoutes(app);
  mountWorkflowRoutes(app);
  mountRecordRoutes(app);
  mountAssociationRoutes(app);
  mountCommentRoutes(app);
  return app;
}
