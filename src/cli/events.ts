import { Command } from 'commander';
import type { Event } from '../../sdk/platform/index.ts';
import { cliErrorOf, connect, EXIT, CliError, integer, list } from './client.ts';

interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

/**
 * Server-Sent Events from a response body, message by message (the WHATWG format: `field: value`
 * lines, a blank line ending a message, `:` lines being comments such as heartbeats).
 */
async function* sseMessages(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  let message: SseMessage = { data: '' };
  let hasData = false;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (hasData || message.event) yield message;
        message = { data: '' };
        hasData = false;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') message.id = value;
      else if (field === 'event') message.event = value;
      else if (field === 'data') {
        message.data = hasData ? `${message.data}\n${value}` : value;
        hasData = true;
      }
    }
  }
}

export function eventsCommand(): Command {
  const events = new Command('events').description('The tenant\'s event stream');

  events
    .command('tail')
    .description('Print events as they happen (Server-Sent Events from /events/stream; reconnects where it stopped). --json prints one JSON event per line')
    .option('--types <patterns...>', 'event types or patterns, comma-separated or repeated (object.*,file.uploaded)')
    .option('--after <event-id>', 'start after this event (evt_...) instead of now')
    .option('-n, --count <n>', 'stop after this many events', integer(1, 1_000_000))
    .action(async (options: { types?: string[]; after?: string; count?: number }, command: Command) => {
      const { client, json, url } = connect(command);
      const types = list(options.types).join(',');
      let lastId = options.after;
      let seen = 0;
      let connected = false;
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      for (;;) {
        let response: Response;
        try {
          response = (await client.stream.streamList(
            { ...(types ? { types } : {}) },
            { signal: stop.signal, headers: lastId ? { 'Last-Event-ID': lastId } : {} },
          )) as unknown as Response;
        } catch (error) {
          if (stop.signal.aborted) return;
          // Once the stream has worked, a lost connection is waited out; a first failure is reported.
          const failure = await cliErrorOf(error, url);
          if (!connected || failure.exitCode !== EXIT.connect) throw failure;
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        connected = true;
        if (!response.body) throw new CliError(EXIT.api, 'the stream answered without a body');
        try {
          for await (const message of sseMessages(response.body)) {
            if (message.id) lastId = message.id;
            let event: Event | undefined;
            try {
              event = JSON.parse(message.data) as Event;
            } catch {
              continue;
            }
            if (json) process.stdout.write(`${JSON.stringify(event)}\n`);
            else process.stdout.write(`${event.timestamp ?? ''}  ${event.type ?? message.event}  ${event.resource_id ?? '-'}  ${event.id ?? message.id ?? ''}\n`);
            seen += 1;
            if (options.count && seen >= options.count) {
              stop.abort();
              return;
            }
          }
        } catch (error) {
          if (stop.signal.aborted) return;
          if (!(error instanceof Error)) throw error;
        }
        // The server ended the stream (a restart, a drain): resume after the last event seen.
        await new Promise((r) => setTimeout(r, 500));
      }
    });
  return events;
}
