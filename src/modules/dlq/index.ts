import { defineModule } from '../../core/module.ts';
import { DLQ_EVENTS } from './events.ts';
import { dlqRoutes } from './routes.ts';

export {
  addDeadLetter,
  countDeadLetters,
  deleteDeadLetters,
  registerDeadLetterSource,
  resolveDeadLetter,
  type DeadLetterInput,
  type DeadLetterSource,
} from './service.ts';
export type { DeadLetterRow } from './tables.ts';
export { DLQ_EVENTS } from './events.ts';

export const dlqModule = defineModule({ name: 'dlq', events: DLQ_EVENTS, routes: () => dlqRoutes() });
