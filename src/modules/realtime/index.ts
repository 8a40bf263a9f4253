import { defineModule } from '../../core/module.ts';
import { realtimeRoutes } from './routes.ts';
import { attachWebSockets } from './server.ts';

export { attachWebSockets } from './server.ts';
export { realtimeHub, type TenantStats } from './hub.ts';

export const realtimeModule = defineModule({
  name: 'realtime',
  routes: () => realtimeRoutes(),
  // GET /v1/realtime upgrades go through the app's route, then to the WebSocket hub.
  attach: (server, app) => {
    const wss = attachWebSockets(server, app);
    return { close: () => wss.clients.forEach((client) => client.close(1001, 'Server shutting down')) };
  },
});
