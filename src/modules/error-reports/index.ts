import { defineModule } from '../../core/module.ts';
import { ERROR_REPORT_EVENTS } from './events.ts';
import { errorReportsRoutes } from './routes.ts';

export { ERROR_REPORT_EVENTS } from './events.ts';
export { reportError, type ErrorReport } from './service.ts';

export const errorReportsModule = defineModule({ name: 'error-reports', events: ERROR_REPORT_EVENTS, routes: () => errorReportsRoutes() });
