import type { Kernel } from '../../../core/kernel.ts';

export { retrievalRoutes } from './routes.ts';

/** Jobs and outbox consumers of the vector index (re-indexing from object events, file extraction). */
export function registerRetrieval(_kernel: Kernel): void {}
