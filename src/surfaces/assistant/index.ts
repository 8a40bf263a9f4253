import { defineSurface, surfaceRouter } from '../surface.ts';
import { accountFileRoutes } from './account-files.ts';
import { chatRoutes } from './chat.ts';
import { renderAssistantError, SECURITY_SCHEMES } from './http.ts';
import { estimatorRoutes } from './estimator.ts';
import { opsRoutes } from './ops.ts';
import { ASSISTANT_EVENTS, storeRoutes } from './store.ts';
import { tenantRoutes } from './tenants.ts';

/**
 * The tenant AI assistant API (seed 002) over the AI module (chat, retrieval, vision), identity
 * (accounts), keys, files (the asset library), tenants and usage. It shares `/api/v1` with the agent
 * service contract (003), so it is served on its own host only (DESIGN.md, "Surfaces").
 */
export const assistantSurface = defineSurface({
  name: 'assistant',
  seed: '002',
  title: 'Tenant AI assistant API',
  description:
    'Self-registration, tenants, accounts with roles, API keys, streaming RAG chat with function calling, the document store synchronised from the asset library, an image estimator, usage and health. Authenticate with `x-api-key` (a secret API key of the tenant). Answers are `{success: true, data}`; errors are `{success: false, error: {code, message}}`.',
  basePath: '/api/v1',
  mainHost: false,
  openapiPath: '/api/v1/openapi.json',
  docsPath: '/api/v1/docs',
  securitySchemes: SECURITY_SCHEMES,
  events: ASSISTANT_EVENTS,
  renderError: renderAssistantError,
  routes: () => {
    const app = surfaceRouter();
    tenantRoutes(app);
    accountFileRoutes(app);
    chatRoutes(app);
    storeRoutes(app);
    estimatorRoutes(app);
    opsRoutes(app);
    return app;
  },
});
