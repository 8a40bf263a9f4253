import type { Server } from 'node:http';
import type { OpenAPIHono, z } from '@hono/zod-openapi';
import type { TenantContext } from './context.ts';
import type { EventType } from './events/catalog.ts';
import type { AppEnv } from './http/context.ts';
import type { Dependency } from './http/dependencies.ts';
import type { Kernel } from './kernel.ts';

/**
 * What one module offers the others, declared rather than wired by hand: app.ts gathers every
 * descriptor's hooks into one `Hooks` value and hands it to the modules that consume them. A module
 * offers a hook by naming it here; it never imports the module that will call it.
 */
export interface ModuleHooks {
  /** Counted for the 409 DEPENDENCY_EXISTS answer of DELETE /v1/users/:id. */
  userDependencies?: (ctx: TenantContext, userId: string) => Promise<Dependency[]>;
  /** Deletes this module's records of a user, in the deleting transaction, after the user's own. */
  userDeleted?: (ctx: TenantContext, userId: string) => Promise<void>;
  /** This module's part of a user's GDPR export (merged into the export's top level). */
  userExport?: (ctx: TenantContext, userId: string) => Promise<Record<string, unknown>>;
  /** Sections of GET /v1/tenant-config, by name, each with its schema for the document. */
  tenantConfig?: Record<string, { schema: z.ZodType; load: (kernel: Kernel, tenant: { id: string }) => Promise<unknown> }>;
  /** Tenant ids where an email has an identity of this module (POST /v1/tenants/lookup). */
  tenantLookup?: (kernel: Kernel, email: string) => Promise<string[]>;
  /** Bytes this module stores for the tenant (summed into `used_storage_bytes`). */
  storageUsed?: (ctx: TenantContext) => Promise<number>;
  /** What a new tenant starts with: its admin key, returned once. Exactly one module offers it. */
  provisionTenant?: (ctx: TenantContext) => Promise<{ key: unknown; token: string }>;
  /**
   * Checks and normalises the parts of a governance change that belong to this module; validators run
   * in descriptor order, each on the previous one's result.
   */
  governanceValidator?(ctx: TenantContext, patch: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** Every module's hooks, gathered: what a consuming module receives. */
export interface Hooks {
  userDependencies: NonNullable<ModuleHooks['userDependencies']>[];
  userDeleted: NonNullable<ModuleHooks['userDeleted']>[];
  userExport: NonNullable<ModuleHooks['userExport']>[];
  tenantConfig: NonNullable<ModuleHooks['tenantConfig']>;
  tenantLookup: NonNullable<ModuleHooks['tenantLookup']>[];
  storageUsed: NonNullable<ModuleHooks['storageUsed']>[];
  provisionTenant: NonNullable<ModuleHooks['provisionTenant']>;
  governanceValidators: NonNullable<ModuleHooks['governanceValidator']>[];
}

/** What a module's `routes` receive besides the kernel each request carries. */
export interface ModuleWiring {
  hooks: Hooks;
  /** The event catalogue: every descriptor's events, in descriptor order. */
  events: readonly EventType[];
  /** The served OpenAPI document (built on first use). */
  document: () => Record<string, unknown>;
  /** The other contracts served beside the platform (known once they are mounted, after the modules). */
  surfaces: () => readonly SurfaceListing[];
}

/** A contract surface as the platform's docs list it (src/surfaces builds them). */
export interface SurfaceListing {
  name: string;
  seed: string;
  title: string;
  host: string;
  /** Where it is mounted on the main host. */
  basePaths: string[];
  /** Paths of its document and reference on its host. */
  openapi: string;
  docs: string;
  document: () => Record<string, unknown>;
}

/**
 * One module, as app.ts sees it (in the spirit of Medusa's module definitions). Adding a module to the
 * platform is adding its descriptor to the one list in app.ts: routes, kernel registrations, hooks and
 * event types all come from here.
 */
export interface ModuleDescriptor {
  /** The module's folder name under src/modules. */
  readonly name: string;
  /** Event types it emits; the catalogue (GET /events/types) is their union. */
  readonly events?: readonly EventType[];
  /** What it adds to a running kernel: credential resolvers, jobs, outbox consumers. Called once per serving or working process. */
  readonly register?: (kernel: Kernel) => void;
  /** What it offers other modules. */
  readonly hooks?: ModuleHooks;
  /** Its HTTP routes. */
  readonly routes?: (wiring: ModuleWiring) => OpenAPIHono<AppEnv>;
  /** What it attaches to the HTTP server beside the app (WebSocket upgrades); `close` ends what it holds. */
  readonly attach?: (server: Server, app: { fetch: (request: Request, env?: any) => Response | Promise<Response> }) => { close(): void };
}

export function defineModule<const D extends ModuleDescriptor>(descriptor: D): D {
  return descriptor;
}

/** Gathers the descriptors' hooks; a hook that can have one provider must have exactly one. */
export function collectHooks(modules: readonly ModuleDescriptor[]): Hooks {
  const offered = modules.filter((m) => m.hooks).map((m) => ({ name: m.name, hooks: m.hooks! }));
  const all = <K extends keyof ModuleHooks>(key: K) => offered.flatMap(({ hooks }) => (hooks[key] ? [hooks[key]!] : []));
  const provisioners = offered.filter(({ hooks }) => hooks.provisionTenant);
  if (provisioners.length !== 1) {
    throw new Error(`exactly one module must offer provisionTenant; found ${provisioners.map((p) => p.name).join(', ') || 'none'}`);
  }
  const tenantConfig: Hooks['tenantConfig'] = {};
  for (const { name, hooks } of offered) {
    for (const [section, load] of Object.entries(hooks.tenantConfig ?? {})) {
      if (tenantConfig[section]) throw new Error(`tenant-config section ${section} is offered twice (again by ${name})`);
      tenantConfig[section] = load;
    }
  }
  return {
    userDependencies: all('userDependencies'),
    userDeleted: all('userDeleted'),
    userExport: all('userExport'),
    tenantConfig,
    tenantLookup: all('tenantLookup'),
    storageUsed: all('storageUsed'),
    provisionTenant: provisioners[0]!.hooks.provisionTenant!,
    governanceValidators: all('governanceValidator'),
  };
}

/** The event catalogue: every descriptor's event types, each type declared once. */
export function eventCatalog(modules: readonly { name: string; events?: readonly EventType[] }[]): EventType[] {
  const seen = new Map<string, string>();
  const catalog: EventType[] = [];
  for (const module of modules) {
    for (const event of module.events ?? []) {
      const previous = seen.get(event.type);
      if (previous) throw new Error(`event type ${event.type} is declared by ${previous} and ${module.name}`);
      seen.set(event.type, module.name);
      catalog.push(event);
    }
  }
  return catalog;
}
