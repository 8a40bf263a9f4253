import { createRouter } from '../../core/http/route.ts';
import { mount } from './http.ts';
import { bankOps } from './banks/routes.ts';
import { invoiceOps } from './invoices/routes.ts';
import { ledgerOps } from './ledger/routes.ts';
import { recurringOps } from './recurring/routes.ts';
import { reportOps } from './reports/routes.ts';

/** Every /v1/accounting route, by part. */
export function accountingRoutes() {
  const app = createRouter();
  mount(app, [...ledgerOps, ...invoiceOps, ...bankOps, ...recurringOps, ...reportOps]);
  return app;
}
