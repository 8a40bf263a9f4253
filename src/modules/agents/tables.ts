import { sql } from 'drizzle-orm';
import { boolean, index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import type { TenantSnapshot } from '../../core/auth/principal.ts';
import { createdAt, tenantIdColumn, timestamptz, updatedAt } from '../../core/db/columns.ts';

/** An HTTP tool: the model may call it with a JSON object; the request goes through the outbound guard. */
export interface HttpTool {
  name: string;
  description: string;
  url: string;
  method: 'GET' | 'POST';
  parameters: Record<string, unknown>;
  headers?: Record<string, string>;
  /** A connection of the agent's application (its id): its credential is added to the request when the URL is one the connection allows. */
  connection?: string;
}

/** What an agent is at one version: everything a run needs to execute it. */
export interface AgentDefinition {
  name: string;
  description: string | null;
  /** `<provider name>/<model>` or a model of the default provider (as the AI module resolves it); null: the default. */
  model: string | null;
  instructions: string;
  /** Platform tools of the AI module (search_objects, get_object, ...). */
  tools: string[];
  httpTools: HttpTool[];
  /** Retrieval over the tenant's indexed knowledge (the AI module's document stores) before each run. */
  knowledge: { enabled: boolean; sources: ('objects' | 'files')[]; types: string[]; k: number };
  limits: { maxSteps: number; maxTokens: number; timeoutMs: number };
}

/**
 * Agents: the current definition and its version number. Applications (`application_id`) group agents,
 * runs, schedules and end users for the agent platform contract; the /v1 routes leave it null.
 */
export const agents = pgTable(
  'agents',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    applicationId: text('application_id'),
    version: integer('version').notNull().default(1),
    definition: jsonb('definition').$type<AgentDefinition>().notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('agents_tenant_app_idx').on(t.tenantId, t.applicationId, t.createdAt)],
);

/** Every version an agent had, so a run can say (and replay) exactly what it ran. */
export const agentVersions = pgTable(
  'agent_versions',
  {
    tenantId: tenantIdColumn(),
    agentId: text('agent_id').notNull(),
    version: integer('version').notNull(),
    definition: jsonb('definition').$type<AgentDefinition>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.agentId, t.version] })],
);

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'timed_out';

/** Who a run acts as: the creator's scopes at creation (tools run with them, never more). */
export interface RunPrincipal {
  kind: 'api_key' | 'user';
  id: string;
  scopes: string[];
  tenant: TenantSnapshot;
}

export const agentRuns = pgTable(
  'agent_runs',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    agentId: text('agent_id').notNull(),
    agentVersion: integer('agent_version').notNull(),
    applicationId: text('application_id'),
    endUserId: text('end_user_id'),
    scheduleId: text('schedule_id'),
    /** api, schedule or event. */
    trigger: text('trigger').notNull().default('api'),
    status: text('status').$type<RunStatus>().notNull().default('queued'),
    input: jsonb('input').$type<Record<string, unknown>>().notNull().default({}),
    output: jsonb('output').$type<Record<string, unknown> | null>(),
    error: jsonb('error').$type<{ code: string; message: string } | null>(),
    principal: jsonb('principal').$type<RunPrincipal>().notNull(),
    usage: jsonb('usage').$type<{ input_tokens: number; output_tokens: number }>().notNull().default({ input_tokens: 0, output_tokens: 0 }),
    /** Set by a cancel; the worker running it aborts (told through the bus, or sees it at its next heartbeat). */
    cancelRequested: boolean('cancel_requested').notNull().default(false),
    /** The worker holding a running run renews this; past it, the sweeper declares the worker lost. */
    leaseUntil: timestamptz('lease_until'),
    worker: text('worker'),
    attempts: integer('attempts').notNull().default(0),
    /** The last event's sequence number. */
    lastSeq: integer('last_seq').notNull().default(0),
    createdAt: createdAt(),
    startedAt: timestamptz('started_at'),
    finishedAt: timestamptz('finished_at'),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    index('agent_runs_tenant_created_idx').on(t.tenantId, t.createdAt),
    index('agent_runs_tenant_agent_idx').on(t.tenantId, t.agentId, t.createdAt),
    index('agent_runs_lease_idx').on(t.leaseUntil).where(sql`status = 'running'`),
    // The sweeper's look for runs left queued (their process died before starting them).
    index('agent_runs_queued_idx').on(t.createdAt).where(sql`status = 'queued'`),
  ],
);

/** A run's event log: status changes, model deltas, tool calls and results, logs, usage; `seq` from 1. */
export const agentRunEvents = pgTable(
  'agent_run_events',
  {
    tenantId: tenantIdColumn(),
    runId: text('run_id').notNull(),
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.runId, t.seq] })],
);

export const agentSchedules = pgTable(
  'agent_schedules',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    agentId: text('agent_id').notNull(),
    applicationId: text('application_id'),
    /** A cron expression (croner) or null for a one-off at `run_at`. */
    cron: text('cron'),
    timezone: text('timezone').notNull().default('UTC'),
    input: jsonb('input').$type<Record<string, unknown>>().notNull().default({}),
    enabled: boolean('enabled').notNull().default(true),
    principal: jsonb('principal').$type<RunPrincipal>().notNull(),
    nextRunAt: timestamptz('next_run_at'),
    lastRunAt: timestamptz('last_run_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('agent_schedules_due_idx').on(t.nextRunAt).where(sql`enabled`)],
);

/**
 * Applications of the agent platform contract (001): a tenant (= organization) groups its agents, runs,
 * end users and keys by application. No module has this concept, so it lives here.
 */
export const agentApplications = pgTable(
  'agent_applications',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    name: text('name').notNull(),
    description: text('description'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] })],
);

/** End users of an application: a run may act for one. */
export const agentEndUsers = pgTable(
  'agent_end_users',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    applicationId: text('application_id').notNull(),
    externalId: text('external_id'),
    name: text('name'),
    email: text('email'),
    /**
     * The tenant's user this end user is, if any: runs acting for the end user read what that user may
     * see (row policies, masks). Without one they read nothing of the tenant's data.
     */
    userId: text('user_id'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    uniqueIndex('agent_end_users_external_idx').on(t.tenantId, t.applicationId, t.externalId),
  ],
);

/**
 * Application API keys (`ask_...`): each is a Plinth API key of the tenant (the keys module issues,
 * resolves, rate-limits and revokes it), bound here to one application. The `ask_` token is `ask_` +
 * the Plinth key's token, so the surface resolves it through the kernel like any key.
 */
export const agentAppKeys = pgTable(
  'agent_app_keys',
  {
    tenantId: tenantIdColumn(),
    keyId: text('key_id').notNull(),
    applicationId: text('application_id').notNull(),
    name: text('name').notNull(),
    revokedAt: timestamptz('revoked_at'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.keyId] }), index('agent_app_keys_app_idx').on(t.tenantId, t.applicationId)],
);

export type AgentRow = typeof agents.$inferSelect;
export type RunRow = typeof agentRuns.$inferSelect;
export type RunEventRow = typeof agentRunEvents.$inferSelect;
export type ScheduleRow = typeof agentSchedules.$inferSelect;
export type ApplicationRow = typeof agentApplications.$inferSelect;
export type EndUserRow = typeof agentEndUsers.$inferSelect;
export type AppKeyRow = typeof agentAppKeys.$inferSelect;

/** One step of a workflow run: the agent run that executes it (created when its stage starts). */
export interface WorkflowRunStep {
  stage: string;
  step: string;
  agentId: string;
  runId: string | null;
  status: RunStatus | 'pending' | 'skipped';
  output: string | null;
}

/**
 * Runs of workflows. A workflow is an application of this module (its agents are the steps; see
 * workflows.ts); a workflow run executes its stages in order, each step as an agent run of the
 * runtime above (durable, leased, cancellable), the previous stage's answers feeding the next.
 */
export const agentWorkflowRuns = pgTable(
  'agent_workflow_runs',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    applicationId: text('application_id').notNull(),
    status: text('status').$type<RunStatus>().notNull().default('queued'),
    message: text('message').notNull(),
    context: jsonb('context').$type<Record<string, unknown> | null>(),
    steps: jsonb('steps').$type<WorkflowRunStep[]>().notNull().default([]),
    /** Index of the stage being executed. */
    stage: integer('stage').notNull().default(0),
    output: text('output'),
    error: jsonb('error').$type<{ code: string; message: string } | null>(),
    principal: jsonb('principal').$type<RunPrincipal>().notNull(),
    cancelRequested: boolean('cancel_requested').notNull().default(false),
    createdAt: createdAt(),
    startedAt: timestamptz('started_at'),
    finishedAt: timestamptz('finished_at'),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('agent_workflow_runs_created_idx').on(t.tenantId, t.createdAt), index('agent_workflow_runs_app_idx').on(t.tenantId, t.applicationId, t.createdAt)],
);

/**
 * Containers: an agent's isolated execution environment for its code tools. Code runs in the
 * automations module's functions sandbox (a fresh isolated-vm isolate per call) with the container's
 * memory and time limits; a container bound to an agent (`agent_id`, at most one per agent) gives the
 * agent the `run_code` tool in chat.
 */
export const agentContainers = pgTable(
  'agent_containers',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    name: text('name').notNull(),
    memoryMb: integer('memory_mb').notNull().default(64),
    timeoutMs: integer('timeout_ms').notNull().default(5_000),
    agentId: text('agent_id'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    invocations: integer('invocations').notNull().default(0),
    lastUsedAt: timestamptz('last_used_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), uniqueIndex('agent_containers_agent_idx').on(t.tenantId, t.agentId), index('agent_containers_created_idx').on(t.tenantId, t.createdAt)],
);

export type WorkflowRunRow = typeof agentWorkflowRuns.$inferSelect;
export type ContainerRow = typeof agentContainers.$inferSelect;

/** How a connection's credential goes into a request. */
export type ConnectionType = 'api_key' | 'bearer' | 'basic';

/**
 * Connections of an application: the credentials its agents' HTTP tools use to reach an external
 * service. `secret` is sealed with the kernel's secret box (PLINTH_ENCRYPTION_KEY) and never returned;
 * it may be added only to requests under `base_url` (same scheme, host and port, path under its path).
 */
export const agentConnections = pgTable(
  'agent_connections',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    applicationId: text('application_id').notNull(),
    name: text('name').notNull(),
    /** A free label of the service (`github`, `stripe`). */
    provider: text('provider'),
    type: text('type').$type<ConnectionType>().notNull(),
    baseUrl: text('base_url').notNull(),
    /** The header an `api_key` connection sets (`X-API-Key`); null for bearer and basic (Authorization). */
    headerName: text('header_name'),
    /** The credential as JSON (`{"value"}` or `{"username","password"}`), sealed. */
    secret: text('secret').notNull(),
    /** What callers may see of it (`••••a1b2`). */
    hint: text('hint').notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), uniqueIndex('agent_connections_name_idx').on(t.tenantId, t.applicationId, t.name)],
);

/**
 * Packages installed in an application: a versioned manifest of agents. One row per package name
 * (the installed version); `agent_ids` maps each of the manifest's agent names to the agent it made.
 */
export const agentPackages = pgTable(
  'agent_packages',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    applicationId: text('application_id').notNull(),
    name: text('name').notNull(),
    version: text('version').notNull(),
    description: text('description'),
    manifest: jsonb('manifest').$type<Record<string, unknown>>().notNull(),
    /** sha256 of the manifest's canonical JSON: a re-import of the same version must carry the same content. */
    checksum: text('checksum').notNull(),
    agentIds: jsonb('agent_ids').$type<Record<string, string>>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), uniqueIndex('agent_packages_name_idx').on(t.tenantId, t.applicationId, t.name)],
);

export type ConnectionRow = typeof agentConnections.$inferSelect;
export type PackageRow = typeof agentPackages.$inferSelect;
