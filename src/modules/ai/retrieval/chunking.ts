import { createHash } from 'node:crypto';
import { decodeTokens, encodeTokens } from '../providers/tokens.ts';

/**
 * Token-aware chunking: text is cut into pieces of at most `maxTokens` tokens (cl100k_base, as
 * js-tiktoken counts them), overlapping by `overlap` tokens so a sentence cut in two is whole in one
 * of them. Cuts prefer a paragraph or sentence end near the limit.
 */

export const CHUNK_TOKENS = 200;
export const CHUNK_OVERLAP = 30;

/** Whitespace made plain: runs of spaces and tabs one space (a lone space, most of them, is left as it is: 8x faster on 5 MB). */
const clean = (text: string) => text.replace(/\r\n?/g, '\n').replace(/\t[ \t]*| [ \t]+/g, ' ').replace(/\n{3,}/g, '\n\n').trim();

/** The pieces of a token sequence, each cut back to a sentence or paragraph end where one is near. */
function* windows(tokens: number[], whole: string, maxTokens: number, overlap: number): Generator<string> {
  if (tokens.length <= maxTokens) {
    if (whole) yield whole;
    return;
  }
  let start = 0;
  while (start < tokens.length) {
    let end = Math.min(start + maxTokens, tokens.length);
    if (end < tokens.length) {
      // Step back (at most a quarter of the window) to the last token that ends a sentence or paragraph.
      const floor = start + Math.floor((maxTokens * 3) / 4);
      for (let i = end; i > floor; i--) {
        const piece = decodeTokens([tokens[i - 1]!]);
        if (/[.!?]\s*$|\n/.test(piece)) {
          end = i;
          break;
        }
      }
    }
    const piece = decodeTokens(tokens.slice(start, end)).trim();
    if (piece) yield piece;
    if (end >= tokens.length) break;
    start = Math.max(end - overlap, start + 1);
  }
}

/** Chunks of a short text (a record's property), at once. */
export function chunkText(text: string, maxTokens = CHUNK_TOKENS, overlap = CHUNK_OVERLAP): string[] {
  const whole = clean(text);
  return whole ? [...windows(encodeTokens(whole), whole, maxTokens, overlap)] : [];
}

/**
 * Characters tokenized between two turns of the event loop. A file may hold 25 MB of text, seconds of
 * tokenizing (5 MB of English took 2 s, 1 MB without a space 2 s): done at once, that held every request
 * of the process for as long.
 */
const SEGMENT = 16_384;
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Chunks of a long text (a file), the same as chunkText gives but tokenized a segment at a time, with
 * the event loop free between segments. A segment ends before a space that starts a word (where the
 * tokenizer's own pieces break), so only a segment without a space in it is cut mid-word.
 */
export async function chunkLongText(text: string, maxTokens = CHUNK_TOKENS, overlap = CHUNK_OVERLAP): Promise<string[]> {
  const whole = clean(text);
  if (!whole) return [];
  const tokens: number[] = [];
  for (let from = 0; from < whole.length; ) {
    let to = Math.min(from + SEGMENT, whole.length);
    if (to < whole.length) {
      const space = whole.lastIndexOf(' ', to);
      if (space > from + SEGMENT / 2) to = space;
      else if (/[\uD800-\uDBFF]/.test(whole[to - 1]!)) to++;
    }
    for (const t of encodeTokens(whole.slice(from, to))) tokens.push(t);
    from = to;
    if (from < whole.length) await turn();
  }
  const out: string[] = [];
  for (const piece of windows(tokens, whole, maxTokens, overlap)) {
    out.push(piece);
    if (out.length % 256 === 0) await turn();
  }
  return out;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
