import { defineEvents, z } from '../../core/events/catalog.ts';

export const NOTIFICATION_EVENTS = defineEvents('notification', {
  'notification.created': {
    description: 'A user got an in-app notification (realtime: the user\'s `notifications` channel)',
    payload: z.object({ user_id: z.string(), notification_id: z.string(), type: z.string(), category: z.string(), title: z.string() }),
  },
  'notification.read': {
    description: 'A user read a notification (keeps unread badges in step across their devices)',
    payload: z.object({ user_id: z.string(), notification_id: z.string() }),
  },
  'notification.read_all': {
    description: 'A user marked all their notifications read',
    payload: z.object({ user_id: z.string(), updated: z.number() }),
  },
});
