import { Command } from 'commander';
import type { Webhook, WebhookReplayResult } from '../../sdk/platform/index.ts';
import { CliError, EXIT, integer, list, printFields, printJson, printTable, when, withClient } from './client.ts';

export function webhooksCommand(): Command {
  const webhooks = new Command('webhooks').description('Webhook endpoints of the tenant (needs a key with scope *)');

  webhooks
    .command('list')
    .description('List webhook endpoints')
    .action((_options: unknown, command: Command) =>
      withClient(command, async ({ client, json }) => {
        const { data } = await client.webhooks.webhooksList();
        if (json) return printJson(data.data);
        printTable<Webhook>(
          data.data,
          [
            ['id', (w) => w.id],
            ['url', (w) => w.url],
            ['events', (w) => w.events],
            ['status', (w) => w.status],
            ['last success', (w) => when(w.last_success_at)],
            ['failures', (w) => w.consecutive_failures],
          ],
          'no webhooks',
        );
      }),
    );

  webhooks
    .command('create')
    .description('Register an endpoint; prints its signing secret once')
    .argument('<url>', 'where deliveries are POSTed')
    .option('--events <patterns...>', 'event types or patterns, comma-separated or repeated (default *)')
    .option('--description <text>', 'what it is for')
    .option('-q, --quiet', 'print only the webhook id')
    .action((url: string, options: { events?: string[]; description?: string; quiet?: boolean }, command: Command) =>
      withClient(command, async ({ client, json }) => {
        const events = list(options.events);
        const { data } = await client.webhooks.webhooksCreate({ url, ...(events.length ? { events } : {}), ...(options.description ? { description: options.description } : {}) });
        if (json) printJson(data.data);
        else if (options.quiet) process.stdout.write(`${data.data.id}\n`);
        else process.stdout.write(`Created webhook ${data.data.id} for ${data.data.events.join(',')}. Its signing secret, shown only this once:\n\n    ${data.data.secret}\n\n`);
      }),
    );

  webhooks
    .command('test')
    .description('Send a signed webhook.test event now and show the answer (exit 1 unless the endpoint answers 2xx)')
    .argument('<webhook-id>', 'the endpoint (wh_...)')
    .action((webhookId: string, _options: unknown, command: Command) =>
      withClient(command, async ({ client, json }) => {
        const { data } = await client.webhooks.webhooksTestCreate({ webhookId });
        const outcome = data.data;
        if (json) printJson(outcome);
        else
          printFields([
            ['status', outcome.status_code || 'no answer'],
            ['success', outcome.success ? 'yes' : 'no'],
            ['latency', outcome.latency_ms === null ? null : `${outcome.latency_ms} ms`],
            ['delivery', outcome.delivery_id],
            ['error', outcome.error],
          ]);
        if (!outcome.success) throw new CliError(EXIT.api, `the endpoint did not accept the test event${outcome.error ? `: ${outcome.error}` : ''}`);
      }),
    );

  webhooks
    .command('replay')
    .description('Send past events to an endpoint again: one event now (<event-id>), or every event of a time range queued again (--since)')
    .argument('<webhook-id>', 'the endpoint (wh_...)')
    .argument('[event-id]', 'an event to send again now (evt_...)')
    .option('--since <date-time>', 'queue again the endpoint\'s events from this time (ISO 8601)')
    .option('--until <date-time>', 'up to this time')
    .option('--types <types...>', 'only these event types (with --since)')
    .option('--limit <n>', 'look at most at this many events (with --since; default 1000)', integer(1, 10_000))
    .action((webhookId: string, eventId: string | undefined, options: { since?: string; until?: string; types?: string[]; limit?: number }, command: Command) => {
      if (!eventId === !options.since) throw new CliError(EXIT.usage, 'give either an event id or --since');
      return withClient(command, async ({ client, json }) => {
        const types = list(options.types);
        const body = eventId
          ? { event: eventId }
          : { since: options.since, ...(options.until ? { until: options.until } : {}), ...(types.length ? { event_types: types } : {}), ...(options.limit ? { limit: options.limit } : {}) };
        const { data } = await client.webhooks.webhooksReplayCreate({ webhookId }, body);
        const result: WebhookReplayResult = data.data;
        if (json) return printJson(result);
        if (eventId) {
          printFields([
            ['status', result.status_code || 'no answer'],
            ['success', result.success ? 'yes' : 'no'],
            ['delivery', result.delivery_id],
            ['error', result.error],
          ]);
          if (!result.success) throw new CliError(EXIT.api, `the endpoint did not accept the event${result.error ? `: ${result.error}` : ''}`);
        } else {
          process.stdout.write(`Queued ${result.queued ?? 0} of ${result.matched ?? 0} events${result.truncated ? ' (more were in the range: raise --limit)' : ''}\n`);
        }
      });
    });
  return webhooks;
}
