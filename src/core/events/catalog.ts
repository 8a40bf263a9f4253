import { z } from '@hono/zod-openapi';

export interface EventType {
  type: string;
  description: string;
  resource_type: string;
  /** The shape of the event's `data`. */
  payload: z.ZodType;
}

/**
 * Each module declares the events it emits in its events.ts; app.ts joins the lists into the catalog
 * that GET /events/types serves and that tests check every emitted type against.
 */
export function defineEvents(resourceType: string, types: Record<string, { description: string; payload: z.ZodType }>): EventType[] {
  return Object.entries(types).map(([type, def]) => ({ type, resource_type: resourceType, ...def }));
}

export { z };
