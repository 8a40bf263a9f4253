import { Command, CommanderError, Option } from 'commander';
import { CliError, EXIT } from './client.ts';
import { eventsCommand } from './events.ts';
import { keysCommand } from './keys.ts';
import { recordsCommand } from './records.ts';
import { tenantsCommand } from './tenants.ts';
import { typesCommand } from './types.ts';
import { usersCommand } from './users.ts';
import { webhooksCommand } from './webhooks.ts';

/**
 * `plinth`: the server's own commands (start, worker, migrate, bootstrap, openapi), which load the
 * platform on demand, and the client commands over the HTTP API, which load only the SDK, so that
 * `plinth keys list` starts in a fraction of the time the server does.
 */

const SERVER_HELP = `
Server commands run the platform here; the others talk to a running server over its API:
  PLINTH_URL (default http://localhost:3000) or --url, and PLINTH_API_KEY or --key.
Exit codes: 0 ok, 1 the API refused (its message is printed), 2 usage error, 3 cannot connect.`;

async function server() {
  return import('../server.ts');
}

export function program(): Command {
  const root = new Command('plinth')
    .description('Plinth: multi-tenant backend platform')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addOption(new Option('--url <url>', 'the server (default: PLINTH_URL, else http://localhost:3000)'))
    .addOption(new Option('--key <key>', 'API key or access token (default: PLINTH_API_KEY)'))
    .option('--json', 'print JSON for scripts instead of tables')
    .addHelpText('after', SERVER_HELP);

  root
    .command('start')
    .description('Migrate the database and serve the API on PORT (default 3000); on an empty database, create a first tenant and print its admin key once')
    .action(async () => {
      const s = await server();
      await s.start(s.configOrFail());
    });
  root
    .command('worker')
    .description('Work background jobs without serving HTTP (needs DATABASE_URL to run beside start; set JOBS_WORKER=false on the API processes)')
    .action(async () => {
      const s = await server();
      await s.worker(s.configOrFail());
    });
  root
    .command('migrate')
    .description('Apply database migrations and exit')
    .action(async () => {
      const s = await server();
      await s.migrate(s.configOrFail());
    });
  root
    .command('bootstrap')
    .description('Create a tenant with an admin API key, on the database directly (with the embedded one, while the server is stopped)')
    .option('--json', 'print exactly one line: {"tenant_id": "...", "api_key": "..."}')
    .option('--name <name>', 'tenant name', 'Default')
    .option('--slug <slug>', 'tenant slug (default: from the name)')
    .option('--plan <tier>', 'plan tier: free, pro or enterprise (default free)')
    .option('--email <email>', 'owner email (found by POST /v1/tenants/lookup)')
    .action(async (options: { json?: boolean; name: string; slug?: string; plan?: string; email?: string }, command: Command) => {
      const s = await server();
      // --json is both this command's and the global option; either place counts.
      await s.bootstrap(s.configOrFail(), { ...options, json: Boolean(command.optsWithGlobals<{ json?: boolean }>().json) });
    });
  root
    .command('openapi')
    .description('Write the OpenAPI 3.1 document to a file ("-" for stdout)')
    .argument('[file]', 'where to write it', 'openapi.json')
    .action(async (file: string) => {
      (await server()).openapi(file);
    });

  for (const make of [keysCommand, tenantsCommand, typesCommand, recordsCommand, usersCommand, webhooksCommand, eventsCommand]) {
    // Commander shows a group's help when no subcommand is named, as a usage error (nothing was done).
    root.addCommand(make());
  }
  inheritSettings(root);
  return root;
}

/** Commands made apart from the root get its error and help settings (commander copies them only to commands made through it). */
function inheritSettings(command: Command): void {
  for (const sub of command.commands) {
    sub.exitOverride().showHelpAfterError('(add --help for usage)').configureHelp({ showGlobalOptions: true });
    inheritSettings(sub);
  }
}

/** Runs the CLI and answers the exit code (a server command that keeps running never answers). */
export async function run(argv: string[]): Promise<void> {
  const root = program();
  if (argv.length <= 2) {
    root.outputHelp();
    return;
  }
  try {
    await root.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not errors; everything else commander reports (unknown command or
      // option, missing argument, invalid value) is a usage error, its message already printed.
      process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    if (error instanceof CliError) {
      process.stderr.write(`plinth: ${error.message}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    // A server command that failed (a held data directory, a bad configuration): it may have opened
    // handles that would keep the process alive, so it exits as it always has.
    process.stderr.write(`plinth: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(EXIT.api);
  }
}
