import { createRouter } from '../../core/http/route.ts';
import { retrievalRoutes } from './retrieval/index.ts';

export function aiRoutes() {
  const app = createRouter();
  app.route('/', retrievalRoutes());
  return app;
}
