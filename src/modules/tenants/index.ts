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
  type CreateTenantInput,
  type UpdateTenantInput,
} from './service.ts';
export { PLANS, PLAN_TIERS, effectiveLimits } from './plans.ts';
export type { TenantRow, TenantSettings } from './tables.ts';
export { TENANT_EVENTS } from './events.ts';
