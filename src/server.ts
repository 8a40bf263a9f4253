import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { bootstrapTenant, countTenants, createApp, createKernel, createPlatform, registerModules } from './app.ts';
import { loadConfig, type Config } from './config.ts';
import { drainable } from './core/http/drain.ts';
import { createHttpServer } from './core/http/server.ts';
import { PLAN_TIERS } from './modules/tenants/index.ts';
import { VERSION } from './core/version.ts';

export function fail(message: string): never {
  process.stderr.write(`plinth: ${message}\n`);
  process.exit(1);
}

function baseUrl(config: Config): string {
  if (config.PUBLIC_URL) return config.PUBLIC_URL.replace(/\/$/, '');
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? 'localhost' : config.HOST;
  return `http://${host}:${config.PORT}`;
}

export async function start(config: Config) {
  const platform = await createPlatform(config);
  const { kernel, app } = platform;
  let firstKey: { tenantId: string; token: string } | undefined;
  if ((await countTenants(kernel)) === 0) {
    const { tenant, token } = await bootstrapTenant(kernel, { name: 'Default' });
    firstKey = { tenantId: tenant.id, token };
  }

  const server = createHttpServer(app.fetch, { hostname: config.HOST, log: kernel.log });
  server.listen(config.PORT, config.HOST, () => {
    const url = config.PUBLIC_URL ? baseUrl(config) : `http://localhost:${(server.address() as AddressInfo).port}`;
    const where = config.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : `embedded database in ${config.pgliteDir}`;
    const lines = [``, `Plinth ${VERSION} listening on ${url} (${where}; pid ${process.pid})`, `Docs: ${url}/docs`];
    if (firstKey) {
      lines.push(
        ``,
        `First start: created tenant ${firstKey.tenantId} with an admin API key. It is shown only this once:`,
        ``,
        `    ${firstKey.token}`,
        ``,
        `Try it: curl -H "Authorization: Bearer ${firstKey.token}" ${url}/v1/keys`,
      );
    } else {
      lines.push(
        `Need a key? Stop the server and run \`npx plinth bootstrap\` for a new tenant and admin key,`,
        `or set PLINTH_ADMIN_KEY and POST ${url}/v1/admin/tenants while it runs.`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n\n`);
  });
  // What modules serve beside the app (GET /v1/realtime's WebSocket upgrades).
  const attached = platform.attach(server);
  const connections = drainable(server);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Not ready any more, so a load balancer stops sending; then stop accepting and finish what is in hand.
    kernel.draining = true;
    kernel.log.info({ signal, delay_ms: config.SHUTDOWN_DELAY_MS }, 'draining in-flight requests');
    setTimeout(() => {
      const force = setTimeout(() => {
        kernel.log.warn('shutdown timeout: closing remaining connections');
        connections.destroyAll();
      }, config.SHUTDOWN_TIMEOUT_MS);
      force.unref();
      // Upgraded sockets are not the HTTP server's to drain: close them, or the drain never finishes.
      attached.close();
      // SSE streams end too (clients reconnect elsewhere with Last-Event-ID).
      void kernel.outbox.feed.close();
      void connections.drain().then(async () => {
        await platform.close();
        kernel.log.info('stopped');
        process.exit(0);
      });
    }, config.SHUTDOWN_DELAY_MS);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  whenParentExits(() => shutdown('parent exited'));
}

/**
 * Started by an npm script (`npm start`), the server lives as long as npm does. npm hands SIGTERM on
 * to its script (which `exec`s node, so the signal reaches this process), but a SIGKILLed npm, or a
 * shell between the two that does not forward signals, would leave the server running with the port
 * and the embedded database held and nobody to stop it. So it watches its parent and stops as on
 * SIGTERM when it is gone. Run directly (`node bin/plinth.mjs`, a service manager) it does not: a
 * server started in the background from a shell may outlive that shell.
 */
function whenParentExits(stop: () => void): void {
  if (!process.env.npm_lifecycle_event) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    stop();
  }, 500);
  timer.unref();
}

export async function worker(config: Config) {
  const kernel = await createKernel(config);
  registerModules(kernel);
  await kernel.jobs.start({ work: true });
  kernel.outbox.start();
  kernel.log.info('worker started');
  const stop = async (signal: string) => {
    kernel.log.info({ signal }, 'worker stopping after the jobs in hand');
    await kernel.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  whenParentExits(() => void stop('parent exited'));
}

export interface BootstrapOptions {
  json?: boolean;
  name: string;
  slug?: string;
  plan?: string;
  email?: string;
}

export async function bootstrap(config: Config, values: BootstrapOptions) {
  if (values.plan && !PLAN_TIERS.includes(values.plan)) fail(`unknown plan '${values.plan}' (${PLAN_TIERS.join(', ')})`);
  // Logs go to stderr so that stdout carries only the answer.
  const logger = pino({ level: values.json ? 'warn' : config.LOG_LEVEL }, pino.destination(2));
  const kernel = await createKernel(config, { logger });
  try {
    const { tenant, token } = await bootstrapTenant(kernel, {
      name: values.name,
      slug: values.slug,
      plan_tier: values.plan,
      owner_email: values.email,
    });
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ tenant_id: tenant.id, api_key: token })}\n`);
    } else {
      process.stdout.write(`Created tenant ${tenant.name} (${tenant.id}, slug ${tenant.slug}).\nAdmin API key (shown once): ${token}\n`);
    }
  } finally {
    await kernel.close();
  }
}

export async function migrate(config: Config) {
  const kernel = await createKernel(config, { logger: pino({ level: config.LOG_LEVEL }, pino.destination(2)) });
  await kernel.close();
  process.stdout.write('migrations applied\n');
}

/** Writes the platform's OpenAPI document to `file` ("-" for stdout); needs no database. */
export function openapi(file: string) {
  const { document } = createApp(null);
  const out = `${JSON.stringify(document(), null, 2)}\n`;
  if (file === '-') process.stdout.write(out);
  else {
    fs.writeFileSync(file, out);
    process.stderr.write(`wrote ${file}\n`);
  }
}

/** The configuration from the environment, or exit 1 with what is wrong in it. */
export function configOrFail(): Config {
  try {
    return loadConfig();
  } catch (error) {
    fail((error as Error).message);
  }
}
