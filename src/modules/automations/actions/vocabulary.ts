import { z } from '@hono/zod-openapi';
import { EVENT_PATTERN } from '../../../core/events/format.ts';
import { TEXT_TASKS } from '../../ai/index.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { checkCondition, checkMapping, type ExpressionIssue } from './expressions.ts';

/**
 * The one action vocabulary of automations, scheduled jobs and plugins. An action is
 * `{ id?, type, input, on_error? }`; `input` fields may hold JSONata expressions in `{{ }}` that read
 * the trigger (`event`, `data`), earlier steps' outputs (`steps.<id>`) and `now`.
 */
export const ACTION_TYPES = ['create_object', 'update_object', 'delete_object', 'send_email', 'send_notification', 'call_webhook', 'run_function', 'ai_step', 'emit_event'] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

const Props = z.record(z.string(), z.unknown());
const Id = z.string().min(1).max(64);

/** The input each action type takes, once its expressions are evaluated. */
export const ACTION_INPUTS = {
  create_object: z.object({ object_type: Id, properties: Props }).strict(),
  update_object: z.object({ object_type: Id, object_id: Id, properties: Props }).strict(),
  delete_object: z.object({ object_type: Id, object_id: Id }).strict(),
  send_email: z
    .object({
      to: z.union([z.string().email(), z.array(z.string().email()).min(1).max(50)]),
      subject: z.string().min(1).max(500),
      text: z.string().max(100_000).optional(),
      html: z.string().max(200_000).optional(),
    })
    .strict(),
  call_webhook: z
    .object({
      url: z.string().url().max(2048),
      method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).optional(),
      headers: z.record(z.string().max(200), z.string().max(4096)).optional(),
      body: z.unknown().optional(),
    })
    .strict(),
  send_notification: z
    .object({
      user_id: Id,
      title: z.string().min(1).max(200),
      body: z.string().max(5000).optional(),
      type: z.string().min(1).max(100).optional(),
      action_url: z.string().url().max(2048).optional(),
    })
    .strict(),
  run_function: z.object({ function_id: Id, input: z.unknown().optional() }).strict(),
  ai_step: z
    .object({
      task: z.enum(TEXT_TASKS),
      text: z.string().min(1).max(100_000).optional(),
      labels: z.array(z.string().min(1).max(100)).min(2).max(50).optional(),
      prompt: z.string().min(1).max(100_000).optional(),
      max_length: z.number().int().min(20).max(5000).optional(),
      max_tokens: z.number().int().min(1).max(8192).optional(),
      model: z.string().min(1).max(200).optional(),
    })
    .strict(),
  emit_event: z.object({ event_type: z.string().min(1).max(100).regex(EVENT_PATTERN), data: Props.optional() }).strict(),
} satisfies Record<ActionType, z.ZodObject<any>>;

export const ActionSchema = z
  .object({
    id: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,39}$/)
      .optional()
      .openapi({ description: 'Names the step: later inputs read its output as `steps.<id>` (default `step_<index>`)', example: 'create_deal' }),
    type: z.enum(ACTION_TYPES).openapi({
      description:
        '`create_object` {object_type, properties}; `update_object` {object_type, object_id, properties}; `delete_object` {object_type, object_id}; `send_email` {to, subject, text?, html?}; `send_notification` {user_id, title, body?, type?, action_url?} (to a user of the tenant, through their notification preferences); `call_webhook` {url, method?, headers?, body?} (through the outbound guard); `run_function` {function_id, input?}; `ai_step` {task: summarize {text, max_length?} | classify {text, labels} | generate {prompt, max_tokens?}, model?} (through the tenant\'s AI provider, counted in its AI usage; output `{summary}`, `{label}` or `{text}` with `model`); `emit_event` {event_type, data?} (a custom event type)',
    }),
    input: z.record(z.string(), z.unknown()).default({}).openapi({
      description: 'The action\'s fields. A string `{{ expr }}` is a JSONata expression over `{ event, data, steps, now }`; `"Hello {{ data.name }}"` interpolates.',
      example: { object_type: 'tasks', properties: { title: 'Follow up {{ data.properties.name }}', amount: '{{ data.properties.amount * 2 }}' } },
    }),
    on_error: z.enum(['stop', 'continue']).default('stop').openapi({ description: '`stop` (default): the run fails when this action fails after its retries; `continue`: the run goes on' }),
  })
  .openapi('AutomationAction');

export type ActionDef = z.infer<typeof ActionSchema>;

export const stepId = (action: Pick<ActionDef, 'id'>, index: number) => action.id ?? `step_${index}`;

/** The fields each AI task needs beside `task` (the schema has them optional: they differ per task). */
export const AI_STEP_NEEDS = { summarize: ['text'], classify: ['text', 'labels'], generate: ['prompt'] } as const;

const hasExpression = (value: unknown) => typeof value === 'string' && value.includes('{{');

/**
 * Save-time check of one action's input: known fields, required fields present, literal values of the
 * right type, expressions that compile. Issues name the path (`actions[1].input.name`).
 */
export function checkActionInput(type: ActionType, input: Record<string, unknown>, path: string, reserved: (eventType: string) => boolean, issues: ExpressionIssue[] = []): ExpressionIssue[] {
  const schema = ACTION_INPUTS[type];
  const shape = schema.shape as Record<string, z.ZodTypeAny>;
  for (const [key, value] of Object.entries(input)) {
    const field = Object.hasOwn(shape, key) ? shape[key] : undefined;
    if (!field) {
      issues.push({ field: `${path}.${key}`, message: `unknown field for ${type}; it takes ${Object.keys(shape).join(', ')}` });
      continue;
    }
    checkMapping(value, `${path}.${key}`, issues);
    if (hasExpression(value)) continue;
    // Nested values may hold expressions too: only a value without any is checked for its type.
    if (JSON.stringify(value ?? null).includes('{{')) continue;
    const parsed = field.safeParse(value);
    if (!parsed.success) issues.push({ field: `${path}.${key}`, message: parsed.error.issues[0]?.message ?? 'invalid value' });
  }
  for (const [key, field] of Object.entries(shape)) {
    if (!(key in input) && !field.isOptional()) issues.push({ field: `${path}.${key}`, message: `required for ${type}` });
  }
  if (type === 'ai_step' && typeof input.task === 'string' && !hasExpression(input.task)) {
    for (const key of AI_STEP_NEEDS[input.task as keyof typeof AI_STEP_NEEDS] ?? []) {
      if (!(key in input)) issues.push({ field: `${path}.${key}`, message: `required for ai_step ${input.task}` });
    }
  }
  if (type === 'emit_event' && typeof input.event_type === 'string' && !hasExpression(input.event_type) && reserved(input.event_type)) {
    issues.push({ field: `${path}.event_type`, message: `'${input.event_type}' is a platform event type; emit your own types` });
  }
  return issues;
}

/** Checks a list of actions and conditions; throws a 400 naming every path at fault. */
export function assertActions(actions: ActionDef[] | undefined, conditions: unknown[] | undefined, reserved: (eventType: string) => boolean): void {
  const issues: ExpressionIssue[] = [];
  const ids = new Set<string>();
  (actions ?? []).forEach((action, i) => {
    const id = stepId(action, i);
    if (ids.has(id)) issues.push({ field: `actions[${i}].id`, message: `step id '${id}' is used twice` });
    ids.add(id);
    checkActionInput(action.type, action.input, `actions[${i}].input`, reserved, issues);
  });
  (conditions ?? []).forEach((rule, i) => checkCondition(rule, `conditions[${i}]`, issues));
  throwIssues(issues);
}

export function throwIssues(issues: ExpressionIssue[]): void {
  const first = issues[0];
  if (!first) return;
  throw new ApiError('VALIDATION_ERROR', `${first.field}: ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`, {
    details: { issues: issues.map((i) => ({ field: i.field, location: 'body', code: 'invalid_action', message: i.message })) },
  });
}
