import type { Context } from 'hono';
import { LRUCache } from 'lru-cache';
import type { TenantContext } from '../../core/context.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { tenantWork } from '../../core/http/work.ts';
import {
  createObject,
  createProperty,
  createType,
  findType,
  getObject,
  listObjects,
  loadSchema,
  updateObject,
  type CreatePropertyInput,
  type ObjectDto,
} from '../../modules/objects/index.ts';

/**
 * The contract's resources are records of the data engine: a customer created here is an object of type
 * `customers` in /v1/objects, with the seed's fields as its properties. Each type is created on the
 * tenant's first use of the surface; a type the tenant made itself gets the properties it lacks.
 */
type Prop = Omit<CreatePropertyInput, 'name'>;
const text: Prop = { data_type: 'string' };
const indexed = (p: Prop): Prop => ({ ...p, is_indexed: true, is_sortable: true });

export const TYPES = {
  customers: {
    description: 'Customers of the field-service API (/api/public/v1/customers)',
    properties: {
      account_type: { data_type: 'enum', enum_values: ['individual', 'business'], is_required: true, is_indexed: true },
      display_name: { ...indexed(text), is_required: true },
      company_name: text,
      first_name: text,
      last_name: text,
      email: { data_type: 'email', is_indexed: true, is_unique: true },
      phone: text,
    },
  },
  appointments: {
    description: 'Service appointments of the field-service API (/api/public/v1/appointments)',
    properties: {
      customer_id: indexed(text),
      status: { data_type: 'enum', enum_values: ['scheduled', 'confirmed', 'in_progress', 'completed', 'cancelled'], is_required: true, is_indexed: true },
      scheduled_start: { ...indexed({ data_type: 'datetime' }), is_required: true },
      scheduled_end: { data_type: 'datetime', is_required: true },
      assigned_team_member_ids: { data_type: 'json' },
      // The same ids joined by spaces: a json list takes no `contains` filter, a text does (technician_id).
      assigned_team: { data_type: 'text' },
    },
  },
  estimates: {
    description: 'Estimates (quotes) of the field-service API (/api/public/v1/estimates)',
    properties: {
      customer_id: indexed(text),
      status: { data_type: 'enum', enum_values: ['draft', 'sent', 'accepted', 'declined'], is_required: true, is_indexed: true },
      currency: text,
      line_items: { data_type: 'json' },
      subtotal_amount: { data_type: 'number' },
      total_amount: { data_type: 'number' },
      sent_at: { data_type: 'datetime' },
    },
  },
  services: {
    description: 'The service catalogue of the field-service API (/api/public/v1/services)',
    properties: {
      name: { ...indexed(text), is_required: true },
      description: { data_type: 'text' },
      price: { data_type: 'number' },
      duration_minutes: { data_type: 'integer' },
      is_active: { data_type: 'boolean', is_indexed: true, default_value: true },
      service_type: { ...text, is_indexed: true },
    },
  },
} satisfies Record<string, { description: string; properties: Record<string, Prop> }>;

export type TypeName = keyof typeof TYPES;

/**
 * Tenants whose types this process made sure of lately. A tenant may delete such a type through
 * /v1/object-types; it is made again on the first use after this short memory lapses.
 */
const ensured = new LRUCache<string, true>({ max: 50_000, ttl: 30_000 });

/**
 * Makes sure the tenant has the type and its properties. Runs in its own transaction before the
 * request's work: two first uses at once collide on the type's unique name, and the loser finds the
 * winner's complete type when it looks again.
 */
async function ensureType(c: Context<AppEnv>, name: TypeName): Promise<void> {
  const tenant = (c.get('principal') as { tenant: { id: string } }).tenant.id;
  const key = `${tenant}:${name}`;
  if (ensured.has(key)) return;
  const make = () =>
    tenantWork(
      c,
      async (ctx) => {
        const def = TYPES[name];
        if (!(await findType(ctx.db, ctx.tenantId, name))) await createType(ctx, { name, description: def.description });
        const schema = await getSchemaNames(ctx, name);
        for (const [prop, p] of Object.entries(def.properties)) {
          if (!schema.has(prop)) await createProperty(ctx, name, { name: prop, ...(p as Prop) });
        }
      },
      { write: true, audit: false },
    );
  try {
    await make();
  } catch (error) {
    if (!(error instanceof ApiError && error.code === 'ALREADY_EXISTS')) throw error;
    await make();
  }
  ensured.set(key, true);
}

async function getSchemaNames(ctx: TenantContext, name: string): Promise<Set<string>> {
  const schema = await loadSchema(ctx, name);
  return new Set(schema.props.map((p) => p.name));
}

/** Runs the request's work after its types exist (invoices read payments). */
export async function withType<T>(c: Context<AppEnv>, names: TypeName | TypeName[], fn: (ctx: TenantContext) => Promise<T>): Promise<T> {
  for (const name of Array.isArray(names) ? names : [names]) await ensureType(c, name);
  return tenantWork(c, fn);
}

export interface Filter {
  property: string;
  op: 'eq' | 'gte' | 'lte' | 'contains' | 'in';
  value: unknown;
}

/** One page of a type's records, newest first, the data engine's cursor passed through. */
export async function pageOf(ctx: TenantContext, type: TypeName, q: { limit: number; cursor?: string; search?: string }, filters: Filter[]) {
  const page = await listObjects(ctx, type, {
    limit: q.limit,
    cursor: q.cursor,
    filters: filters.length ? JSON.stringify(filters) : undefined,
    search: q.search,
    count: 'none',
  });
  return { records: page.results, next_cursor: page.next_cursor ?? null };
}

/** A record by its Plinth id; another tenant's (or a missing) record is 404 in the contract's words. */
export async function recordOf(ctx: TenantContext, type: TypeName, id: string, what: string): Promise<ObjectDto> {
  try {
    return await getObject(ctx, type, id);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'NOT_FOUND') throw new ApiError('NOT_FOUND', `${what} not found`);
    throw error;
  }
}

export const create = (ctx: TenantContext, type: TypeName, properties: Record<string, unknown>) => createObject(ctx, type, { properties });
/** Changes a record; a type whose changes need approval (governance) keeps the record as it was until approved. */
export const update = async (ctx: TenantContext, type: TypeName, id: string, properties: Record<string, unknown>) =>
  (await updateObject(ctx, type, id, { properties })).object;
