export { ERROR_REPORT_EVENTS } from './events.ts';
export { reportError, type ErrorReport } from './service.ts';
