import type { EventType } from '../../../core/events/catalog.ts';

/**
 * The platform's event types (the catalogue app.ts builds from every module), known here once the
 * routes are built: `emit_event` may not forge them, and `trigger_event` is checked against them.
 */
const known = new Set<string>(['webhook.test']);

export function setPlatformEvents(types: readonly EventType[]): void {
  for (const t of types) known.add(t.type);
}

export const isPlatformEvent = (type: string) => known.has(type);
