import { defineModule } from '../../core/module.ts';
import { INSIGHTS_EVENTS } from './events.ts';
import { registerEventRollup } from './analytics/rollup.ts';
import { registerInsightsJobs } from './reports/saved.ts';
import { registerRollups } from './reports/rollups.ts';
import type { Kernel } from '../../core/kernel.ts';
import { insightsRoutes } from './routes.ts';

/** What other modules may use of insights: running a report definition, and a tenant's branding. */
export { runReport, parseReport, REPORT_TYPES, type ReportType } from './reports/engine.ts';
export { getBranding } from './branding/service.ts';

export const insightsModule = defineModule({
  name: 'insights',
  events: INSIGHTS_EVENTS,
  register: (kernel: Kernel) => {
    registerInsightsJobs(kernel);
    registerEventRollup(kernel);
    registerRollups(kernel);
  },
  routes: () => insightsRoutes(),
});
