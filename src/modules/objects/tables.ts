import { sql } from 'drizzle-orm';
import {
  boolean,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { createdAt, idColumn, tenantIdColumn, timestamptz, updatedAt } from '../../core/db/columns.ts';

/**
 * The data engine's physical schema: one set of tables for every tenant's types. Nothing here is
 * created per tenant or per type at run time; see records/storage.ts for how records, their typed index and
 * uniqueness fit together.
 */

const tsvector = customType<{ data: string; driverData: string }>({ dataType: () => 'tsvector' });

/** A tenant-defined type of record ("table"). */
export const objectTypes = pgTable(
  'object_types',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    name: text('name').notNull(),
    displayName: text('display_name').notNull(),
    description: text('description'),
    createdBy: text('created_by'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('object_types_tenant_name_idx').on(t.tenantId, t.name)],
);

/** A typed field of an object type. Name and data type never change once created. */
export const properties = pgTable(
  'object_properties',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    objectTypeId: text('object_type_id')
      .notNull()
      .references(() => objectTypes.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    dataType: text('data_type').notNull(),
    isIndexed: boolean('is_indexed').notNull().default(false),
    isSortable: boolean('is_sortable').notNull().default(false),
    isUnique: boolean('is_unique').notNull().default(false),
    isRequired: boolean('is_required').notNull().default(false),
    defaultValue: jsonb('default_value'),
    enumValues: text('enum_values').array(),
    /** Type-specific settings (max_length, min/max, currency_code, target_object_type_id...). */
    options: jsonb('options').$type<Record<string, unknown>>().notNull().default({}),
    description: text('description'),
    position: integer('position').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('object_properties_type_name_idx').on(t.objectTypeId, t.name)],
);

/**
 * The records. `properties` holds every value as JSONB; `search` is the full-text vector of the text
 * properties; `deleted_at` set means the record is in the trash.
 */
export const objects = pgTable(
  'objects',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    // No foreign key: its check would scan every tenant's records on each type deletion. Types are
    // deleted with their records under the type's exclusive lock (types/service.ts), so none is left behind.
    objectTypeId: text('object_type_id').notNull(),
    properties: jsonb('properties').$type<Record<string, unknown>>().notNull().default({}),
    search: tsvector('search'),
    version: integer('version').notNull().default(1),
    createdBy: text('created_by'),
    updatedBy: text('updated_by'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    deletedAt: timestamptz('deleted_at'),
    deletedBy: text('deleted_by'),
  },
  (t) => [
    // Ids are time-sortable, so this one index serves "created_at" order and get-by-type scans.
    index('objects_live_idx').on(t.tenantId, t.objectTypeId, t.id).where(sql`deleted_at is null`),
    index('objects_updated_idx').on(t.tenantId, t.objectTypeId, t.updatedAt, t.id).where(sql`deleted_at is null`),
    index('objects_trash_idx').on(t.tenantId, t.objectTypeId, t.deletedAt, t.id).where(sql`deleted_at is not null`),
    index('objects_search_idx').using('gin', t.search).where(sql`deleted_at is null`),
  ],
);

/**
 * The typed index beside the records: one row per live record and indexed property (one per value
 * for multi-valued properties), with the value in the column of its kind. Real btree indexes over
 * (tenant, property, value, object) serve filters and sorts; `unique_key` under a partial unique index
 * makes the database itself refuse a second record with the same value of a unique property.
 */
export const objectIndex = pgTable(
  'object_index',
  {
    tenantId: tenantIdColumn(),
    objectId: text('object_id')
      .notNull()
      .references(() => objects.id, { onDelete: 'cascade' }),
    propertyId: text('property_id').notNull(),
    /** Position of the value for multi-valued properties; 0 otherwise. */
    ord: smallint('ord').notNull().default(0),
    valueText: text('value_text'),
    valueNum: doublePrecision('value_num'),
    valueTs: timestamptz('value_ts'),
    /** Canonical text of the value when the property is unique; null otherwise. */
    uniqueKey: text('unique_key'),
  },
  (t) => [
    primaryKey({ name: 'object_index_pk', columns: [t.objectId, t.propertyId, t.ord] }),
    index('object_index_text_idx').on(t.tenantId, t.propertyId, t.valueText, t.objectId).where(sql`value_text is not null`),
    index('object_index_num_idx').on(t.tenantId, t.propertyId, t.valueNum, t.objectId).where(sql`value_num is not null`),
    index('object_index_ts_idx').on(t.tenantId, t.propertyId, t.valueTs, t.objectId).where(sql`value_ts is not null`),
    index('object_index_null_idx')
      .on(t.tenantId, t.propertyId, t.objectId)
      .where(sql`value_text is null and value_num is null and value_ts is null`),
    uniqueIndex('object_index_unique_idx').on(t.tenantId, t.propertyId, t.uniqueKey).where(sql`unique_key is not null`),
  ],
);

/** Every superseded state of a record: written when an update replaces version N with N+1. */
export const objectVersions = pgTable(
  'object_versions',
  {
    tenantId: tenantIdColumn(),
    objectId: text('object_id')
      .notNull()
      .references(() => objects.id, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    properties: jsonb('properties').$type<Record<string, unknown>>().notNull(),
    /** Who wrote this version, and when it was written and replaced. */
    updatedBy: text('updated_by'),
    updatedAt: timestamptz('updated_at').notNull(),
    supersededBy: text('superseded_by'),
    supersededAt: createdAt(),
  },
  (t) => [primaryKey({ name: 'object_versions_pk', columns: [t.objectId, t.version] })],
);

/** A labelled, directed link between two records, possibly of different types. */
export const associations = pgTable(
  'object_associations',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    associationType: text('association_type').notNull(),
    fromTypeId: text('from_type_id').notNull(),
    fromId: text('from_id')
      .notNull()
      .references(() => objects.id, { onDelete: 'cascade' }),
    toTypeId: text('to_type_id').notNull(),
    toId: text('to_id')
      .notNull()
      .references(() => objects.id, { onDelete: 'cascade' }),
    meta: jsonb('meta').$type<Record<string, unknown>>().notNull().default({}),
    createdBy: text('created_by'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    // Led by the record id: a record's deletion cascades through them without a scan.
    uniqueIndex('object_associations_edge_idx').on(t.fromId, t.associationType, t.toId),
    index('object_associations_to_idx').on(t.toId, t.associationType, t.fromId),
  ],
);

/** The activity feed of a record. */
export const comments = pgTable(
  'object_comments',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    objectTypeId: text('object_type_id').notNull(),
    objectId: text('object_id')
      .notNull()
      .references(() => objects.id, { onDelete: 'cascade' }),
    body: text('body').notNull(),
    authorType: text('author_type').notNull(),
    authorId: text('author_id'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('object_comments_object_idx').on(t.objectId, t.id)],
);

/** Saved filter, sort and column presets of a type. */
export const views = pgTable(
  'object_views',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    objectTypeId: text('object_type_id')
      .notNull()
      .references(() => objectTypes.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    filters: jsonb('filters').$type<unknown[]>().notNull().default([]),
    sort: jsonb('sort').$type<Record<string, unknown>>().notNull().default({}),
    columns: text('columns').array().notNull().default([]),
    search: text('search'),
    createdBy: text('created_by'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('object_views_type_name_idx').on(t.objectTypeId, t.name)],
);

/** Row-level access policies of a type, enforced for user callers (see policies/access.ts). */
export const policies = pgTable(
  'object_policies',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    objectTypeId: text('object_type_id')
      .notNull()
      .references(() => objectTypes.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    action: text('action').notNull(),
    role: text('role'),
    condition: jsonb('condition_json').$type<Record<string, unknown>>().notNull().default({}),
    enabled: boolean('enabled').notNull().default(true),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('object_policies_type_idx').on(t.objectTypeId)],
);

/** Approval workflows of a type: ordered stages and who may approve each. At most one is enabled. */
export const workflows = pgTable(
  'object_workflows',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    objectTypeId: text('object_type_id')
      .notNull()
      .references(() => objectTypes.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    stages: jsonb('stages').$type<unknown[]>().notNull(),
    enabled: boolean('enabled').notNull().default(true),
    /** Whether whoever submitted a record may also approve it. */
    allowSelfApproval: boolean('allow_self_approval').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('object_workflows_enabled_idx').on(t.objectTypeId).where(sql`enabled`), index('object_workflows_type_idx').on(t.objectTypeId)],
);

/** Where a record stands in its approval workflow, and a change waiting for that approval. */
export const reviews = pgTable(
  'object_reviews',
  {
    objectId: text('object_id')
      .primaryKey()
      .references(() => objects.id, { onDelete: 'cascade' }),
    tenantId: tenantIdColumn(),
    objectTypeId: text('object_type_id').notNull(),
    workflowId: text('workflow_id').notNull(),
    status: text('status').notNull(),
    stageIndex: integer('stage_index').notNull().default(0),
    /** Approvals collected at the current stage: [{actor_type, actor_id}]. */
    approvals: jsonb('approvals').$type<{ actor_type: string; actor_id: string | null }[]>().notNull().default([]),
    pendingChanges: jsonb('pending_changes').$type<Record<string, unknown> | null>(),
    pendingBaseVersion: integer('pending_base_version'),
    submittedByType: text('submitted_by_type'),
    submittedBy: text('submitted_by'),
    submittedAt: timestamptz('submitted_at'),
    updatedAt: updatedAt(),
  },
  (t) => [index('object_reviews_workflow_idx').on(t.workflowId, t.status)],
);

/** The audit trail of a record's reviews: submitted, approved at a stage, rejected, cancelled. */
export const reviewHistory = pgTable(
  'object_review_history',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    objectId: text('object_id')
      .notNull()
      .references(() => objects.id, { onDelete: 'cascade' }),
    workflowId: text('workflow_id').notNull(),
    action: text('action').notNull(),
    stage: text('stage'),
    actorType: text('actor_type').notNull(),
    actorId: text('actor_id'),
    comment: text('comment'),
    createdAt: createdAt(),
  },
  (t) => [index('object_review_history_object_idx').on(t.objectId, t.id)],
);

export type ObjectTypeRow = typeof objectTypes.$inferSelect;
export type PropertyRow = typeof properties.$inferSelect;
export type ObjectRow = typeof objects.$inferSelect;
export type ViewRow = typeof views.$inferSelect;
export type PolicyRow = typeof policies.$inferSelect;
export type WorkflowRow = typeof workflows.$inferSelect;
export type ReviewRow = typeof reviews.$inferSelect;
