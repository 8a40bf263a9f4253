import { createRouter } from '../../core/http/route.ts';
import { chatRoutes } from './chat/routes.ts';
import { providerRoutes } from './providers/routes.ts';
import { retrievalRoutes } from './retrieval/index.ts';
import { taskRoutes } from './tasks/routes.ts';

export function aiRoutes() {
  const app = createRouter();
  app.route('/', providerRoutes());
  app.route('/', chatRoutes());
  app.route('/', taskRoutes());
  app.route('/', retrievalRoutes());
  return app;
}
