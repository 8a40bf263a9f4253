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
        for (const m of node.params.matchAll(/([a-z-]+)\(/gi)) {
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
  for (const m of value.matchAll(/([a-z-]+)\s*\(/gi)) {
    const fn = m[1]!.toLowerCase();
    if (!FUNCTIONS.has(fn)) return `${fn}() is not allowed`;
  }
  for (const m of value.matchAll(/url\s*\(\s*(['"]?)([^'")]*)\1\s*\)/gi)) {
    if (!/^https:\/\//i.test(m[2]!.trim())) return 'url() must be an https URL';
  }
  // A url( that the pattern above did not close (nested quotes, stray parentheses) is not trusted.
  if ((value.match(/url\s*\(/gi)?.length ?? 0) !== (value.match(/url\s*\(\s*(['"]?)[^'")]*\1\s*\)/gi)?.length ?? 0)) return 'url() could not be read';
  return null;
}
