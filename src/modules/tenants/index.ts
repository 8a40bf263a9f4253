import { defineModule } from '../../core/module.ts';
import { TENANT_EVENTS } from './events.ts';
import { tenantsRoutes } from './routes.ts';

export {
  createTenant,
  findTenant,
  getTenant,
  listTenants,
  tenantDto,
  tenantsByIds,
  tenantsByOwnerEmail,
  toSnapshot,
  updateTenant,
  accountSettingsOf,
  updateAccountSettings,
  pinApiVersion,
  recordContactMessage,
  type AccountSettingsUpdate,
  type ContactInput,
  type CreateTenantInput,
  type UpdateTenantInput,
} from './service.ts';
export { PLANS, PLAN_TIERS, effectiveLimits } from './plans.ts';
export type { BillingContact, SignupPolicy, TenantRow, TenantSettings } from './tables.ts';
export { TENANT_EVENTS } from './events.ts';

export const tenantsModule = defineModule({
  name: 'tenants',
  events: TENANT_EVENTS,
  // Provisioning (keys), config sections and lookups (identity), storage (files) come from other modules.
  routes: ({ hooks }) =>
    tenantsRoutes({
      provision: hooks.provisionTenant,
      configSections: hooks.tenantConfig,
      lookupSources: hooks.tenantLookup,
      storageUsed: async (ctx) => {
        let total = 0;
        for (const used of hooks.storageUsed) total += await used(ctx);
        return total;
      },
    }),
});
