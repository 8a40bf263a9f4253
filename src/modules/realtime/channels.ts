import { EVENT_PATTERN, objectTypeOf } from '../../core/events/format.ts';
import type { OutboxEvent } from '../../core/events/outbox.ts';

/**
 * Realtime channels: `objects` and `objects:<type_id>` (object events of one type; the hub resolves a
 * type's name to its id before subscribing), `files` and
 * `files:<folder>` (file events in that folder or below it), `notifications` (the connected user's
 * own), and any event type pattern (`object.created`, `user.*`, `*`).
 */
export type Channel =
  | { kind: 'objects'; typeId: string | null }
  | { kind: 'files'; folder: string | null }
  | { kind: 'notifications' }
  | { kind: 'type'; pattern: string };

export const MAX_CHANNEL_LENGTH = 300;

export function parseChannel(raw: string): Channel | null {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_CHANNEL_LENGTH) return null;
  if (raw === 'objects') return { kind: 'objects', typeId: null };
  if (raw === 'files') return { kind: 'files', folder: null };
  if (raw === 'notifications') return { kind: 'notifications' };
  if (raw.startsWith('objects:')) {
    const typeId = raw.slice('objects:'.length);
    return /^[A-Za-z0-9_-]{1,100}$/.test(typeId) ? { kind: 'objects', typeId } : null;
  }
  if (raw.startsWith('files:')) {
    const folder = normalizeFolder(raw.slice('files:'.length));
    return folder ? { kind: 'files', folder } : null;
  }
  return EVENT_PATTERN.test(raw) ? { kind: 'type', pattern: raw } : null;
}

function normalizeFolder(folder: string): string | null {
  // Trimmed by index: `\/+$` retries every slash of a run, quadratic in its length.
  let start = 0;
  let end = folder.length;
  while (start < end && folder[start] === '/') start++;
  while (end > start && folder[end - 1] === '/') end--;
  const trimmed = folder.slice(start, end);
  if (!trimmed || /[\u0000-\u001f]/.test(trimmed)) return null;
  return trimmed;
}

const isObjectEvent = (e: OutboxEvent) => e.resourceType === 'object' || e.type.startsWith('object.');
const isFileEvent = (e: OutboxEvent) => e.resourceType === 'file' || e.type.startsWith('file.');

function folderOf(e: OutboxEvent): string | null {
  const value = e.data.folder;
  return typeof value === 'string' ? normalizeFolder(value) : null;
}

/** The channel names an event is published on, in the order a subscriber's match is reported. */
export function channelsOf(event: OutboxEvent): string[] {
  const names: string[] = [];
  if (isObjectEvent(event)) {
    const typeId = objectTypeOf(event.data);
    if (typeId) names.push(`objects:${typeId}`);
    names.push('objects');
  }
  if (isFileEvent(event)) {
    const folder = folderOf(event);
    if (folder) {
      // A folder's channel hears its subfolders too: files:reports hears files:reports/2026.
      const parts = folder.split('/');
      for (let i = parts.length; i > 0; i--) names.push(`files:${parts.slice(0, i).join('/')}`);
    }
    names.push('files');
  }
  if (event.type.startsWith('notification.')) names.push('notifications');
  names.push(event.type);
  const parts = event.type.split('.');
  for (let i = parts.length - 1; i > 0; i--) names.push(`${parts.slice(0, i).join('.')}.*`);
  names.push('*');
  return names;
}

/** The one spelling of a channel under which subscriptions are kept (`files:/a/` is `files:a`). */
export function channelName(channel: Channel): string {
  switch (channel.kind) {
    case 'objects':
      return channel.typeId ? `objects:${channel.typeId}` : 'objects';
    case 'files':
      return channel.folder ? `files:${channel.folder}` : 'files';
    case 'notifications':
      return 'notifications';
    case 'type':
      return channel.pattern;
  }
}
