import fs from 'node:fs';
import path from 'node:path';
import { check } from 'recheck';
import { parseAst } from 'vite';
import { describe, expect, it } from 'vitest';

/**
 * Every regular expression in src/ is checked with recheck: one an input can make super-linear
 * (ReDoS) freezes the event loop for every tenant. A pattern that is not `safe` fails the test unless
 * it is listed here with the reason its input is bounded, and a comment at the pattern says so too.
 * Keys are `<file relative to src/> <pattern>`.
 */
const BOUNDED: Record<string, string> = {};

const SRC = path.resolve(import.meta.dirname, '../src');

interface Found {
  file: string;
  line: number;
  pattern: string | null;
  flags: string;
}

type Node = { type: string; start: number; [key: string]: unknown };

function walk(node: unknown, visit: (node: Node) => void): void {
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const child of node) walk(child, visit);
    return;
  }
  if (typeof (node as Node).type === 'string') visit(node as Node);
  for (const value of Object.values(node)) if (value && typeof value === 'object') walk(value, visit);
}

/** A string the code spells out in full: a literal, or a template without substitutions. */
function constantString(node: Node | undefined): string | null {
  if (!node) return null;
  if (node.type === 'Literal' && typeof node.value === 'string') return node.value;
  if (node.type === 'TemplateLiteral' && (node.expressions as unknown[]).length === 0) {
    return ((node.quasis as { value: { cooked: string } }[])[0]?.value.cooked ?? null);
  }
  return null;
}

/** Regex literals and `RegExp(...)` / `new RegExp(...)` calls of one TypeScript source (pattern null when not constant). */
function regexesIn(source: string, file: string): Found[] {
  const found: Found[] = [];
  const lineOf = (offset: number) => source.slice(0, offset).split('\n').length;
  walk(parseAst(source, { lang: 'ts' }, file), (node) => {
    const regex = node.regex as { pattern: string; flags: string } | undefined;
    if (node.type === 'Literal' && regex) found.push({ file, line: lineOf(node.start), pattern: regex.pattern, flags: regex.flags });
    const callee = node.callee as Node | undefined;
    if ((node.type === 'NewExpression' || node.type === 'CallExpression') && callee?.type === 'Identifier' && callee.name === 'RegExp') {
      const [pattern, flags] = node.arguments as Node[];
      found.push({ file, line: lineOf(node.start), pattern: constantString(pattern), flags: flags ? (constantString(flags) ?? '?') : '' });
    }
  });
  return found;
}

/** Code that runs in production: tests and shared test suites are left out. */
function sourceFiles(): string[] {
  return (fs.readdirSync(SRC, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts') && !/\.(test|suite)\.ts$/.test(f))
    .map((f) => f.split(path.sep).join('/'))
    .sort();
}

async function verdict(pattern: string, flags: string) {
  const result = await check(pattern, flags);
  return { status: result.status, summary: result.status === 'vulnerable' ? `${result.complexity.summary}, attack ${result.attack.pattern}` : result.status === 'unknown' ? String(result.error.kind) : 'safe' };
}

describe('regular expressions in src/', () => {
  it('finds regex literals and RegExp constructors, and recheck flags a super-linear one (the check itself works)', async () => {
    const sample = [
      "const a = 1 / 2; const quadratic = /<[^>]+>/g;",
      "const exponential = new RegExp('(a+)+$');",
      "const dynamic = RegExp(`^${prefix}$`, 'i'); type T = { re: RegExp };",
    ].join('\n');
    const found = regexesIn(sample, 'sample.ts');
    expect(found.map((f) => [f.pattern, f.flags, f.line])).toEqual([
      ['<[^>]+>', 'g', 1],
      ['(a+)+$', '', 2],
      [null, 'i', 3],
    ]);
    expect((await verdict('<[^>]+>', 'g')).status).toBe('vulnerable');
    expect((await verdict('(a+)+$', '')).status).toBe('vulnerable');
    expect((await verdict('^[0-9a-z]{1,64}$', '')).status).toBe('safe');
  });

  it('are all linear (recheck), or listed as bounded with a comment at the pattern', async () => {
    const files = sourceFiles();
    const found = files.flatMap((file) => regexesIn(fs.readFileSync(path.join(SRC, file), 'utf8'), file));
    // A sanity floor: a broken extractor must not pass by finding nothing.
    expect(files.length).toBeGreaterThan(100);
    expect(found.length).toBeGreaterThan(50);

    const failures: string[] = [];
    const listed = new Set<string>();
    for (const regex of found) {
      const where = `src/${regex.file}:${regex.line}`;
      if (regex.pattern === null || regex.flags === '?') {
        failures.push(`${where}: a RegExp built at run time cannot be checked; use a literal`);
        continue;
      }
      const key = `${regex.file} ${regex.pattern}`;
      const { status, summary } = await verdict(regex.pattern, regex.flags);
      if (status === 'safe') continue;
      if (BOUNDED[key]) {
        listed.add(key);
        const lines = fs.readFileSync(path.join(SRC, regex.file), 'utf8').split('\n');
        const near = lines.slice(Math.max(0, regex.line - 4), regex.line).join('\n');
        if (!/\/\/|\/\*/.test(near)) failures.push(`${where}: listed as bounded, but no comment at the pattern says why`);
        continue;
      }
      failures.push(`${where}: /${regex.pattern}/${regex.flags} is ${status} (${summary})`);
    }
    // An entry whose pattern is gone or became safe is stale.
    for (const key of Object.keys(BOUNDED)) if (!listed.has(key)) failures.push(`BOUNDED lists "${key}", which is no longer an unsafe pattern in src/`);
    expect(failures).toEqual([]);
  });
});
