import { Command } from 'commander';
import type { User } from '../../sdk/platform/index.ts';
import { integer, printJson, printTable, when, withClient } from './client.ts';

export function usersCommand(): Command {
  const users = new Command('users').description('End users of the tenant (needs a key with scope *)');

  users
    .command('list')
    .description('List users')
    .option('--search <text>', 'email or phone containing this')
    .option('--role <role>', 'only users with this role')
    .option('--limit <n>', 'at most this many (1..100)', integer(1, 100))
    .option('--offset <n>', 'skip this many', integer(0, 1_000_000_000))
    .action((options: { search?: string; role?: string; limit?: number; offset?: number }, command: Command) =>
      withClient(command, async ({ client, json }) => {
        const { data } = await client.users.usersList({ search: options.search, role: options.role, limit: options.limit, offset: options.offset });
        if (json) return printJson(data.data);
        printTable<User>(
          data.data.users,
          [
            ['id', (u) => u.id],
            ['email', (u) => u.email ?? u.phone],
            ['role', (u) => u.role],
            ['verified', (u) => (u.email_verified ? 'yes' : 'no')],
            ['created', (u) => when(u.created_at)],
            ['last sign-in', (u) => when(u.last_sign_in_at)],
          ],
          'no users',
        );
        if (data.data.total > data.data.users.length) process.stderr.write(`${data.data.users.length} of ${data.data.total}; see --limit and --offset\n`);
      }),
    );

  users
    .command('invite')
    .description('Create a user without a password and email them a link to set one (the password-reset mail)')
    .argument('<email>', 'their email address')
    .option('--role <role>', 'their role (default: the tenant\'s default role, member unless changed)')
    .option('--redirect-to <url>', 'where the link in the mail leads (an allowed redirect URL of your app)')
    .action((email: string, options: { role?: string; redirectTo?: string }, command: Command) =>
      withClient(command, async ({ client, json }) => {
        const { data } = await client.users.usersCreate({ email, ...(options.role ? { role: options.role } : {}) });
        await client.auth.authForgotPasswordCreate({ email, ...(options.redirectTo ? { redirect_to: options.redirectTo } : {}) });
        if (json) printJson({ user: data.data, invited: true });
        else process.stdout.write(`Invited ${email} as ${data.data.role} (${data.data.id}); a link to set a password went out by mail\n`);
      }),
    );
  return users;
}
