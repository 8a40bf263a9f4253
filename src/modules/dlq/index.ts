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
