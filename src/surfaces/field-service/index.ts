import { defineSurface, surfaceRouter } from '../surface.ts';
import { appointmentRoutes } from './appointments.ts';
import { billingRoutes } from './billing.ts';
import { catalogRoutes } from './catalog.ts';
import { customerRoutes } from './customers.ts';
import { estimateRoutes } from './estimates.ts';
import { FIELD_SERVICE_EVENTS } from './events.ts';
import { renderFieldError, SECURITY_SCHEMES } from './http.ts';
import { registerLifecycle } from './lifecycle.ts';

/** The field-service public API (seed 000) over the data engine, files and mail. */
export const fieldServiceSurface = defineSurface({
  name: 'field-service',
  seed: '000',
  title: 'Field-service public API',
  description:
    'Customers, appointments, estimates, invoices, payments, services and files of an organization. Authenticate with `x-api-key` (a secret API key of the organization) and `x-organization-id`. Bodies are `{data}`; lists are `{data, pagination:{count, limit, next_cursor}}`; errors are `{error, issues?, missingScopes?, field?, limit?, window?}`.',
  basePath: '/api/public/v1',
  mainHost: true,
  openapiPath: '/api/public/v1/openapi.json',
  docsPath: '/api/public/v1/docs',
  securitySchemes: SECURITY_SCHEMES,
  events: FIELD_SERVICE_EVENTS,
  register: registerLifecycle,
  renderError: renderFieldError,
  routes: () => {
    const app = surfaceRouter();
    customerRoutes(app);
    appointmentRoutes(app);
    estimateRoutes(app);
    billingRoutes(app);
    catalogRoutes(app);
    return app;
  },
});
