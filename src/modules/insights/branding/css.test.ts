import { describe, expect, it } from 'vitest';
import { CssSyntaxError, sanitizeCss } from './css.ts';

/** Published CSS injection tricks (OWASP's filter evasion sheet and sanitiser test suites): each is removed or refused. */
describe('sanitizeCss', () => {
  const kept = (css: string) => sanitizeCss(css).css;

  it('keeps ordinary brand CSS, media queries, keyframes, fonts over https and child selectors', () => {
    const css = [
      ':root { --brand: #1a73e8 }',
      '.form > .btn:hover { color: var(--brand); background: linear-gradient(90deg, rgb(0 0 0 / 50%), #fff); transform: translateX(2px) }',
      '@media screen and (min-width: 40em) { .form { max-width: min(60ch, 100%) } }',
      '@keyframes pulse { from { opacity: 0 } to { opacity: 1 } }',
      '@font-face { font-family: Brand; src: url("https://cdn.example.com/brand.woff2") format("woff2") }',
    ].join('\n');
    expect(sanitizeCss(css)).toEqual({ css, removed: [] });
  });

  it.each([
    ['a { width: expression(alert(1)) }'],
    ['a { width: ex/**/pression(alert(1)) }'],
    ['a { width: e\\78pression(alert(1)) }'],
    ['a { background: url(javascript:alert(1)) }'],
    ['a { background: url("JaVaScRiPt:alert(1)") }'],
    ["a { background: url('data:image/png;base64,iVBORw0KGgo=') }"],
    ['a { background: u\\72l(https://x) }'],
    ['a { background: url(//evil.example/x.png) }'],
    ['a { background: url(http://evil.example/x.png) }'],
    ['a { background: image-set("https://evil.example/a.png" 1x) }'],
    ['a { behavior: url(xss.htc) }'],
    ['a { -moz-binding: url(https://evil.example/xbl.xml#x) }'],
    ['a { content: attr(data-x) }'],
    ['a { background: url(https://ok.example/a.png) url(javascript:alert(1)) }'],
    ['@import "https://evil.example/x.css";'],
    ['@import url(https://evil.example/x.css);'],
    ['@charset "utf-8";'],
    ['@namespace svg url(http://www.w3.org/2000/svg);'],
    ['@media url(https://evil.example) { a { color: red } }'],
    ['a\\3c script { color: red }'],
  ])('removes %s', (css) => {
    const out = sanitizeCss(css);
    expect(out.removed.length).toBeGreaterThan(0);
    expect(out.css).not.toMatch(/expression|javascript|evil|url\(http:|url\(\/\/|behavior|binding|@import|@charset|@namespace|attr\(|\\\\/i);
  });

  it('refuses markup and CSS that does not parse', () => {
    expect(() => sanitizeCss('</style><script>alert(1)</script>')).toThrow(CssSyntaxError);
    expect(() => sanitizeCss('a { color: red')).toThrow(/line 1/);
    expect(() => sanitizeCss('a { color: "unclosed }')).toThrow(CssSyntaxError);
  });

  it('drops rules left empty and comments', () => {
    expect(kept('/* hi */ a { behavior: url(x.htc) } b { color: red }')).toBe('b { color: red }');
  });
});
