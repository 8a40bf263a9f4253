import { defineModule } from '../../core/module.ts';
import { DATA_ENGINE_EVENTS } from './events.ts';
import { checkGovernance } from './governance-check.ts';
import { registerObjectJobs } from './records/retention.ts';
import { objectsRoutes } from './routes.ts';

/** What other modules may use of the data engine. */
export { accessFor, subjectOf, type Access, type Subject } from './policies/access.ts';
export { DATA_TYPES, valueFromText, type DataType, type PropertyDef } from './types/data-types.ts';
export { DATA_ENGINE_EVENTS } from './events.ts';
export { createObject, deleteObject, getObject, insertPrepared, listObjects, objectDto, parseListFilters, schemaForWrite, updateObject, type CreateInput, type ObjectDto } from './records/service.ts';
export { queryObjects, resolveSort, type ObjectRecord } from './query/service.ts';
export { objectRef, objectTypeRef } from './records/references.ts';
export { createProperty, createType, findType, loadSchema, requireType, type CreatePropertyInput, type TypeSchema } from './types/service.ts';
export { changesVisibility, eventVisibility, VISIBILITY_TTL_MS, type EventFilter } from './policies/visibility.ts';

export const objectsModule = defineModule({
  name: 'objects',
  events: DATA_ENGINE_EVENTS,
  register: registerObjectJobs,
  hooks: { governanceValidator: checkGovernance },
  routes: () => objectsRoutes(),
});
