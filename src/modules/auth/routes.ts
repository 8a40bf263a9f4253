import { createRouter } from '../../core/http/route.ts';
import { authConfigRoutes } from './config/routes.ts';
import { authRoutes, type AuthRoutesOptions } from './flows/routes.ts';
import { mfaRoutes } from './mfa/routes.ts';
import { passkeyRoutes } from './passkeys/routes.ts';
import { sessionRoutes } from './sessions/routes.ts';
import { ssoRoutes } from './sso/routes.ts';
import { usersRoutes } from './users/routes.ts';
import type { UserLifecycleHooks } from './users/service.ts';

/** Identity's HTTP surface: /v1/users, /v1/auth-config and /v1/auth/... (flows, MFA, sessions, passkeys, SSO). */
export function identityRoutes(options: UserLifecycleHooks & AuthRoutesOptions = {}) {
  const app = createRouter();
  app.route('/', usersRoutes({ dependencies: options.dependencies, onDelete: options.onDelete }));
  app.route('/', authConfigRoutes());
  app.route('/', authRoutes({ exportSources: options.exportSources }));
  app.route('/', mfaRoutes());
  app.route('/', sessionRoutes());
  app.route('/', passkeyRoutes());
  app.route('/', ssoRoutes());
  return app;
}
