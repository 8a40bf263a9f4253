import { defineEvents, z } from '../../core/events/catalog.ts';

/** Every event of the data engine names the object type (`object_type_id`, `object_type`). */
const ofType = { object_type_id: z.string(), object_type: z.string() };

export const OBJECT_TYPE_EVENTS = defineEvents('object_type', {
  'object_type.created': { description: 'An object type was created', payload: z.object(ofType) },
  'object_type.updated': {
    description: 'An object type was renamed or described',
    payload: z.object({ ...ofType, previous_name: z.string(), changes: z.array(z.string()) }),
  },
  'object_type.deleted': {
    description: 'An object type was deleted with its records',
    payload: z.object({ ...ofType, objects_deleted: z.number(), cascaded: z.boolean() }),
  },
});

const propertyPayload = { ...ofType, property_id: z.string(), name: z.string(), data_type: z.string() };

export const PROPERTY_EVENTS = defineEvents('property', {
  'property.created': { description: 'A property was added to an object type', payload: z.object(propertyPayload) },
  'property.updated': { description: 'A property\'s settings changed', payload: z.object({ ...propertyPayload, changes: z.array(z.string()) }) },
  'property.deleted': { description: 'A property was deleted; its values stay untyped', payload: z.object(propertyPayload) },
});

/** Set only on a user's SSE or WebSocket copy of an event: the properties masked from their role, left out of `properties`. */
const maskedProperties = z.array(z.string()).optional();

export const OBJECT_EVENTS = defineEvents('object', {
  'object.created': {
    description: 'A record was created (also by batch and import: `source`)',
    payload: z.object({ ...ofType, version: z.number(), properties: z.record(z.string(), z.unknown()), source: z.string().optional(), masked_properties: maskedProperties }),
  },
  'object.updated': {
    description: 'A record was updated to a new version (`approved_via` when a workflow approved the change)',
    payload: z.object({
      ...ofType,
      version: z.number(),
      changes: z.array(z.string()),
      properties: z.record(z.string(), z.unknown()),
      approved_via: z.string().optional(),
      masked_properties: maskedProperties,
    }),
  },
  'object.deleted': {
    description: 'A record was moved to the trash, or deleted for good (`permanent`)',
    payload: z.object({ ...ofType, permanent: z.boolean(), reason: z.string().optional() }),
  },
  'object.restored': { description: 'A record was restored from the trash', payload: z.object({ ...ofType, version: z.number() }) },
});

const associationPayload = z.object({
  ...ofType,
  association_type: z.string(),
  from_id: z.string(),
  to_type_id: z.string(),
  to_type: z.string(),
  to_id: z.string(),
});

export const ASSOCIATION_EVENTS = defineEvents('association', {
  'association.created': { description: 'Two records were linked (object_type is the source\'s)', payload: associationPayload },
  'association.updated': { description: 'A link\'s meta was replaced', payload: associationPayload },
  'association.deleted': { description: 'A link was removed', payload: associationPayload },
});

const commentPayload = z.object({ ...ofType, object_id: z.string(), comment_id: z.string() });

export const COMMENT_EVENTS = defineEvents('comment', {
  'comment.created': { description: 'A comment was added to a record', payload: commentPayload },
  'comment.updated': { description: 'A comment was edited', payload: commentPayload },
  'comment.deleted': { description: 'A comment was deleted', payload: commentPayload },
});

const policyPayload = z.object({
  ...ofType,
  policy_id: z.string(),
  name: z.string(),
  action: z.string(),
  role: z.string().nullable(),
  enabled: z.boolean(),
  changes: z.array(z.string()).optional(),
});

export const POLICY_EVENTS = defineEvents('policy', {
  'policy.created': { description: 'An access policy was created', payload: policyPayload },
  'policy.updated': { description: 'An access policy changed', payload: policyPayload },
  'policy.deleted': { description: 'An access policy was deleted', payload: policyPayload },
});

const definitionPayload = z.object({
  ...ofType,
  workflow_id: z.string(),
  name: z.string(),
  enabled: z.boolean(),
  stages: z.array(z.string()),
  changes: z.array(z.string()).optional(),
});

const reviewPayload = {
  ...ofType,
  object_id: z.string(),
  workflow_id: z.string(),
  workflow: z.string(),
  stage: z.string().nullable(),
};

export const WORKFLOW_EVENTS = defineEvents('workflow', {
  'workflow.created': { description: 'An approval workflow was defined', payload: definitionPayload },
  'workflow.updated': { description: 'An approval workflow changed', payload: definitionPayload },
  'workflow.deleted': { description: 'An approval workflow was deleted', payload: definitionPayload },
  'workflow.submitted': {
    description: 'A record was submitted for review (by hand, or by a change held for approval: `pending_changes`)',
    payload: z.object({ ...reviewPayload, pending_changes: z.array(z.string()) }),
  },
  'workflow.stage_approved': {
    description: 'An approval was recorded at a stage; `next_stage` is set when the review moved on',
    payload: z.object({ ...reviewPayload, approvals: z.number(), required_approvals: z.number(), next_stage: z.string().nullable(), comment: z.string().nullable() }),
  },
  'workflow.approved': {
    description: 'A review passed its last stage; a held change was applied (`applied_changes`)',
    payload: z.object({ ...reviewPayload, approvals: z.number(), required_approvals: z.number(), applied_changes: z.array(z.string()), comment: z.string().nullable() }),
  },
  'workflow.rejected': {
    description: 'A review was rejected; a held change was dropped',
    payload: z.object({ ...reviewPayload, reason: z.string().nullable(), dropped_changes: z.array(z.string()) }),
  },
  'workflow.cancelled': { description: 'A review was cancelled (its workflow was deleted)', payload: z.object({ ...reviewPayload, reason: z.string() }) },
});

export const DATA_ENGINE_EVENTS = [
  ...OBJECT_TYPE_EVENTS,
  ...PROPERTY_EVENTS,
  ...OBJECT_EVENTS,
  ...ASSOCIATION_EVENTS,
  ...COMMENT_EVENTS,
  ...POLICY_EVENTS,
  ...WORKFLOW_EVENTS,
];
