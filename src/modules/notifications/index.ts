export { createNotification, deleteUserNotifications, exportUserNotifications, notificationDto, type NotifyInput } from './service.ts';
export { NOTIFICATION_EVENTS } from './events.ts';
