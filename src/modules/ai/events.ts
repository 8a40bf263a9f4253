import type { EventType } from '../../core/events/catalog.ts';
import { RETRIEVAL_EVENTS } from './retrieval/events.ts';

export const AI_EVENTS: readonly EventType[] = [
  ...RETRIEVAL_EVENTS,
];
