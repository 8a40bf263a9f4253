import { defineModule } from '../../core/module.ts';
import { systemRoutes } from './routes.ts';

export { docsPage, serveDocsScript } from './routes.ts';

/** The landing page, docs, OpenAPI document, health and readiness. */
export const systemModule = defineModule({ name: 'system', routes: ({ document, surfaces }) => systemRoutes(document, surfaces) });
