import postcss, { type ChildNode, type Root } from 'postcss';

/**
 * Tenant CSS, made safe to put in a <style> on public pages (forms, shared dashboards, the portal).
 *
 * Parsed with postcss, the CSS parser most of the ecosystem runs on. The policy is ours: npm has no
 * maintained stylesheet sanitiser (postcss-sanitize was last published in 2017, and the DOM sanitisers
 * only treat style attributes). Allow lists, not deny lists: at-rules, functions and URL schemes that
 * are not listed are removed, and each removal is reported so the tenant sees why.
 */

const AT_RULES = new Set(['media', 'supports', 'font-face', 'keyframes', '-webkit-keyframes', 'page', 'layer', 'container']);
const FUNCTIONS = new Set([
  'url', 'rgb', 'rgba', 'hsl', 'hsla', 'hwb', 'lab', 'lch', 'oklab', 'oklch', 'color', 'color-mix', 'calc', 'min', 'max', 'clamp', 'var', 'env',
  'linear-gradient', 'radial-gradient', 'conic-gradient', 'repeating-linear-gradient', 'repeating-radial-gradient', 'repeating-conic-gradient',
  'translate', 'translatex', 'translatey', 'translate3d', 'rotate', 'rotatex', 'rotatey', 'rotatez', 'rotate3d', 'scale', 'scalex', 'scaley', 'scale3d',
  'skew', 'skewx', 'skewy', 'matrix', 'matrix3d', 'perspective', 'cubic-bezier', 'steps', 'blur', 'brightness', 'contrast', 'drop-shadow',
  'grayscale', 'hue-rotate', 'invert', 'opacity', 'saturate', 'sepia', 'minmax', 'repeat', 'fit-content', 'format', 'local', 'counter', 'counters',
]);
/** Properties that bind script or behaviour in some browser. */
const PROPERTIES_REFUSED = /^(behavior|-moz-binding|-ms-behavior)$/i;
export const MAX_REMOVED_REPORTED = 50;

export interface CssRemoval {
  /** Line of the removed part in the submitted CSS. */
  line: number | null;
  removed: string;
  reason: string;
}

export class CssSyntaxError extends Error {}

export function sanitizeCss(css: string): { css: string; removed: CssRemoval[] } {
  // Markup can never be needed in CSS and is the way out of a <style> element; refused before parsing.
  if (css.includes('<')) throw new CssSyntaxError('markup characters (<) are not allowed in CSS');
  let root: Root;
  try {
    root = postcss.parse(css);
  } catch (error) {
    const e = error as { reason?: string; line?: number; column?: number };
    throw new CssSyntaxError(`not valid CSS: ${e.reason ?? 'parse error'}${e.line ? ` at line ${e.line}, column ${e.column}` : ''}`);
  }
  const removed: CssRemoval[] = [];
  const drop = (node: ChildNode, reason: string) => {
    removed.push({ line: node.source?.start?.line ?? null, removed: node.toString().slice(0, 200), reason });
    node.remove();
  };
  root.walk((node) => {
    switch (node.type) {
      case 'comment':
        node.remove(); // comments can split keywords that old parsers joined back (ex/**/pression)
        return;
      case 'atrule':
        if (!AT_RULES.has(node.name.toLowerCase())) return drop(node, `@${node.name} is not allowed`);
        if (node.params.includes('\\')) return drop(node, `@${node.name}: escapes are not allowed`);
        // Conditions are parenthesised features, `screen and (min-width: 40em)`; a function token there
        // (an identifier touching its parenthesis) is only allowed from the same list, and never url().
        for (const m of node.params.matchAll(/(?<![a-z-])([a-z-]+)\(/gi)) {
          const fn = m[1]!.toLowerCase();
          if (fn === 'url' || !FUNCTIONS.has(fn)) return drop(node, `@${node.name}: ${fn}() is not allowed`);
        }
        return;
      case 'rule':
        if (node.selector.includes('\\')) return drop(node, 'escapes in selectors are not allowed');
        return;
      case 'decl': {
        if (PROPERTIES_REFUSED.test(node.prop)) return drop(node, `${node.prop} is not allowed`);
        const reason = unsafeValue(node.value) ?? (node.prop.includes('\\') ? 'escapes are not allowed' : null);
        if (reason) return drop(node, reason);
        return;
      }
    }
  });
  // Rules left empty by removals are removed too, so the stored CSS holds only what applies.
  root.walkRules((rule) => {
    if (rule.nodes.length === 0) rule.remove();
  });
  return { css: root.toString().trim(), removed: removed.slice(0, MAX_REMOVED_REPORTED) };
}

function unsafeValue(value: string): string | null {
  // An escape can spell any word (e\78pression, u\72l): nothing legitimate in a brand stylesheet needs one.
  if (value.includes('\\')) return 'escapes are not allowed';
  if (/(javascript|vbscript|data)\s*:/i.test(value)) return 'script and data URLs are not allowed';
  for (const fn of functionNames(value)) if (!FUNCTIONS.has(fn)) return `${fn}() is not allowed`;
  const urls = urlsOf(value);
  if (urls === null) return 'url() could not be read';
  if (urls.some((u) => !/^https:\/\//i.test(u))) return 'url() must be an https URL';
  return null;
}

/**
 * The names of the functions a value calls (`name(`, `name (`), lower-cased, in order: read back from
 * each parenthesis over spaces and then letters and hyphens. By hand, as the regex for it
 * (`(?<![a-z-])([a-z-]+)\s*\(`) was found to backtrack polynomially by recheck's fuzzer on some runs.
 */
function functionNames(value: string): string[] {
  const text = value.toLowerCase();
  const names: string[] = [];
  const isName = (code: number) => (code >= 97 && code <= 122) || code === 45;
  for (let open = text.indexOf('('); open !== -1; open = text.indexOf('(', open + 1)) {
    let end = open;
    while (end > 0 && /\s/.test(text[end - 1]!)) end--;
    let start = end;
    while (start > 0 && isName(text.charCodeAt(start - 1))) start--;
    if (start < end) names.push(text.slice(start, end));
  }
  return names;
}

/**
 * The targets of every `url(...)` in a value, or null when one is not a plain `url(x)`, `url("x")` or
 * `url('x')` (a nested quote or parenthesis): read by hand, as a regex for it backtracks polynomially.
 */
function urlsOf(value: string): string[] | null {
  const out: string[] = [];
  const lower = value.toLowerCase();
  let at = lower.indexOf('url');
  while (at !== -1) {
    let i = at + 3;
    while (value[i] === ' ' || value[i] === '\t' || value[i] === '\n') i++;
    if (value[i] !== '(') {
      at = lower.indexOf('url', at + 3);
      continue;
    }
    i++;
    while (value[i] === ' ' || value[i] === '\t' || value[i] === '\n') i++;
    const quote = value[i] === '"' || value[i] === "'" ? value[i]! : null;
    if (quote) i++;
    const end = quote ? value.indexOf(quote, i) : value.indexOf(')', i);
    if (end === -1) return null;
    const target = value.slice(i, end);
    if (/["'()]/.test(target)) return null;
    let j = quote ? end + 1 : end;
    while (value[j] === ' ' || value[j] === '\t' || value[j] === '\n') j++;
    if (value[j] !== ')') return null;
    out.push(target.trim());
    at = lower.indexOf('url', j);
  }
  return out;
}
