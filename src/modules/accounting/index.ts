import { defineModule } from '../../core/module.ts';
import { ACCOUNTING_EVENTS } from './events.ts';
import { accountingRoutes } from './routes.ts';

export { ACCOUNTING_EVENTS } from './events.ts';

/**
 * Double-entry accounting (issue 16): chart of accounts, journal entries, periods, currencies and rates,
 * tax codes, invoices and payments, banks, recurring templates and reports, under /v1/accounting.
 */
export const accountingModule = defineModule({ name: 'accounting', events: ACCOUNTING_EVENTS, routes: () => accountingRoutes() });
