import { defineModule } from '../../core/module.ts';
import { eventsRoutes } from './routes.ts';

export { CUSTOM_EVENT, trackEvent } from './service.ts';
export { eventStream } from './stream.ts';

/** Custom events, the outbox list, the SSE stream and the event catalogue (every module's types). */
export const eventsModule = defineModule({ name: 'events', routes: ({ events }) => eventsRoutes({ catalog: events }) });
