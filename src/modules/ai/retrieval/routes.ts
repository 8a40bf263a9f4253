import { createRouter } from '../../../core/http/route.ts';

/** POST /v1/ai/index and POST /v1/ai/search (mounted by the AI module's routes). */
export function retrievalRoutes() {
  return createRouter();
}
