import { defineModule } from '../../core/module.ts';
import { NOTIFICATION_EVENTS } from './events.ts';
import { notificationsRoutes } from './routes.ts';
import { deleteUserNotifications, exportUserNotifications } from './service.ts';

export { createNotification, deleteUserNotifications, exportUserNotifications, notificationDto, type NotifyInput } from './service.ts';
export { NOTIFICATION_EVENTS } from './events.ts';

export const notificationsModule = defineModule({
  name: 'notifications',
  events: NOTIFICATION_EVENTS,
  hooks: { userDeleted: deleteUserNotifications, userExport: exportUserNotifications },
  routes: () => notificationsRoutes(),
});
