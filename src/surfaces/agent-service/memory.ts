import type { ChatMessage } from '../../modules/ai/index.ts';

/**
 * Conversation memory for the agent service's chat, with compaction. A conversation's history is its
 * stored turns (a user message and the answer, whose meta holds the tool calls it made with their
 * inputs and results). Replaying every turn with its tool traffic grows without bound, so once a
 * conversation has more than TRIGGER_TURNS turns, every turn but the last KEEP_TURNS is compacted:
 * it is no longer replayed as messages but summarised in one note of the system prompt, with the
 * inputs and results of its tool calls cleared (only the tool names stay), except for tools listed
 * in EXCLUDED_TOOLS, whose inputs are kept. Kept turns are replayed with their tool calls.
 *
 * Compaction is recorded on the answer that first compacted a turn (`meta.compaction`, with the
 * payload below), so each turn is compacted once: the stream then carries one `memory_compaction`
 * event (kind `response.memory.compacted`), and the conversation's event history shows it.
 */
export const COMPACTION = { triggerTurns: 8, keepTurns: 4, clearToolInputs: true, excludedTools: [] as string[] };

/** What is replayed of a kept turn's tool traffic, and of a compacted turn's text, at most. */
const TOOL_TEXT_MAX = 2_000;
const SUMMARY_TEXT_MAX = 240;
/** The replayed history, like the AI module's: at most 50 KB with the new message. */
const HISTORY_MAX_BYTES = 50 * 1024;

export interface StoredMessage {
  id: string;
  role: 'user' | 'assistant';
  content: string;
  meta: Record<string, unknown>;
  created_at: string;
}

interface ToolLog {
  id: string;
  name: string;
  arguments: string;
  ok: boolean;
  result: unknown;
}

interface Turn {
  user: StoredMessage;
  answer?: StoredMessage;
  tools: ToolLog[];
}

export interface CompactionPayload {
  compacted_count: number;
  compacted_call_ids: string[];
  compacted_tool_names: string[];
  keep_turns: number;
  trigger_turns: number;
  clear_tool_inputs: boolean;
  excluded_tools: string[];
  total_items_before: number;
  total_items_after: number;
  turns_before: number;
  turns_after: number;
  /** How many turns (oldest first) are compacted after this. */
  compacted_turns: number;
}

export const toolsOf = (message: StoredMessage | undefined): ToolLog[] =>
  Array.isArray(message?.meta?.tool_calls) ? (message!.meta.tool_calls as ToolLog[]).filter((t) => t && typeof t.name === 'string') : [];

export function turnsOf(messages: StoredMessage[]): Turn[] {
  const turns: Turn[] = [];
  for (const m of messages) {
    if (m.role === 'user') turns.push({ user: m, tools: [] });
    else if (turns.length && !turns[turns.length - 1]!.answer) {
      const turn = turns[turns.length - 1]!;
      turn.answer = m;
      turn.tools = toolsOf(m);
    }
  }
  return turns;
}

/** Items of a turn as the stream counts them: the question, each tool call and its result, the answer. */
const itemsOf = (turn: Turn) => 1 + turn.tools.length * 2 + (turn.answer ? 1 : 0);

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text);

/** The turns compacted so far: the largest count a stored answer recorded. */
function compactedSoFar(messages: StoredMessage[]): number {
  let n = 0;
  for (const m of messages) {
    const c = m.meta?.compaction as { compacted_turns?: unknown } | undefined;
    if (typeof c?.compacted_turns === 'number') n = Math.max(n, c.compacted_turns);
  }
  return n;
}

export interface Memory {
  history: ChatMessage[];
  /** A note for the system prompt that summarises compacted turns (null: none). */
  summary: string | null;
  /** Set when this turn compacts turns not compacted before. */
  compaction: CompactionPayload | null;
}

/** The history to send with `newMessage`, compacting old turns past the threshold. */
export function buildMemory(messages: StoredMessage[], newMessage: string): Memory {
  const turns = turnsOf(messages);
  // The new turn counts: it is the one that pushes a conversation past the threshold.
  const turnsBefore = turns.length + 1;
  const before = compactedSoFar(messages);
  const target = turnsBefore > COMPACTION.triggerTurns ? Math.max(before, turnsBefore - COMPACTION.keepTurns) : before;
  const compacted = turns.slice(0, Math.min(target, turns.length));
  const kept = turns.slice(compacted.length);

  let compaction: CompactionPayload | null = null;
  if (target > before) {
    const fresh = turns.slice(before, compacted.length);
    const calls = fresh.flatMap((t) => t.tools).filter((c) => !COMPACTION.excludedTools.includes(c.name));
    const itemsBefore = turns.reduce((n, t) => n + itemsOf(t), 0) + 1;
    const itemsAfter = kept.reduce((n, t) => n + itemsOf(t), 0) + 1 + (compacted.length ? 1 : 0);
    compaction = {
      compacted_count: fresh.reduce((n, t) => n + itemsOf(t), 0),
      compacted_call_ids: calls.map((c) => c.id),
      compacted_tool_names: [...new Set(calls.map((c) => c.name))],
      keep_turns: COMPACTION.keepTurns,
      trigger_turns: COMPACTION.triggerTurns,
      clear_tool_inputs: COMPACTION.clearToolInputs,
      excluded_tools: COMPACTION.excludedTools,
      total_items_before: itemsBefore,
      total_items_after: itemsAfter,
      turns_before: turnsBefore,
      turns_after: kept.length + 1,
      compacted_turns: target,
    };
  }

  const summary = compacted.length
    ? [
        `Summary of the ${compacted.length} earliest turns of this conversation (compacted; tool inputs and results cleared):`,
        ...compacted.map((t, i) => {
          const tools = t.tools.length
            ? ` [tools: ${t.tools.map((c) => (COMPACTION.clearToolInputs && !COMPACTION.excludedTools.includes(c.name) ? c.name : `${c.name}(${clip(c.arguments, 200)})`)).join(', ')}]`
            : '';
          return `${i + 1}. User: ${clip(t.user.content, SUMMARY_TEXT_MAX)} | Assistant: ${clip(t.answer?.content ?? '', SUMMARY_TEXT_MAX)}${tools}`;
        }),
      ].join('\n')
    : null;

  // Kept turns, newest first until the size limit, then in order.
  const history: ChatMessage[] = [];
  let bytes = Buffer.byteLength(newMessage) + Buffer.byteLength(summary ?? '');
  for (let i = kept.length - 1; i >= 0; i--) {
    const t = kept[i]!;
    const toolText = t.tools.length
      ? `\n\n[Tool calls: ${clip(t.tools.map((c) => `${c.name}(${c.arguments}) -> ${JSON.stringify(c.result ?? null)}`).join('; '), TOOL_TEXT_MAX)}]`
      : '';
    const answer = (t.answer?.content ?? '') + toolText;
    bytes += Buffer.byteLength(t.user.content) + Buffer.byteLength(answer);
    if (bytes > HISTORY_MAX_BYTES) break;
    history.unshift({ role: 'user', content: t.user.content }, ...(t.answer ? [{ role: 'assistant' as const, content: answer }] : []));
  }
  return { history, summary, compaction };
}
