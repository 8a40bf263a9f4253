import type Sharp from 'sharp';
import { lazyRequire } from '../../../core/lazy.ts';
import { localEmbeddings } from './local-embeddings.ts';
import { countTokens } from './tokens.ts';
import type { AiProvider, ChatChunk, ChatModel, ChatRequest, ModerationModel, ModerationResult, VisionModel } from './types.ts';

const sharp = lazyRequire<typeof Sharp>('sharp');

/**
 * The built-in provider: no network, no key, and honest about what it is. It does not write new text:
 * it answers by extracting the sentences of the given and retrieved text that best match the question,
 * summarises the same way, tags with the most frequent keywords, moderates with word lists, and
 * describes an image from the image's own metadata. Every answer names the model that made it.
 */
export const LOCAL_MODELS = {
  chat: 'plinth-local-extractive',
  embedding: 'use-lite-512',
  vision: 'plinth-local-image-metadata',
  moderation: 'plinth-local-wordlist',
} as const;

const STOPWORDS = new Set(
  (
    'a an and are as at be been but by can could did do does for from had has have he her hers him his how i if in into is it its ' +
    'me my no nor not of on or our ours she so some such than that the their them then there these they this those to too us ' +
    'was we were what when where which who whom why will with would you your yours about above after again against all am any ' +
    'because before being below between both down during each few further here just more most other out over own same should ' +
    'only under until up very off once also may might must shall tell please give show find get'
  ).split(' '),
);

/** Lower-case words of 2+ letters or digits (a linear scan: no regular expression input can make slow). */
export function words(text: string): string[] {
  return text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 1);
}

export function keywords(text: string): string[] {
  return words(text).filter((w) => !STOPWORDS.has(w) && !/^\d+$/.test(w));
}

/** Sentences: split after . ! ? or a line break. */
export function sentences(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    const end = ch === '\n' || ((ch === '.' || ch === '!' || ch === '?') && (i + 1 === text.length || /\s/.test(text[i + 1]!)));
    if (end) {
      const s = text.slice(start, i + 1).trim();
      if (s) out.push(s);
      start = i + 1;
    }
  }
  const rest = text.slice(start).trim();
  if (rest) out.push(rest);
  return out;
}

/** The sentences that best cover the most frequent keywords, in their original order, within `maxChars`. */
export function extractiveSummary(text: string, maxChars: number): string {
  const all = sentences(text);
  if (all.length === 0) return '';
  const freq = new Map<string, number>();
  for (const w of keywords(text)) freq.set(w, (freq.get(w) ?? 0) + 1);
  const scored = all.map((s, i) => {
    const ws = keywords(s);
    const score = ws.reduce((n, w) => n + (freq.get(w) ?? 0), 0) / Math.max(1, Math.sqrt(ws.length)) + (i === 0 ? 0.5 : 0);
    return { s, i, score };
  });
  const chosen: typeof scored = [];
  let used = 0;
  for (const c of [...scored].sort((a, b) => b.score - a.score || a.i - b.i)) {
    if (used + c.s.length + 1 > maxChars) continue;
    chosen.push(c);
    used += c.s.length + 1;
  }
  if (chosen.length === 0) return all[0]!.slice(0, Math.max(0, maxChars - 1)).trimEnd() + (all[0]!.length >= maxChars ? '…' : '');
  return chosen
    .sort((a, b) => a.i - b.i)
    .map((c) => c.s)
    .join(' ');
}

/** The `n` most frequent keywords (ties: first seen first). */
export function topKeywords(text: string, n: number): string[] {
  const freq = new Map<string, number>();
  for (const w of keywords(text)) if (w.length > 2) freq.set(w, (freq.get(w) ?? 0) + 1);
  return [...freq.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([w]) => w);
}

/** The sentences of `sources` that share the most keywords with `question`. */
function extractAnswer(question: string, sources: string[], maxSentences = 3): string[] {
  const asked = new Set(keywords(question));
  if (asked.size === 0) return [];
  const candidates = sources.flatMap((text) => sentences(text));
  return candidates
    .map((s, i) => {
      const ws = new Set(keywords(s));
      let hits = 0;
      for (const w of asked) if (ws.has(w)) hits++;
      return { s, i, hits };
    })
    .filter((c) => c.hits > 0)
    .sort((a, b) => b.hits - a.hits || a.i - b.i)
    .slice(0, maxSentences)
    .sort((a, b) => a.i - b.i)
    .map((c) => c.s);
}

/** Splits an answer into the deltas a stream sends: a word (with its following space) at a time. */
function* deltas(text: string): Generator<string> {
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === ' ' && i > start) {
      yield text.slice(start, i + 1);
      start = i + 1;
    }
  }
  if (start < text.length) yield text.slice(start);
}

export function localAnswer(request: ChatRequest): string {
  const question = [...request.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const earlier = request.messages.filter((m) => m.content !== question).map((m) => m.content);
  const sources = [...(request.context ?? []), ...(request.system ? [request.system] : []), ...earlier];
  const found = extractAnswer(question, sources);
  if (found.length > 0) return found.join(' ');
  if (sources.length === 0) {
    return `I am ${LOCAL_MODELS.chat}, Plinth's built-in model: I answer only from the conversation and the records retrieved for it, and there is nothing yet to answer from. Configure an AI provider (POST /v1/ai-providers) for generated answers.`;
  }
  return `I am ${LOCAL_MODELS.chat}, Plinth's built-in model: nothing in the conversation or the retrieved records matches the question.`;
}

export const localChat: ChatModel = {
  provider: 'local',
  defaultModel: LOCAL_MODELS.chat,
  async *stream(request: ChatRequest): AsyncIterable<ChatChunk> {
    let answer = localAnswer(request);
    let output = countTokens(answer);
    if (request.maxTokens !== undefined && output > request.maxTokens) {
      // Cut at the token budget, at a word boundary (only when over it: counting every prefix of an
      // answer that fits cost a run more CPU than the rest of its execution).
      let kept = '';
      for (const piece of deltas(answer)) {
        if (countTokens(kept + piece) > request.maxTokens) break;
        kept += piece;
      }
      answer = kept.trimEnd() || answer.split(' ')[0]!;
      output = countTokens(answer);
    }
    for (const piece of deltas(answer)) {
      if (request.signal?.aborted) return;
      yield { type: 'delta', text: piece };
    }
    const input = countTokens([request.system ?? '', ...request.messages.map((m) => m.content), ...(request.context ?? [])].join('\n'));
    yield { type: 'end', model: LOCAL_MODELS.chat, usage: { input, output }, finishReason: 'stop' };
  },
};

// ---------------------------------------------------------------- moderation

/** Small word lists per category: a transparent classifier, not a trained one. */
const CATEGORY_WORDS: Record<string, string[]> = {
  harassment: ['idiot', 'stupid', 'moron', 'loser', 'dumb', 'pathetic', 'worthless', 'shut up'],
  hate: ['subhuman', 'vermin', 'inferior race', 'go back to your country', 'exterminate them'],
  violence: ['kill you', 'murder', 'shoot you', 'stab', 'beat you', 'bomb', 'behead', 'i will hurt'],
  self_harm: ['kill myself', 'suicide', 'self harm', 'cut myself', 'end my life'],
  sexual: ['porn', 'nude', 'explicit sex', 'sexual content'],
  profanity: ['fuck', 'shit', 'bitch', 'bastard', 'asshole', 'damn', 'crap'],
};

export function classify(text: string): ModerationResult {
  const padded = ` ${words(text).join(' ')} `;
  const categories: Record<string, boolean> = {};
  const scores: Record<string, number> = {};
  for (const [category, list] of Object.entries(CATEGORY_WORDS)) {
    let hits = 0;
    for (const phrase of list) if (padded.includes(` ${phrase} `)) hits++;
    scores[category] = hits === 0 ? 0 : Math.min(1, 0.6 + 0.2 * (hits - 1));
    categories[category] = hits > 0;
  }
  return { flagged: Object.values(categories).some(Boolean), categories, category_scores: scores };
}

export const localModeration: ModerationModel = {
  id: LOCAL_MODELS.moderation,
  async moderate(texts) {
    return { results: texts.map(classify), model: LOCAL_MODELS.moderation, usage: { input: texts.reduce((n, t) => n + countTokens(t), 0), output: 0 } };
  },
};

// ---------------------------------------------------------------- image description

export const localVision: VisionModel = {
  id: LOCAL_MODELS.vision,
  async describe(image) {
    const meta = await sharp()(image.bytes, { animated: true }).metadata();
    const stats = await sharp()(image.bytes).stats().catch(() => null);
    const width = meta.width ?? 0;
    const height = meta.pageHeight ?? meta.height ?? 0;
    const orientation = width === height ? 'square' : width > height ? 'landscape' : 'portrait';
    const parts = [`A ${orientation} ${(meta.format ?? 'image').toUpperCase()} image, ${width}×${height} pixels`];
    if (meta.pages && meta.pages > 1) parts.push(`animated with ${meta.pages} frames`);
    if (meta.hasAlpha) parts.push('with transparency');
    if (meta.space) parts.push(`in ${meta.space} colour space`);
    if (stats) {
      const [r, g, b] = [stats.channels[0]?.mean ?? 0, stats.channels[1]?.mean ?? stats.channels[0]?.mean ?? 0, stats.channels[2]?.mean ?? stats.channels[0]?.mean ?? 0];
      const brightness = (r + g + b) / 3;
      parts.push(`${brightness < 70 ? 'mostly dark' : brightness > 190 ? 'mostly bright' : 'of medium brightness'}, dominant colour rgb(${stats.dominant.r}, ${stats.dominant.g}, ${stats.dominant.b})`);
    }
    if (meta.exif) parts.push('carrying EXIF metadata');
    const description = `${parts.join(', ')}. (Described from the image's metadata by ${LOCAL_MODELS.vision}; configure an AI provider for a description of its content.)`;
    return { description, model: LOCAL_MODELS.vision, usage: { input: 0, output: countTokens(description) } };
  },
};

export function localProvider(): AiProvider {
  return {
    id: null,
    name: 'local',
    type: 'local',
    chat: localChat,
    embeddings: () => localEmbeddings(),
    moderation: localModeration,
    vision: localVision,
    probe: async () => {},
    models: () => ({
      text_generation: [LOCAL_MODELS.chat],
      text_embedding: [LOCAL_MODELS.embedding],
      image_to_text: [LOCAL_MODELS.vision],
      text_classification: [LOCAL_MODELS.moderation],
    }),
  };
}
