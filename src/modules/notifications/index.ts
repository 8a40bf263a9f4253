export { createNotification, notificationDto, type NotifyInput } from './service.ts';
export { NOTIFICATION_EVENTS } from './events.ts';
