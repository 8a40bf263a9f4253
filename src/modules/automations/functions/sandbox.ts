import ivm from 'isolated-vm';

/**
 * Tenant JavaScript in a V8 isolate of its own (isolated-vm): no Node APIs, no `process`, no `require`,
 * no file system, no network except the `fetch` the host hands in (through the outbound guard). Each
 * invocation gets a fresh isolate with a heap limit; the run is bounded by CPU time (the synchronous
 * part, V8's own timeout) and wall time (promises included: the isolate is disposed when it runs out).
 * Values cross the boundary as JSON text only, so no host object ever reaches tenant code.
 *
 * A function is a script that defines `async function handler(input, ctx)` (or a plain one); its
 * return value, which must be JSON, is the output. `console.log/info/warn/error` are captured.
 */

export interface SandboxLimits {
  /** Wall time of the whole invocation, promises included (ms). */
  timeoutMs: number;
  /** Heap of the isolate (MiB, 8..128). */
  memoryMb: number;
}

export interface SandboxLog {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  at: string;
}

export interface HostFetchResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}

export interface SandboxHost {
  /** The function's `fetch`; absent: calling fetch throws inside the function. */
  fetch?: (url: string, init: { method?: string; headers?: Record<string, string>; body?: string }) => Promise<HostFetchResponse>;
  /** What the function sees as `ctx` (JSON). */
  context?: Record<string, unknown>;
}

export type SandboxErrorCode = 'timeout' | 'memory_limit' | 'thrown' | 'invalid_output' | 'no_handler' | 'syntax';

export type SandboxResult =
  | { ok: true; output: unknown; logs: SandboxLog[]; durationMs: number; cpuMs: number }
  | { ok: false; error: { code: SandboxErrorCode; message: string }; logs: SandboxLog[]; durationMs: number; cpuMs: number };

const MAX_LOG_LINES = 200;
const MAX_LOG_CHARS = 2_000;
const MAX_OUTPUT_CHARS = 1_000_000;
const MAX_FETCHES = 20;

/** Set up inside the isolate before the tenant's script: console and fetch over the two host callbacks. */
const PRELUDE = `
'use strict';
(() => {
  const log = __plinth_log; const hostFetch = __plinth_fetch;
  delete globalThis.__plinth_log; delete globalThis.__plinth_fetch;
  const show = (v) => { if (typeof v === 'string') return v; try { const s = JSON.stringify(v); return s === undefined ? String(v) : s; } catch { return String(v); } };
  const line = (level) => (...args) => { log(level, args.map(show).join(' ')); };
  globalThis.console = Object.freeze({ log: line('info'), info: line('info'), debug: line('debug'), warn: line('warn'), error: line('error') });
  globalThis.fetch = async (url, init = {}) => {
    const body = init.body === undefined ? undefined : (typeof init.body === 'string' ? init.body : JSON.stringify(init.body));
    const answer = JSON.parse(await hostFetch.apply(undefined, [String(url), JSON.stringify({ method: init.method, headers: init.headers, body })], { arguments: { copy: true }, result: { promise: true, copy: true } }));
    if (answer.error) throw new Error(answer.error);
    return { status: answer.status, ok: answer.status >= 200 && answer.status < 300, headers: answer.headers,
      text: async () => answer.text, json: async () => JSON.parse(answer.text) };
  };
})();
`;

/** Checks a function's code compiles (saved code with a syntax error is a 400); returns the message or null. */
export async function syntaxProblem(code: string): Promise<string | null> {
  const isolate = new ivm.Isolate({ memoryLimit: 8 });
  try {
    await isolate.compileScript(code, { filename: 'function.js' });
    return null;
  } catch (error) {
    return (error as Error).message;
  } finally {
    isolate.dispose();
  }
}

export async function runSandboxed(code: string, input: unknown, limits: SandboxLimits, host: SandboxHost = {}): Promise<SandboxResult> {
  const started = performance.now();
  const logs: SandboxLog[] = [];
  let dropped = 0;
  const isolate = new ivm.Isolate({ memoryLimit: Math.min(128, Math.max(8, limits.memoryMb)) });
  const elapsed = () => Math.round(performance.now() - started);
  const cpu = () => {
    try {
      return Number(isolate.cpuTime) / 1e6;
    } catch {
      return 0;
    }
  };
  const fail = (code: SandboxErrorCode, message: string): SandboxResult => ({ ok: false, error: { code, message }, logs, durationMs: elapsed(), cpuMs: Math.round(cpu()) });
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  try {
    const context = await isolate.createContext();
    const jail = context.global;
    await jail.set('globalThis', jail.derefInto());
    await jail.set(
      '__plinth_log',
      new ivm.Callback((level: string, message: string) => {
        if (logs.length >= MAX_LOG_LINES) {
          dropped++;
          return;
        }
        const lvl = (['debug', 'info', 'warn', 'error'].includes(level) ? level : 'info') as SandboxLog['level'];
        logs.push({ level: lvl, message: String(message).slice(0, MAX_LOG_CHARS), at: new Date().toISOString() });
      }),
    );
    let fetches = 0;
    await jail.set(
      '__plinth_fetch',
      new ivm.Reference(async (url: string, initJson: string) => {
          if (!host.fetch) return JSON.stringify({ error: 'fetch is not available to this function' });
          if (++fetches > MAX_FETCHES) return JSON.stringify({ error: `a function may call fetch at most ${MAX_FETCHES} times` });
          try {
            const res = await host.fetch(url, JSON.parse(initJson));
            return JSON.stringify(res);
          } catch (error) {
            return JSON.stringify({ error: `fetch failed: ${(error as Error).message}` });
          }
        }),
    );
    await context.eval(PRELUDE, { timeout: 1_000 });
    let script: ivm.Script;
    try {
      script = await isolate.compileScript(code, { filename: 'function.js' });
    } catch (error) {
      return fail('syntax', (error as Error).message);
    }
    const wall = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error('wall time'));
        if (!isolate.isDisposed) isolate.dispose();
      }, limits.timeoutMs);
    });
    const run = (async () => {
      await script.run(context, { timeout: limits.timeoutMs });
      return context.evalClosure(
        `if (typeof handler !== 'function') return '__plinth_no_handler';
         return Promise.resolve(handler(JSON.parse($0), JSON.parse($1))).then((out) => {
           const text = JSON.stringify(out === undefined ? null : out);
           return text === undefined ? 'null' : text;
         });`,
        [JSON.stringify(input ?? null), JSON.stringify(host.context ?? {})],
        { timeout: limits.timeoutMs, result: { promise: true, copy: true } },
      ) as unknown as Promise<string>;
    })();
    run.catch(() => {});
    const text = await Promise.race([run, wall]);
    if (text === '__plinth_no_handler') return fail('no_handler', 'The code defines no function named handler: write `async function handler(input, ctx) { ... }`');
    if (typeof text !== 'string' || text.length > MAX_OUTPUT_CHARS) return fail('invalid_output', `The output must be JSON of at most ${MAX_OUTPUT_CHARS} characters`);
    if (dropped) logs.push({ level: 'warn', message: `${dropped} more log lines were dropped (limit ${MAX_LOG_LINES})`, at: new Date().toISOString() });
    return { ok: true, output: JSON.parse(text), logs, durationMs: elapsed(), cpuMs: Math.round(cpu()) };
  } catch (error) {
    const message = (error as Error)?.message ?? String(error);
    if (timedOut || /timed out/i.test(message)) return fail('timeout', `The function ran longer than its limit of ${limits.timeoutMs} ms`);
    if (/memory limit|disposed/i.test(message)) return fail('memory_limit', `The function used more than its memory limit of ${limits.memoryMb} MiB`);
    if (/Converting circular|BigInt|not be cloned|could not be cloned/i.test(message)) return fail('invalid_output', `The output is not JSON: ${message}`);
    return fail('thrown', message.slice(0, 2_000));
  } finally {
    clearTimeout(timer);
    if (!isolate.isDisposed) isolate.dispose();
  }
}
