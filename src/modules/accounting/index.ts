import { defineModule } from '../../core/module.ts';
import { ACCOUNTING_EVENTS } from './events.ts';
import { RECURRING_JOB, runDueRecurring } from './recurring/service.ts';
import { accountingRoutes } from './routes.ts';

export { ACCOUNTING_EVENTS } from './events.ts';
export {
  approveInvoice,
  createInvoice,
  getInvoice,
  getPayment,
  listInvoices,
  listPayments,
  salesSetup,
  type InvoiceInput,
} from './invoices/service.ts';

/**
 * Double-entry accounting (issue 16): chart of accounts, journal entries, periods, currencies and rates,
 * tax codes, invoices and payments, banks, recurring templates and reports, under /v1/accounting.
 */
export const accountingModule = defineModule({
  name: 'accounting',
  events: ACCOUNTING_EVENTS,
  register: (kernel) => {
    // Recurring templates: due occurrences every 5 minutes; each runs exactly once (see executeRecurring).
    kernel.jobs.define(RECURRING_JOB, { retryLimit: 1, handler: async () => void (await runDueRecurring(kernel)) });
    void kernel.jobs.schedule(RECURRING_JOB, '*/5 * * * *');
  },
  routes: () => accountingRoutes(),
});
