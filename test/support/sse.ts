/** Parses a Server-Sent Events body into its events (id as a number, data as JSON). */
export interface SseEvent {
  id?: number;
  event: string;
  data: any;
}

export function parseSse(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const e: Partial<SseEvent> & { raw?: string } = {};
    for (const line of block.split(/\r?\n/)) {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const key = line.slice(0, i);
      const value = line.slice(i + 1).replace(/^ /, '');
      if (key === 'id') e.id = Number(value);
      else if (key === 'event') e.event = value;
      else if (key === 'data') e.raw = (e.raw === undefined ? '' : `${e.raw}\n`) + value;
    }
    if (e.event) out.push({ id: e.id, event: e.event, data: e.raw === undefined ? null : JSON.parse(e.raw) });
  }
  return out;
}
