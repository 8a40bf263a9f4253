import type { EventType } from '../../core/events/catalog.ts';

export const AI_EVENTS: readonly EventType[] = [];
