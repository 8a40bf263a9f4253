export { CUSTOM_EVENT, trackEvent } from './service.ts';
