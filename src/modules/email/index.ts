import { defineModule } from '../../core/module.ts';
import { EMAIL_EVENTS } from './events.ts';
import { emailRoutes } from './routes.ts';

export { sendEmail, type SendEmailInput } from './service.ts';
export { EMAIL_TEMPLATES, renderEmail } from './templates.ts';
export { EMAIL_EVENTS } from './events.ts';

export const emailModule = defineModule({ name: 'email', events: EMAIL_EVENTS, routes: () => emailRoutes() });
