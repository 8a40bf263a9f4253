import { createRouter } from '../../core/http/route.ts';
import { mount } from './http.ts';
import { invoiceOps } from './invoices/routes.ts';
import { ledgerOps } from './ledger/routes.ts';
import { reportOps } from './reports/routes.ts';

/** Every /v1/accounting route, by part. */
export function accountingRoutes() {
  const app = createRouter();
  mount(app, [...ledgerOps, ...invoiceOps, ...reportOps]);
  return app;
}
