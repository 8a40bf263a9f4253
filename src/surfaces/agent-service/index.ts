import { defineSurface, surfaceRouter } from '../surface.ts';
import { accountsRoutes } from './accounts.ts';
import { agentsRoutes } from './agents.ts';
import { authRoutes } from './auth.ts';
import { billingRoutes } from './billing.ts';
import { containersRoutes } from './containers.ts';
import { conversationsRoutes } from './conversations.ts';
import { renderServiceError, SECURITY_SCHEMES } from './http.ts';
import { opsRoutes } from './ops.ts';
import { statusRoutes } from './status.ts';
import { vectorStoresRoutes } from './vector-stores.ts';
import { workflowsRoutes } from './workflows.ts';

/**
 * The agent service API (seed 003) over identity (auth, sessions, service accounts, signup), the agents
 * runtime and the AI module (chat, workflows, conversations, vector stores), files (storage), billing
 * and status. On the main host at `/api/v1`; on its own host also `/`, `/health*` and `/webhooks/stripe`
 * exactly as its seed names them (the platform claims those paths on the main host).
 */
export const agentServiceSurface = defineSurface({
  name: 'agent-service',
  seed: '003',
  title: 'Agent service API',
  description:
    'Auth with sessions and service accounts, signup policy, invites and access requests, chat and streamed chat with agents, workflows and their runs, conversations, containers, vector stores, presigned storage, tenant settings, a public status page and Stripe billing. Authenticate with `Authorization: Bearer <token>`. Validation errors are 422 `{detail: [{loc, msg, type}]}`; other errors are `{detail}`.',
  basePath: '/api/v1',
  mainHost: true,
  openapiPath: '/openapi.json',
  docsPath: '/docs',
  securitySchemes: SECURITY_SCHEMES,
  renderError: renderServiceError,
  routes: () => {
    const app = surfaceRouter();
    opsRoutes(app);
    authRoutes(app);
    accountsRoutes(app);
    agentsRoutes(app);
    workflowsRoutes(app);
    conversationsRoutes(app);
    containersRoutes(app);
    vectorStoresRoutes(app);
    statusRoutes(app);
    billingRoutes(app);
    return app;
  },
});
