import { Command, Option } from 'commander';
import type { ApiKey } from '../../sdk/platform/index.ts';
import { collect, integer, list, printJson, printTable, when, withClient } from './client.ts';

const SCOPES = ['read', 'write', 'schema', 'files', 'auth', 'ai', '*'] as const;
type Scope = (typeof SCOPES)[number];

function scopes(values: string[]): Scope[] {
  const out = list(values);
  for (const s of out) if (!SCOPES.includes(s as Scope)) throw new Error(`unknown scope '${s}' (${SCOPES.join(', ')})`);
  return out as Scope[];
}

const KEY_COLUMNS: [string, (k: ApiKey) => unknown][] = [
  ['id', (k) => k.id],
  ['label', (k) => k.label],
  ['prefix', (k) => k.prefix],
  ['scopes', (k) => k.scopes],
  ['status', (k) => k.status],
  ['last used', (k) => when(k.last_used_at)],
  ['expires', (k) => when(k.expires_at)],
];

export function keysCommand(): Command {
  const keys = new Command('keys').description('API keys of the tenant (needs a key with scope *)');

  keys
    .command('list')
    .description('List the API keys, newest first (tokens are never shown again)')
    .addOption(new Option('--status <status>', 'only keys in this state').choices(['active', 'revoked', 'expired']))
    .action((options: { status?: 'active' | 'revoked' | 'expired' }, command: Command) =>
      withClient(command, async ({ client, json }) => {
        const { data } = await client.keys.keysList(options.status ? { status: options.status } : {});
        if (json) printJson(data.data);
        else printTable(data.data, KEY_COLUMNS, 'no keys');
      }),
    );

  keys
    .command('create')
    .description('Create a key and print its token once; a key whose only scope is auth is publishable (pk_)')
    .requiredOption('--label <label>', 'what the key is for')
    .requiredOption('--scopes <scopes...>', `scopes, comma-separated or repeated: ${SCOPES.join(', ')}`)
    .option('--expires <date-time>', 'expiry (ISO 8601)')
    .option('--rate-limit <n>', 'requests per minute (default: the plan limit)', integer(1, 1_000_000))
    .option('--ip <cidr>', 'allow only this address range (repeatable)', collect)
    .option('-q, --quiet', 'print only the token')
    .action((options: { label: string; scopes: string[]; expires?: string; rateLimit?: number; ip?: string[]; quiet?: boolean }, command: Command) =>
      withClient(command, async ({ client, json }) => {
        const { data } = await client.keys.keysCreate({
          label: options.label,
          scopes: scopes(options.scopes),
          ...(options.expires ? { expires_at: options.expires } : {}),
          ...(options.rateLimit ? { rate_limit: options.rateLimit } : {}),
          ...(options.ip ? { ip_allowlist: options.ip } : {}),
        });
        if (json) printJson(data.data);
        else if (options.quiet) process.stdout.write(`${data.data.token}\n`);
        else process.stdout.write(`Created key ${data.data.key.id} (${data.data.key.label}; scopes ${data.data.key.scopes.join(',')}). Its token, shown only this once:\n\n    ${data.data.token}\n\n`);
      }),
    );

  keys
    .command('rotate')
    .description('Issue a new key with the settings of an old one and retire the old one (at once or after a grace period)')
    .argument('<key-id>', 'the key to rotate (key_...)')
    .option('--grace <seconds>', 'keep the old key working this long (0..604800)', integer(0, 604_800))
    .option('--label <label>', 'a new label')
    .option('-q, --quiet', 'print only the new token')
    .action((keyId: string, options: { grace?: number; label?: string; quiet?: boolean }, command: Command) =>
      withClient(command, async ({ client, json }) => {
        const { data } = await client.keys.keysRotateCreate(
          { keyId },
          { ...(options.grace !== undefined ? { grace_period_seconds: options.grace } : {}), ...(options.label ? { label: options.label } : {}) },
        );
        if (json) printJson(data.data);
        else if (options.quiet) process.stdout.write(`${data.data.token}\n`);
        else process.stdout.write(`Rotated ${data.data.old_key.id} (now ${data.data.old_key.status}) to ${data.data.new_key.id}. The new token, shown only this once:\n\n    ${data.data.token}\n\n`);
      }),
    );

  keys
    .command('revoke')
    .description('Revoke a key at once; its next request gets 401')
    .argument('<key-id>', 'the key to revoke (key_...)')
    .action((keyId: string, _options: unknown, command: Command) =>
      withClient(command, async ({ client, json }) => {
        const { data } = await client.keys.keysDelete({ keyId });
        if (json) printJson(data.data);
        else process.stdout.write(`Revoked ${data.data.id} (${data.data.label})\n`);
      }),
    );
  return keys;
}
