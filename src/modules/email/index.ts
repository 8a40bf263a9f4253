export { sendEmail, type SendEmailInput } from './service.ts';
export { EMAIL_TEMPLATES, renderEmail } from './templates.ts';
export { EMAIL_EVENTS } from './events.ts';
