import { z } from '@hono/zod-openapi';
import { ApiError } from './errors.ts';

/**
 * How deeply free-form JSON may nest (objects and arrays, the outermost counting as one). Deeper input
 * makes every recursive walk (JSON.stringify, jsonb, zod) overflow the stack: 10,000 levels answered
 * 500. Real documents nest a dozen levels at most.
 */
export const JSON_MAX_DEPTH = 64;

type Path = (string | number)[];

/**
 * The path of the first container nested deeper than `max` in JSON text, or null. One pass over the
 * characters without parsing, so a body is refused before JSON.parse spends time on it (parsing
 * 500,000 levels takes most of a second). Malformed text is left for the parser to report.
 */
export function tooDeepInText(text: string, max = JSON_MAX_DEPTH): Path | null {
  // One frame per open container: the index its current member sits at (arrays), or where the
  // member's key is in the text (objects): keys are decoded only for the path of a refusal.
  const at: number[] = [];
  const keyEnd: number[] = [];
  const isArray: boolean[] = [];
  let expectingKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      const start = i;
      for (i++; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c === 0x5c /* \ */) i++;
        else if (c === 0x22) break;
      }
      if (expectingKey && at.length > 0) {
        at[at.length - 1] = start;
        keyEnd[keyEnd.length - 1] = i;
        expectingKey = false;
      }
    } else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      if (at.length >= max) return at.map((value, depth) => (isArray[depth] ? value : keyOf(text, value, keyEnd[depth]!)));
      const array = ch === 0x5b;
      at.push(array ? 0 : -1);
      keyEnd.push(-1);
      isArray.push(array);
      expectingKey = !array;
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      at.pop();
      keyEnd.pop();
      isArray.pop();
      expectingKey = false;
    } else if (ch === 0x2c /* , */ && at.length > 0) {
      if (isArray[isArray.length - 1]) at[at.length - 1]! += 1;
      else expectingKey = true;
    }
  }
  return null;
}

/** The key whose quoted text runs from `start` to `end` (inclusive), decoded; '' before the first key. */
function keyOf(text: string, start: number, end: number): string {
  if (start < 0) return '';
  try {
    return JSON.parse(text.slice(start, end + 1)) as string;
  } catch {
    return text.slice(start + 1, end);
  }
}

/** The path of the first object or array nested deeper than `max` in a parsed value, or null. Iterative, for the same reason. */
export function tooDeepInValue(value: unknown, max = JSON_MAX_DEPTH): Path | null {
  const stack: { value: unknown; path: Path }[] = [{ value, path: [] }];
  while (stack.length > 0) {
    const { value: v, path } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (path.length >= max) return path;
    const entries: [string | number, unknown][] = Array.isArray(v) ? v.map((item, i) => [i, item]) : Object.entries(v);
    for (const [key, child] of entries) if (child !== null && typeof child === 'object') stack.push({ value: child, path: [...path, key] });
  }
  return null;
}

const depthMessage = `nests deeper than ${JSON_MAX_DEPTH} levels of objects and arrays`;

/** The 400 for JSON nested too deeply, naming where (`location.field.path`). */
export function tooDeepError(location: string, path: Path, field?: string): ApiError {
  const full = [...(field ? [field] : []), ...path].join('.');
  const named = full || location;
  return new ApiError('VALIDATION_ERROR', `${named === location ? location : `${location}.${named}`}: ${depthMessage}`, {
    details: { limit_depth: JSON_MAX_DEPTH, issues: [{ field: named, location, code: 'too_deep', message: depthMessage }] },
  });
}

/** JSON.parse that refuses text nesting deeper than JSON_MAX_DEPTH (400 naming `field`); a SyntaxError is still the caller's. */
export function parseJson(text: string, field: string, location = 'body'): unknown {
  const deep = tooDeepInText(text);
  if (deep) throw tooDeepError(location, deep, field);
  return JSON.parse(text) as unknown;
}

/**
 * A free-form JSON object (metadata and the like): any keys and values, at most JSON_MAX_DEPTH deep
 * and `maxBytes` of JSON. The depth is checked first, so the size check never overflows the stack.
 */
export function jsonObject(maxBytes: number, keys: z.ZodString = z.string()) {
  return z.record(keys, z.unknown()).superRefine((value, ctx) => {
    const deep = tooDeepInValue(value);
    if (deep) {
      ctx.addIssue({ code: 'custom', path: deep, message: depthMessage });
      return;
    }
    if (JSON.stringify(value).length > maxBytes) ctx.addIssue({ code: 'custom', message: `at most ${Math.round(maxBytes / 1024)} KB of JSON` });
  });
}
