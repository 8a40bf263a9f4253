import { createHash } from 'node:crypto';
import { decodeTokens, encodeTokens } from '../providers/tokens.ts';

/**
 * Token-aware chunking: text is cut into pieces of at most `maxTokens` tokens (cl100k_base, as
 * js-tiktoken counts them), overlapping by `overlap` tokens so a sentence cut in two is whole in one
 * of them. Cuts prefer a paragraph or sentence end near the limit.
 */

export const CHUNK_TOKENS = 200;
export const CHUNK_OVERLAP = 30;

export function chunkText(text: string, maxTokens = CHUNK_TOKENS, overlap = CHUNK_OVERLAP): string[] {
  const clean = text.replace(/\r\n?/g, '\n').replace(/[ \t]+/g, ' ').replace(/\n{3,}/g, '\n\n').trim();
  if (!clean) return [];
  const tokens = encodeTokens(clean);
  if (tokens.length <= maxTokens) return [clean];
  const out: string[] = [];
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
    if (piece) out.push(piece);
    if (end >= tokens.length) break;
    start = Math.max(end - overlap, start + 1);
  }
  return out;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
