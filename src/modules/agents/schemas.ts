import { z } from '@hono/zod-openapi';
import { IsoDate } from '../../core/http/envelope.ts';
import { TOOL_NAMES } from '../ai/index.ts';

/** The request and response shapes of agents and runs, shared by /v1 and the agent platform surface. */

const ToolName = z.enum(TOOL_NAMES);
const name = z.string().trim().min(1).max(100);

export const HttpToolSchema = z
  .object({
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/).openapi({ description: 'The name the model calls it by', example: 'weather' }),
    description: z.string().max(1000).default(''),
    url: z.string().url().max(2000).openapi({ description: 'Called through the outbound guard: no private, loopback or metadata addresses' }),
    method: z.enum(['GET', 'POST']).default('POST'),
    parameters: z.record(z.string(), z.unknown()).default({ type: 'object', properties: {} }).openapi({ description: 'JSON Schema of the arguments' }),
    headers: z.record(z.string().max(100), z.string().max(2000)).optional(),
    connection: z.string().min(1).max(100).optional().openapi({
      description: 'A connection of the agent\'s application (id or name; stored as its id): its credential is added to the request when the URL is under the connection\'s base URL',
    }),
  })
  .openapi('AgentHttpTool');

export const KnowledgeSchema = z
  .object({
    enabled: z.boolean().default(true),
    sources: z.array(z.enum(['objects', 'files'])).max(2).default(['objects', 'files']),
    types: z.array(z.string().max(100)).max(20).default([]).openapi({ description: 'Object types to search (empty: all indexed)' }),
    k: z.number().int().min(1).max(20).default(5),
  })
  .openapi('AgentKnowledge');

export const LimitsSchema = z
  .object({
    max_steps: z.number().int().min(1).max(50).default(5).openapi({ description: 'Model calls per run' }),
    max_tokens: z.number().int().min(1).max(200_000).default(4096).openapi({ description: 'Output tokens per model call' }),
    timeout_ms: z.number().int().min(100).max(3_600_000).default(120_000).openapi({ description: 'Wall time of a run' }),
  })
  .openapi('AgentLimits');

export const AgentInputSchema = z.object({
  name,
  description: z.string().max(2000).nullable().optional(),
  model: z.string().max(200).nullable().optional().openapi({ description: '`<provider name>/<model>`, a model of the default provider, or null for the default' }),
  instructions: z.string().max(100_000).default(''),
  tools: z.array(ToolName).max(TOOL_NAMES.length).default([]).openapi({ description: 'Platform tools of the AI module' }),
  http_tools: z.array(HttpToolSchema).max(20).default([]),
  knowledge: KnowledgeSchema.nullable().optional(),
  limits: LimitsSchema.partial().optional(),
});
export type AgentInput = z.infer<typeof AgentInputSchema>;

export const AgentPatchSchema = z.object({
  name: name.optional(),
  description: z.string().max(2000).nullable().optional(),
  model: z.string().max(200).nullable().optional(),
  instructions: z.string().max(100_000).optional(),
  tools: z.array(ToolName).max(TOOL_NAMES.length).optional(),
  http_tools: z.array(HttpToolSchema).max(20).optional(),
  knowledge: KnowledgeSchema.nullable().optional(),
  limits: LimitsSchema.partial().optional(),
});
export type AgentPatch = z.infer<typeof AgentPatchSchema>;

export const AgentSchema = z
  .object({
    id: z.string().openapi({ example: 'agt_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    application_id: z.string().nullable(),
    version: z.number().int(),
    name: z.string(),
    description: z.string().nullable(),
    model: z.string().nullable(),
    instructions: z.string(),
    tools: z.array(z.string()),
    http_tools: z.array(HttpToolSchema),
    knowledge: KnowledgeSchema.nullable(),
    limits: LimitsSchema,
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('Agent');

export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out'] as const;

export const RunInputSchema = z.object({
  message: z.string().min(1).max(100_000).openapi({ description: 'What the agent is asked' }),
  context: z.record(z.string(), z.unknown()).optional().openapi({ description: 'Free data given to the agent (as JSON after the message)' }),
});

export const RunSchema = z
  .object({
    id: z.string().openapi({ example: 'run_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    agent_id: z.string(),
    agent_version: z.number().int(),
    application_id: z.string().nullable(),
    end_user_id: z.string().nullable(),
    schedule_id: z.string().nullable(),
    trigger: z.string(),
    status: z.enum(RUN_STATUSES),
    input: z.record(z.string(), z.unknown()),
    output: z.record(z.string(), z.unknown()).nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    usage: z.object({ input_tokens: z.number().int(), output_tokens: z.number().int() }),
    cancel_requested: z.boolean(),
    last_seq: z.number().int(),
    created_at: IsoDate,
    started_at: IsoDate.nullable(),
    finished_at: IsoDate.nullable(),
  })
  .openapi('AgentRun');

export const RunEventSchema = z
  .object({
    seq: z.number().int(),
    type: z.string().openapi({ description: 'status, delta, tool_call, tool_result, log, usage' }),
    data: z.record(z.string(), z.unknown()),
    created_at: IsoDate,
  })
  .openapi('AgentRunEvent');

export const ScheduleInputSchema = z.object({
  agent_id: z.string().min(1).max(64),
  cron: z.string().min(1).max(100).nullable().optional().openapi({ description: 'Cron expression (croner, 5 or 6 fields); null with run_at for a one-off' }),
  run_at: z.string().datetime({ offset: true }).optional().openapi({ description: 'One-off: when to run' }),
  timezone: z.string().min(1).max(64).default('UTC'),
  input: RunInputSchema,
  enabled: z.boolean().default(true),
});
export type ScheduleInput = z.infer<typeof ScheduleInputSchema>;

export const SchedulePatchSchema = z.object({
  cron: z.string().min(1).max(100).optional(),
  timezone: z.string().min(1).max(64).optional(),
  input: RunInputSchema.optional(),
  enabled: z.boolean().optional(),
});

export const ScheduleSchema = z
  .object({
    id: z.string(),
    agent_id: z.string(),
    application_id: z.string().nullable(),
    cron: z.string().nullable(),
    timezone: z.string(),
    input: z.record(z.string(), z.unknown()),
    enabled: z.boolean(),
    next_run_at: IsoDate.nullable(),
    last_run_at: IsoDate.nullable(),
    created_at: IsoDate,
  })
  .openapi('AgentSchedule');
