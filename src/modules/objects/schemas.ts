import { z } from '@hono/zod-openapi';
import { IsoDate } from '../../core/http/envelope.ts';
import { FilterSchema } from './query/filters.ts';
import { DataTypeSchema } from './types/data-types.ts';
import { REVIEW_STATUSES, StageSchema } from './workflows/reviews.ts';

/** Request and response shapes of the data engine's routes, named in the OpenAPI document. */

const NAME = /^[a-z][a-z0-9_]{0,62}$/;
export const TypeName = z
  .string()
  .regex(NAME, 'must start with a letter and use a-z, 0-9 and _ (at most 63 characters)')
  .refine((v) => !v.startsWith('ot_'), { message: 'must not start with ot_ (ids do)' })
  .openapi({ example: 'contacts' });
export const PropertyName = z.string().regex(NAME, 'must start with a letter and use a-z, 0-9 and _ (at most 63 characters)').openapi({ example: 'email' });

const param = (name: string, description: string) => z.string().min(1).max(100).openapi({ param: { name, in: 'path' }, description });

export const TypeParam = z.object({ object_type_id: param('object_type_id', 'Object type id (`ot_...`) or name') });
export const PropertyParams = TypeParam.extend({ property_id: param('property_id', 'Property id') });
export const ObjectParams = TypeParam.extend({ object_id: param('object_id', 'Object id') });
export const ViewParams = TypeParam.extend({ view_id: param('view_id', 'View id') });
export const PolicyParams = TypeParam.extend({ policy_id: param('policy_id', 'Policy id') });
export const WorkflowParams = TypeParam.extend({ workflow_id: param('workflow_id', 'Workflow id') });
export const CommentParams = ObjectParams.extend({ comment_id: param('comment_id', 'Comment id') });

export const ObjectTypeSchema = z
  .object({
    id: z.string().openapi({ example: 'ot_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    tenant_id: z.string(),
    name: z.string().openapi({ example: 'contacts' }),
    display_name: z.string().openapi({ example: 'Contacts' }),
    description: z.string().nullable(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('ObjectType');

export const PropertySchema = z
  .object({
    id: z.string().openapi({ example: 'prop_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    object_type_id: z.string(),
    name: z.string().openapi({ example: 'email' }),
    data_type: DataTypeSchema,
    is_indexed: z.boolean(),
    is_sortable: z.boolean(),
    is_unique: z.boolean(),
    is_required: z.boolean(),
    default_value: z.unknown().nullable(),
    enum_values: z.array(z.string()).nullable(),
    options: z.record(z.string(), z.unknown()),
    description: z.string().nullable(),
    position: z.number().int(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('Property');

export const ObjectTypeWithPropertiesSchema = ObjectTypeSchema.extend({ properties: z.array(PropertySchema) }).openapi('ObjectTypeWithProperties');

export const PropertyOptionsSchema = z
  .object({
    max_length: z.number().int().min(1).optional().openapi({ description: 'string, text: longest value' }),
    min: z.number().optional().openapi({ description: 'integer, number, currency, percent: smallest value' }),
    max: z.number().optional().openapi({ description: 'integer, number, currency, percent: largest value; rating: top of the scale' }),
    currency_code: z.string().optional().openapi({ description: 'currency: ISO 4217 code, default USD' }),
    target_object_type_id: z.string().optional().openapi({ description: 'reference: the type (id or name) referenced records have' }),
  })
  .strict()
  .openapi('PropertyOptions');

export const ObjectSchema = z
  .object({
    id: z.string().openapi({ example: 'obj_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    object_type_id: z.string(),
    tenant_id: z.string(),
    properties: z.record(z.string(), z.unknown()).openapi({ example: { name: 'Acme Corp', email: 'info@acme.com' } }),
    created_at: IsoDate,
    updated_at: IsoDate,
    created_by: z.string().nullable(),
    updated_by: z.string().nullable(),
    version: z.number().int().openapi({ description: 'Starts at 1; every update adds one' }),
    is_deleted: z.boolean(),
    deleted_at: IsoDate.nullable(),
    masked_properties: z.array(z.string()).optional().openapi({ description: 'Properties withheld from you by governance (masked for your role)' }),
  })
  .openapi('Object');

export const ObjectPageSchema = z
  .object({
    results: z.array(ObjectSchema),
    next_cursor: z.string().nullable().openapi({ description: 'Pass as `cursor` for the next page; null on the last page' }),
    total: z.number().int().nullable().openapi({ description: 'Matching records; exact up to 1,000 unless `count=exact` (null with `count=none`)' }),
    total_capped: z.boolean().openapi({ description: 'True when more than 1,000 match and `total` stopped counting' }),
  })
  .openapi('ObjectPage');

export const PropertiesInput = z.record(z.string(), z.unknown()).openapi({
  description: 'Property values by name, validated against the type; null removes a value',
  example: { name: 'Acme Corp', email: 'info@acme.com' },
});

export const VersionSchema = z
  .object({
    object_id: z.string(),
    version: z.number().int(),
    properties: z.record(z.string(), z.unknown()),
    updated_at: IsoDate.openapi({ description: 'When this version was written' }),
    updated_by: z.string().nullable(),
    superseded_at: IsoDate.openapi({ description: 'When the next version replaced it' }),
    superseded_by: z.string().nullable(),
  })
  .openapi('ObjectVersion');

export const BatchItemErrorSchema = z
  .object({
    index: z.number().int(),
    object_id: z.string().optional(),
    code: z.string(),
    message: z.string(),
    issues: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .openapi('BatchItemError');

export const AssociationSchema = z
  .object({
    id: z.string(),
    association_type: z.string(),
    direction: z.enum(['outgoing', 'incoming']).optional(),
    from_type_id: z.string(),
    from_type: z.string().nullable(),
    from_id: z.string(),
    to_type_id: z.string(),
    to_type: z.string().nullable(),
    to_id: z.string(),
    meta: z.record(z.string(), z.unknown()),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('Association');

export const CommentSchema = z
  .object({
    id: z.string(),
    object_id: z.string(),
    object_type_id: z.string(),
    body: z.string(),
    author_type: z.string().openapi({ description: '`user` or `api_key`' }),
    author_id: z.string().nullable(),
    edited: z.boolean(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('Comment');

export const ViewSchema = z
  .object({
    id: z.string(),
    object_type_id: z.string(),
    name: z.string(),
    filters: z.array(FilterSchema),
    sort: z.record(z.string(), z.unknown()),
    columns: z.array(z.string()),
    search: z.string().nullable(),
    created_by: z.string().nullable(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('View');

export const PolicySchema = z
  .object({
    id: z.string(),
    object_type_id: z.string(),
    name: z.string(),
    action: z.enum(['select', 'insert', 'update', 'delete', 'all']),
    role: z.string().nullable(),
    condition_json: z.record(z.string(), z.unknown()),
    enabled: z.boolean(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('Policy');

export const WorkflowSchema = z
  .object({
    id: z.string(),
    object_type_id: z.string(),
    name: z.string(),
    stages: z.array(StageSchema),
    enabled: z.boolean(),
    allow_self_approval: z.boolean(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('Workflow');

export const WorkflowStatusSchema = z
  .object({
    status: z.enum(REVIEW_STATUSES),
    stage: z.string().nullable(),
    stage_index: z.number().int().nullable(),
    workflow_id: z.string().nullable(),
    workflow: z.string().nullable(),
    approvals: z.array(z.object({ actor_type: z.string(), actor_id: z.string().nullable() })),
    required_approvals: z.number().int().nullable(),
    pending_changes: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'A change waiting for this review to be approved' }),
    submitted_by: z.string().nullable(),
    submitted_at: IsoDate.nullable(),
    history: z.array(
      z.object({
        id: z.string(),
        action: z.string().openapi({ description: 'submitted, approved, rejected, cancelled or comment' }),
        stage: z.string().nullable(),
        actor_type: z.string(),
        actor_id: z.string().nullable(),
        comment: z.string().nullable(),
        created_at: IsoDate,
      }),
    ),
  })
  .openapi('WorkflowStatus');

export const Deleted = z.object({ deleted: z.literal(true), id: z.string() });

/** Paging of the cursor lists (records, trash, comments, associations). */
export const Limit = (max: number, dflt: number) => z.coerce.number().int().min(1).max(max).default(dflt).openapi({ description: `Page size, 1..${max}` });
export const Cursor = z.string().max(2000).optional().openapi({ description: 'The `next_cursor` of the previous page' });
export const PageQuery = z.object({ limit: Limit(100, 20), cursor: Cursor });
