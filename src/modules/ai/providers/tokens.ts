import type { Tiktoken } from 'js-tiktoken';
import { lazyRequire } from '../../../core/lazy.ts';

const tiktoken = lazyRequire<typeof import('js-tiktoken')>('js-tiktoken');

let encoding: Tiktoken | undefined;
const cl100k = () => (encoding ??= tiktoken().getEncoding('cl100k_base'));

/**
 * Byte-pair merging in js-tiktoken (and in gpt-tokenizer) is quadratic or worse in the length of one
 * pre-split piece: 16,000 letters without a break take 17 s, the 100,000 a request may carry minutes of
 * a blocked process. No real word is that long, so text whose runs of non-space or of space are all
 * shorter than LONG_RUN (every piece then is) is encoded whole, exactly as OpenAI counts it; a longer run
 * is encoded in SLICE-character slices, a count that is close and costs at most a few hundred ms per
 * 100,000 characters.
 */
const LONG_RUN = /\S{64,}|\s{64,}/;
const LONG_RUNS = /\S{64,}|\s{64,}/g;
const SLICE = 16;

/** The text's cl100k_base tokens. */
export function encodeTokens(text: string): number[] {
  const enc = cl100k();
  if (!LONG_RUN.test(text)) return enc.encode(text);
  const out: number[] = [];
  const add = (part: string) => {
    if (part) for (const t of enc.encode(part)) out.push(t);
  };
  let from = 0;
  for (const run of text.matchAll(LONG_RUNS)) {
    add(text.slice(from, run.index));
    const end = run.index + run[0].length;
    for (let at = run.index; at < end; ) {
      let to = Math.min(at + SLICE, end);
      // A slice never ends between the two halves of a surrogate pair.
      if (to < end && /[\uD800-\uDBFF]/.test(text[to - 1]!)) to++;
      add(text.slice(at, to));
      at = to;
    }
    from = end;
  }
  add(text.slice(from));
  return out;
}

export function decodeTokens(tokens: number[]): string {
  return cl100k().decode(tokens);
}

/** Tokens of a text as OpenAI's cl100k_base counts them: what the local provider reports as usage. */
export function countTokens(text: string): number {
  return text ? encodeTokens(text).length : 0;
}
