import type { HttpBindings } from '@hono/node-server';
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal.ts';
import type { Kernel } from '../kernel.ts';

/** Hono's environment for every Plinth route. */
export interface AppEnv {
  Bindings: HttpBindings;
  Variables: {
    kernel: Kernel;
    requestId: string;
    log: Logger;
    principal?: Principal;
    ip?: string;
    /** Set by the route guard; a route's handler may read the principal through it. */
    rateLimited?: boolean;
  };
}
