import { createRouter } from '../../core/http/route.ts';
import type { ModuleWiring } from '../../core/module.ts';
import { setPlatformEvents } from './actions/platform-events.ts';
import { automationRoutes } from './automations/routes.ts';
import { functionRoutes } from './functions/routes.ts';
import { integrationRoutes } from './integrations/routes.ts';
import { pluginRoutes } from './plugins/routes.ts';
import { scheduleRoutes } from './schedules/routes.ts';

export function automationsRoutes(wiring: ModuleWiring) {
  setPlatformEvents(wiring.events);
  const app = createRouter();
  for (const part of [automationRoutes(), scheduleRoutes(), functionRoutes(), integrationRoutes(), pluginRoutes()]) app.route('/', part);
  return app;
}
