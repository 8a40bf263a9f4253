import { createRouter } from '../../core/http/route.ts';
import { analyticsRoutes } from './analytics/routes.ts';
import { brandingRoutes } from './branding/routes.ts';
import { dashboardsRoutes } from './dashboards/routes.ts';
import { formsRoutes } from './forms/routes.ts';
import { reportsRoutes } from './reports/routes.ts';
import { shortUrlRoutes } from './short-urls/routes.ts';
import { sqlRoutes } from './sql/routes.ts';

/** Reports, saved reports, dashboards, forms, analytics, read-only SQL, branding and short URLs. */
export function insightsRoutes() {
  const app = createRouter();
  app.route('/', reportsRoutes());
  app.route('/', dashboardsRoutes());
  app.route('/', formsRoutes());
  app.route('/', analyticsRoutes());
  app.route('/', sqlRoutes());
  app.route('/', brandingRoutes());
  app.route('/', shortUrlRoutes());
  return app;
}
