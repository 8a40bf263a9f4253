export { attachWebSockets } from './server.ts';
export { realtimeHub, type TenantStats } from './hub.ts';
