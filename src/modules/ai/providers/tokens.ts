import { getEncoding, type Tiktoken } from 'js-tiktoken';

let encoding: Tiktoken | undefined;

/** Tokens of a text as OpenAI's cl100k_base counts them: what the local provider reports as usage. */
export function countTokens(text: string): number {
  if (!text) return 0;
  encoding ??= getEncoding('cl100k_base');
  return encoding.encode(text).length;
}
