import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { TenantContext } from '../../core/context.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import type { ObjectDto } from '../../modules/objects/index.ts';
import { surfaceRoute } from '../surface.ts';
import { CONFLICT_ERROR, dataOf, DateTime, ERRORS, fieldRoute, idFrom, listQuery, NOT_FOUND_ERROR, pageOf, Uuid } from './http.ts';
import { toUuid } from './ids.ts';
import { create, pageOf as recordsPage, recordOf, withType, type Filter } from './records.ts';

const TAGS = ['Customers'];

export const CustomerSchema = z
  .object({
    id: Uuid,
    organization_id: Uuid,
    account_type: z.enum(['individual', 'business']),
    display_name: z.string(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    created_at: DateTime,
  })
  .openapi('Customer', {
    example: {
      id: '8af2ca8e-8f31-4e6e-a46c-0703b61f7ca3',
      organization_id: 'dce3853d-4f94-4bc8-a816-4d0d74c11a9d',
      account_type: 'business',
      display_name: 'North Harbor Facilities',
      email: 'ops@northerborfacilities.com',
      phone: '+1-404-555-0128',
      created_at: '2026-03-18T15:40:12.000Z',
    },
  });

const CreateCustomer = z
  .object({
    account_type: z.enum(['individual', 'business']),
    display_name: z.string().trim().min(1).max(200),
    company_name: z.string().max(200).optional(),
    first_name: z.string().max(100).optional(),
    last_name: z.string().max(100).optional(),
    email: z.string().email().max(254).optional(),
    phone: z.string().max(40).optional(),
  })
  .openapi('CreateCustomerRequest');

/** A stored record as the contract's customer. */
export function customerOf(r: ObjectDto, organizationId: string) {
  const p = r.properties as Record<string, unknown>;
  return {
    id: toUuid(r.id),
    organization_id: organizationId,
    account_type: (p.account_type as 'individual' | 'business') ?? 'individual',
    display_name: String(p.display_name ?? ''),
    email: (p.email as string | undefined) ?? null,
    phone: (p.phone as string | undefined) ?? null,
    created_at: r.created_at,
  };
}

const org = (ctx: TenantContext) => toUuid(ctx.tenantId);

const list = surfaceRoute(
  {
    method: 'get',
    path: '/api/public/v1/customers',

    operationId: 'customers_list',
    tags: TAGS,
    summary: 'List customers',
    description: 'List customers in the active organization with filtering and pagination, newest first. Requires `read:customers`.',
    request: {
      query: listQuery({
        email: z.string().max(254).optional().openapi({ description: 'Exact email' }),
        account_type: z.enum(['individual', 'business']).optional(),
        search: z.string().max(200).optional().openapi({ description: 'Full-text search over names, email and phone' }),
      }),
    },
    responses: { 200: pageOf(CustomerSchema, 'A page of customers'), ...ERRORS },
  },
  fieldRoute('read:customers'),
);

const createRoute = surfaceRoute(
  {
    method: 'post',
    path: '/api/public/v1/customers',

    operationId: 'customers_create',
    tags: TAGS,
    summary: 'Create customer',
    description:
      'Create a customer with organization-scoped identity and contact data. It is a record of the `customers` object type (GET /v1/objects/customers) and emits `customer.created`. Requires `write:customers`.',
    request: { body: { content: { 'application/json': { schema: CreateCustomer } }, required: true } },
    responses: { 201: dataOf(CustomerSchema, 'The customer'), ...ERRORS, ...CONFLICT_ERROR('A customer of this organization already has this email (`field`: email)') },
  },
  fieldRoute('write:customers'),
);

const get = surfaceRoute(
  {
    method: 'get',
    path: '/api/public/v1/customers/{customerId}',

    operationId: 'customers_get',
    tags: TAGS,
    summary: 'Get customer',
    description: 'Retrieve one customer. Requires `read:customers`.',
    request: { params: z.object({ customerId: z.string().max(64).openapi({ param: { name: 'customerId', in: 'path' }, format: 'uuid' }) }) },
    responses: { 200: dataOf(CustomerSchema, 'The customer'), ...ERRORS, ...NOT_FOUND_ERROR },
  },
  fieldRoute('read:customers'),
);

/** The Plinth id of a customer the caller names by UUID in a body (404 naming the field when it is not one of theirs). */
export async function customerRef(ctx: TenantContext, uuid: string, field = 'customer_id'): Promise<string> {
  const id = idFrom('obj', uuid, 'Customer');
  try {
    await recordOf(ctx, 'customers', id, 'Customer');
  } catch (error) {
    if (error instanceof ApiError && error.code === 'NOT_FOUND') {
      throw new ApiError('NOT_FOUND', 'Customer not found', { details: { field, issues: [{ field, message: 'No customer with this id in this organization' }] } });
    }
    throw error;
  }
  return id;
}

export function customerRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const filters: Filter[] = [];
    if (q.email) filters.push({ property: 'email', op: 'eq', value: q.email.toLowerCase() });
    if (q.account_type) filters.push({ property: 'account_type', op: 'eq', value: q.account_type });
    const page = await withType(c, 'customers', (ctx) => recordsPage(ctx, 'customers', q, filters).then((p) => ({ ...p, org: org(ctx) })));
    const data = page.records.map((r) => customerOf(r, page.org));
    return c.json({ data, pagination: { count: data.length, limit: q.limit, next_cursor: page.next_cursor } }, 200);
  });

  app.openapi(createRoute, async (c) => {
    const body = c.req.valid('json');
    const customer = await withType(c, 'customers', async (ctx) => {
      const email = body.email?.toLowerCase();
      if (email) {
        const existing = await recordsPage(ctx, 'customers', { limit: 1 }, [{ property: 'email', op: 'eq', value: email }]);
        if (existing.records.length) throw duplicateEmail();
      }
      let record: ObjectDto;
      try {
        record = await create(ctx, 'customers', { ...body, ...(email ? { email } : {}) });
      } catch (error) {
        // Two creates racing with one email: the unique index decides.
        if (error instanceof ApiError && error.code === 'ALREADY_EXISTS') throw duplicateEmail();
        throw error;
      }
      return customerOf(record, org(ctx));
    });
    return c.json({ data: customer }, 201);
  });

  app.openapi(get, async (c) => {
    const id = idFrom('obj', c.req.valid('param').customerId, 'Customer');
    const data = await withType(c, 'customers', async (ctx) => customerOf(await recordOf(ctx, 'customers', id, 'Customer'), org(ctx)));
    return c.json({ data }, 200);
  });
}

const duplicateEmail = () => new ApiError('ALREADY_EXISTS', 'Customer email already exists in this organization', { details: { field: 'email' } });
