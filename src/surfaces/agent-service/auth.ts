import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../core/http/context.ts';

/** Placeholder: this part of the agent service contract is being built. */
export function authRoutes(_app: OpenAPIHono<AppEnv>): void {}
