import type { Tiktoken } from 'js-tiktoken';
import { lazyRequire } from '../../../core/lazy.ts';

const tiktoken = lazyRequire<typeof import('js-tiktoken')>('js-tiktoken');

let encoding: Tiktoken | undefined;

/** Tokens of a text as OpenAI's cl100k_base counts them: what the local provider reports as usage. */
export function countTokens(text: string): number {
  if (!text) return 0;
  encoding ??= tiktoken().getEncoding('cl100k_base');
  return encoding.encode(text).length;
}
