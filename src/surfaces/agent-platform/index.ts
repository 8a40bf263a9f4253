import { defineSurface, surfaceRouter } from '../surface.ts';
import { renderProblem, SECURITY_SCHEMES } from './http.ts';
import { connectionRoutes } from './connections.ts';
import { packageRoutes } from './packages.ts';
import { AGENT_PLATFORM_EVENTS, registerRunEvents } from './events.ts';
import { resourceRoutes } from './resources.ts';
import { runRoutes } from './runs.ts';
import { cookieSession, sessionRoutes } from './session.ts';
import { webhookRoutes } from './webhooks.ts';

/**
 * The agent platform API (seed 001) over the agents module: an organization is a Plinth tenant, an
 * application a row of the agents module (no module had the concept), an `ask_` key a Plinth API key
 * bound to one application.
 */
export const agentPlatformSurface = defineSurface({
  name: 'agent-platform',
  seed: '001',
  title: 'Agent platform API',
  description:
    'Applications, agents, runs, schedules, webhooks (run events), end users and application keys, with run streams over SSE. Authenticate with `Authorization: Bearer ask_...` and `X-App-Id` (an application key), an organization credential with `X-Org-Id`, or the dashboard\'s cookie session (`POST /api/auth/sign-in/email`; `X-Org-Id` on requests that change something). Requests without `Appstrate-Version` get the organization\'s pinned version (`PATCH /api/organization/settings`), else the current one. Errors are RFC 9457 `application/problem+json`; every response has `Request-Id`; lists take `page`/`pageSize` and answer `{data, pagination}`; `Appstrate-Version` selects a dated version (current 2026-03-21).',
  basePath: '/api',
  mainHost: true,
  openapiPath: '/api/openapi.json',
  docsPath: '/api/docs',
  securitySchemes: SECURITY_SCHEMES,
  events: AGENT_PLATFORM_EVENTS,
  register: registerRunEvents,
  renderError: renderProblem,
  routes: () => {
    const app = surfaceRouter();
    app.use('/api/*', cookieSession);
    sessionRoutes(app);
    resourceRoutes(app);
    runRoutes(app);
    connectionRoutes(app);
    packageRoutes(app);
    webhookRoutes(app);
    return app;
  },
});
