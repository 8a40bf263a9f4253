import { Command, Option } from 'commander';
import type { Tenant } from '../../sdk/platform/index.ts';
import { integer, printJson, printTable, when, withClient } from './client.ts';

const ADMIN = { admin: true };

export function tenantsCommand(): Command {
  const tenants = new Command('tenants').description('Tenants of the install (needs the system admin key: PLINTH_ADMIN_KEY or --key)');

  tenants
    .command('list')
    .description('List tenants')
    .addOption(new Option('--status <status>', 'only tenants in this state').choices(['active', 'suspended']))
    .option('--limit <n>', 'at most this many (1..100)', integer(1, 100))
    .option('--offset <n>', 'skip this many', integer(0, 1_000_000_000))
    .action((options: { status?: 'active' | 'suspended'; limit?: number; offset?: number }, command: Command) =>
      withClient(
        command,
        async ({ client, json }) => {
          const { data } = await client.admin.adminTenantsList({ status: options.status, limit: options.limit, offset: options.offset });
          if (json) return printJson(data.data);
          printTable<Tenant>(
            data.data.tenants,
            [
              ['id', (t) => t.id],
              ['name', (t) => t.name],
              ['slug', (t) => t.slug],
              ['plan', (t) => t.plan_tier],
              ['status', (t) => t.status],
              ['created', (t) => when(t.created_at)],
            ],
            'no tenants',
          );
          if (data.data.total > data.data.tenants.length) process.stderr.write(`${data.data.tenants.length} of ${data.data.total}; see --limit and --offset\n`);
        },
        ADMIN,
      ),
    );

  tenants
    .command('create')
    .description('Create a tenant with an admin API key (printed once)')
    .argument('<name>', 'the tenant\'s name')
    .option('--slug <slug>', 'URL-safe name (default: from the name)')
    .addOption(new Option('--plan <tier>', 'plan tier').choices(['free', 'pro', 'enterprise']))
    .option('--email <email>', 'owner email')
    .option('-q, --quiet', 'print only the admin API key')
    .action((name: string, options: { slug?: string; plan?: 'free' | 'pro' | 'enterprise'; email?: string; quiet?: boolean }, command: Command) =>
      withClient(
        command,
        async ({ client, json }) => {
          const { data } = await client.admin.adminTenantsCreate({
            name,
            ...(options.slug ? { slug: options.slug } : {}),
            ...(options.plan ? { plan_tier: options.plan } : {}),
            ...(options.email ? { owner_email: options.email } : {}),
          });
          const { tenant, api_key } = data.data;
          if (json) printJson({ tenant, api_key: api_key.token });
          else if (options.quiet) process.stdout.write(`${api_key.token}\n`);
          else process.stdout.write(`Created tenant ${tenant.name} (${tenant.id}, slug ${tenant.slug}). Its admin API key, shown only this once:\n\n    ${api_key.token}\n\n`);
        },
        ADMIN,
      ),
    );

  tenants
    .command('suspend')
    .description('Suspend a tenant: its keys and tokens get 403 TENANT_SUSPENDED (--undo reactivates it)')
    .argument('<tenant-id>', 'the tenant (tn_...)')
    .option('--reason <text>', 'why (shown to administrators)')
    .option('--undo', 'reactivate the tenant instead')
    .action((tenantId: string, options: { reason?: string; undo?: boolean }, command: Command) =>
      withClient(
        command,
        async ({ client, json }) => {
          const { data } = await client.admin.adminTenantsPartialUpdate(
            { tenantId },
            options.undo ? { status: 'active', suspended_reason: null } : { status: 'suspended', ...(options.reason ? { suspended_reason: options.reason } : {}) },
          );
          if (json) printJson(data.data);
          else process.stdout.write(`Tenant ${data.data.id} (${data.data.name}) is ${data.data.status}\n`);
        },
        ADMIN,
      ),
    );
  return tenants;
}
