import { hasScope, type Scope } from '../../../core/auth/principal.ts';
import { runInTenant, type RequestMeta, type TenantContext } from '../../../core/context.ts';
import { ApiError } from '../../../core/http/errors.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { OutboundBlockedError, OutboundFailedError, outboundFetch } from '../../../core/net/outbound.ts';
import { runTextTask, type TextTaskInput } from '../../ai/index.ts';
import { getUser } from '../../auth/index.ts';
import { sendEmail } from '../../email/index.ts';
import { createNotification } from '../../notifications/index.ts';
import { CUSTOM_EVENT } from '../../events/index.ts';
import { createObject, deleteObject, updateObject } from '../../objects/index.ts';
import { invokeStoredFunction } from '../functions/service.ts';
import { ExpressionError, resolveMapping } from './expressions.ts';
import { isPlatformEvent } from './platform-events.ts';
import { ACTION_INPUTS, AI_STEP_NEEDS, type ActionDef, type ActionType } from './vocabulary.ts';

/** The scope each action needs of the principal a run acts as (the same the matching API route needs). */
const ACTION_SCOPES: Record<ActionType, Scope> = {
  create_object: 'write',
  update_object: 'write',
  delete_object: 'write',
  send_email: 'write',
  send_notification: 'write',
  call_webhook: 'write',
  run_function: 'write',
  ai_step: 'ai',
  emit_event: 'write',
};

/** What expressions see: the trigger, earlier steps' outputs by step id, and the time. */
export interface ActionScope {
  event: Record<string, unknown>;
  data: unknown;
  steps: Record<string, unknown>;
  now: string;
}

/** An action that failed; `retryable` false when another attempt would fail the same way (bad input). */
export class ActionError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** The run is no longer this worker's (another took it over): what it did in this transaction is undone. */
export class RunFenced extends Error {
  constructor() {
    super('the run was taken over by another worker');
  }
}

const WEBHOOK_TIMEOUT_MS = 10_000;
const WEBHOOK_RESPONSE_BYTES = 256 * 1024;

/** Evaluates the action's expressions and checks the result against the action type's input. */
export async function resolveInput(action: Pick<ActionDef, 'type' | 'input'>, scope: ActionScope, path: string): Promise<Record<string, unknown>> {
  let resolved: unknown;
  try {
    resolved = await resolveMapping(action.input, scope, path);
  } catch (error) {
    if (error instanceof ExpressionError) throw new ActionError(error.message, false);
    throw error;
  }
  const parsed = ACTION_INPUTS[action.type as ActionType].safeParse(resolved);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.code === 'unrecognized_keys' ? `${path}.${issue.keys[0]}` : [path, ...issue.path].join('.');
    throw new ActionError(`${at}: ${issue.message}`, false);
  }
  return parsed.data as Record<string, unknown>;
}

function describe(error: unknown, path: string): ActionError {
  if (error instanceof ActionError) return error;
  if (error instanceof ApiError) return new ActionError(`${path}: ${error.code}: ${error.message}`, error.status >= 500 || error.status === 409 || error.status === 429);
  if (error instanceof OutboundBlockedError) return new ActionError(`the URL is refused: ${error.message}`, false);
  if (error instanceof OutboundFailedError) return new ActionError(`the request did not complete (${error.reason})`, true);
  return new ActionError((error as Error)?.message ?? String(error), true);
}

/** The action types that change only this database: each runs inside the transaction that records its step. */
export const IN_TRANSACTION_ACTIONS: ReadonlySet<string> = new Set<ActionType>(['create_object', 'update_object', 'delete_object', 'send_email', 'send_notification', 'emit_event']);

function checkScope(meta: RequestMeta, action: Pick<ActionDef, 'type'>, path: string): void {
  const needed = ACTION_SCOPES[action.type as ActionType];
  if (meta.principal && !hasScope(meta.principal, needed)) {
    throw new ActionError(`${path}: the ${meta.actor.type === 'scheduled_job' ? 'scheduled job' : 'automation'} runs as ${meta.principal.kind} ${meta.principal.id}, which lacks the '${needed}' scope ${action.type} needs`, false);
  }
}

/**
 * Runs one action of IN_TRANSACTION_ACTIONS in the caller's open transaction (`ctx`, acting as the
 * run's principal), which also records its result: the whole run then commits, or vanishes, at once.
 */
export async function performInTransaction(ctx: TenantContext, action: Pick<ActionDef, 'type' | 'input'>, scope: ActionScope, path: string): Promise<unknown> {
  try {
    checkScope(ctx, action, path);
    const input = await resolveInput(action, scope, path);
    return await applyInTransaction(ctx, action.type as ActionType, input);
  } catch (error) {
    throw describe(error, path);
  }
}

/** The actions that change only this database run inside the transaction that records their step. */
async function applyInTransaction(ctx: TenantContext, type: ActionType, input: Record<string, any>): Promise<unknown> {
  switch (type) {
    case 'create_object':
      return createObject(ctx, input.object_type, { properties: input.properties });
    case 'update_object':
      return updateObject(ctx, input.object_type, input.object_id, { properties: input.properties });
    case 'delete_object':
      return deleteObject(ctx, input.object_type, input.object_id, {});
    case 'send_email':
      return sendEmail(ctx, { to: input.to, subject: input.subject, text: input.text, html: input.html });
    case 'send_notification': {
      // A user of this tenant (404 otherwise, not retried); their address serves the email channel.
      const user = await getUser(ctx, input.user_id);
      return createNotification(ctx, { user_id: user.id, email: user.email, type: input.type ?? 'automation', title: input.title, body: input.body ?? null, ...(input.action_url ? { action_url: input.action_url } : {}) });
    }
    case 'emit_event': {
      if (isPlatformEvent(input.event_type)) throw new ActionError(`'${input.event_type}' is a platform event type; emit your own types`, false);
      const id = await ctx.emit({ type: input.event_type, resourceType: CUSTOM_EVENT, data: input.data ?? {}, audit: false });
      return { event_id: id, event_type: input.event_type };
    }
    default:
      throw new Error(`action ${type} does not run in a transaction`);
  }
}

async function callWebhook(kernel: Kernel, input: Record<string, any>): Promise<unknown> {
  const method = input.method ?? 'POST';
  const res = await outboundFetch(
    input.url,
    {
      method,
      headers: { ...(input.headers ?? {}), 'user-agent': 'Plinth-Automations' },
      ...(input.body !== undefined && method !== 'GET' ? { json: input.body } : {}),
      timeoutMs: WEBHOOK_TIMEOUT_MS,
      maxResponseBytes: WEBHOOK_RESPONSE_BYTES,
    },
    kernel.outbound,
  );
  let body: unknown = res.text;
  try {
    body = JSON.parse(res.text);
  } catch {
    // not JSON: kept as text
  }
  if (!res.ok) throw new ActionError(`the webhook answered ${res.status}`, res.status >= 500 || res.status === 429 || res.status === 408);
  return { status: res.status, body };
}

/**
 * Runs one action. `record` writes the step's result: for the actions that only change this database
 * it runs in the same transaction as the change, so a run resumed after a crash never applies a step
 * twice; calls that leave the database (webhooks, functions) run outside any transaction first.
 */
export async function performAction(
  kernel: Kernel,
  meta: RequestMeta,
  action: Pick<ActionDef, 'type' | 'input'>,
  scope: ActionScope,
  path: string,
  record: (ctx: TenantContext, output: unknown) => Promise<void>,
): Promise<unknown> {
  try {
    checkScope(meta, action, path);
    const input = await resolveInput(action, scope, path);
    let output: unknown;
    if (action.type === 'call_webhook') {
      output = await callWebhook(kernel, input);
    } else if (action.type === 'ai_step') {
      const missing = AI_STEP_NEEDS[input.task as keyof typeof AI_STEP_NEEDS].find((key) => input[key] === undefined);
      if (missing) throw new ActionError(`${path}.${missing}: required for ai_step ${input.task as string}`, false);
      output = await runTextTask((fn) => runInTenant(kernel, meta, fn), input as unknown as TextTaskInput);
    } else if (action.type === 'run_function') {
      const result = await invokeStoredFunction(kernel, meta, input.function_id as string, input.input ?? scope.data ?? null, 'automation');
      if (!result.ok) throw new ActionError(`function ${result.error.code}: ${result.error.message}`, false);
      output = result.output;
    } else {
      return await runInTenant(kernel, meta, async (ctx) => {
        const out = await applyInTransaction(ctx, action.type, input);
        await record(ctx, out);
        return out;
      });
    }
    await runInTenant(kernel, meta, (ctx) => record(ctx, output));
    return output;
  } catch (error) {
    if (error instanceof RunFenced) throw error;
    throw describe(error, path);
  }
}
