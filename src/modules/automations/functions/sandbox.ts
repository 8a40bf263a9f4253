import ivm from 'isolated-vm';

/**
 * Tenant JavaScript in a V8 isolate of its own (isolated-vm): no Node APIs, no `process`, no `require`,
 * no file system, no network except the `fetch` the host hands in (through the outbound guard), and a
 * small platform client `plinth` (objects get/list/create/update/delete, events.emit) whose calls the
 * host runs as the function's principal. Each
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
  /** The platform client's calls (`plinth.objects.get(...)`), run as the function's principal; absent: the client throws. */
  platform?: (op: string, args: unknown[]) => Promise<unknown>;
}

/** What `plinth` offers inside a function: each is `op` of SandboxHost.platform. */
export const PLATFORM_OPS = ['objects.get', 'objects.list', 'objects.create', 'objects.update', 'objects.delete', 'events.emit'] as const;
/** An error of a platform call, as the function sees it (`error.code`, `error.status`). */
export class PlatformCallError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type SandboxErrorCode = 'timeout' | 'memory_limit' | 'thrown' | 'invalid_output' | 'no_handler' | 'syntax';

export type SandboxResult =
  | { ok: true; output: unknown; logs: SandboxLog[]; durationMs: number; cpuMs: number }
  | { ok: false; error: { code: SandboxErrorCode; message: string }; logs: SandboxLog[]; durationMs: number; cpuMs: number };

const MAX_LOG_LINES = 200;
const MAX_LOG_CHARS = 2_000;
const MAX_OUTPUT_CHARS = 1_000_000;
const MAX_FETCHES = 20;
const MAX_PLATFORM_CALLS = 100;

/** Set up inside the isolate before the tenant's script: console and fetch over the two host callbacks. */
const PRELUDE = `
'use strict';
(() => {
  const log = __plinth_log; const hostFetch = __plinth_fetch; const hostApi = __plinth_api;
  delete globalThis.__plinth_log; delete globalThis.__plinth_fetch; delete globalThis.__plinth_api;
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
  const call = (op) => async (...args) => {
    const answer = JSON.parse(await hostApi.apply(undefined, [op, JSON.stringify(args)], { arguments: { copy: true }, result: { promise: true, copy: true } }));
    if (answer.error) { const e = new Error(answer.error.message); e.code = answer.error.code; e.status = answer.error.status; throw e; }
    return answer.result;
  };
  globalThis.plinth = Object.freeze({
    objects: Object.freeze({ get: call('objects.get'), list: call('objects.list'), create: call('objects.create'), update: call('objects.update'), delete: call('objects.delete') }),
    events: Object.freeze({ emit: call('events.emit') }),
  });
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

/**
 * Isolates alive at once in this process: each may hold up to its heap limit, so a flood of
 * invocations waits here instead of exhausting the process's memory.
 */
const MAX_CONCURRENT = 8;
let active = 0;
const waiting: (() => void)[] = [];

async function acquire(): Promise<() => void> {
  if (active >= MAX_CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve));
  active++;
  return () => {
    active--;
    waiting.shift()?.();
  };
}

/** What the host callbacks of an isolate write to: the invocation running in it now. */
interface Invocation {
  logs: SandboxLog[];
  dropped: number;
  fetches: number;
  calls: number;
  host: SandboxHost;
}

/** An isolate with the prelude and the tenant's script run: ready to call `handler`. */
interface Instance {
  isolate: ivm.Isolate;
  context: ivm.Context;
  current: Invocation | null;
  busy: boolean;
  lastUsed: number;
}

/**
 * Warm isolates, by key (tenant, function, code version, heap): a function's next invocation reuses
 * its isolate, so only the first pays for creating it. An isolate is never shared between keys, so
 * never between tenants; one that timed out or ran out of memory is thrown away. Its globals persist
 * between invocations of the same function, as in a warm Lambda.
 */
const warm = new Map<string, Instance>();
const WARM_MAX = 64;
const WARM_IDLE_MS = 60_000;

function evictIdle(now: number): void {
  for (const [key, instance] of warm) {
    if (instance.busy) continue;
    if (now - instance.lastUsed > WARM_IDLE_MS || warm.size > WARM_MAX) {
      warm.delete(key);
      if (!instance.isolate.isDisposed) instance.isolate.dispose();
    }
  }
}

class SyntaxProblem extends Error {}

async function createInstance(code: string, limits: SandboxLimits): Promise<Instance> {
  const isolate = new ivm.Isolate({ memoryLimit: Math.min(128, Math.max(8, limits.memoryMb)) });
  const instance: Instance = { isolate, context: null as unknown as ivm.Context, current: null, busy: true, lastUsed: Date.now() };
  try {
    const context = await isolate.createContext();
    instance.context = context;
    const jail = context.global;
    await jail.set('globalThis', jail.derefInto());
    await jail.set(
      '__plinth_log',
      new ivm.Callback((level: string, message: string) => {
        const inv = instance.current;
        if (!inv) return;
        if (inv.logs.length >= MAX_LOG_LINES) {
          inv.dropped++;
          return;
        }
        const lvl = (['debug', 'info', 'warn', 'error'].includes(level) ? level : 'info') as SandboxLog['level'];
        inv.logs.push({ level: lvl, message: String(message).slice(0, MAX_LOG_CHARS), at: new Date().toISOString() });
      }),
    );
    await jail.set(
      '__plinth_fetch',
      new ivm.Reference(async (url: string, initJson: string) => {
        const inv = instance.current;
        if (!inv?.host.fetch) return JSON.stringify({ error: 'fetch is not available to this function' });
        if (++inv.fetches > MAX_FETCHES) return JSON.stringify({ error: `a function may call fetch at most ${MAX_FETCHES} times` });
        try {
          return JSON.stringify(await inv.host.fetch(url, JSON.parse(initJson)));
        } catch (error) {
          return JSON.stringify({ error: `fetch failed: ${(error as Error).message}` });
        }
      }),
    );
    await jail.set(
      '__plinth_api',
      new ivm.Reference(async (op: string, argsJson: string) => {
        const inv = instance.current;
        const refuse = (code: string, status: number, message: string) => JSON.stringify({ error: { code, status, message } });
        if (!inv?.host.platform) return refuse('NOT_AVAILABLE', 501, 'the platform client is not available to this function');
        if (!(PLATFORM_OPS as readonly string[]).includes(op)) return refuse('BAD_REQUEST', 400, `unknown platform call ${op}`);
        if (++inv.calls > MAX_PLATFORM_CALLS) return refuse('RATE_LIMITED', 429, `a function may make at most ${MAX_PLATFORM_CALLS} platform calls`);
        try {
          const args = JSON.parse(argsJson) as unknown[];
          return JSON.stringify({ result: (await inv.host.platform(op, Array.isArray(args) ? args : [])) ?? null });
        } catch (error) {
          if (error instanceof PlatformCallError) return refuse(error.code, error.status, error.message);
          return refuse('INTERNAL_ERROR', 500, 'the platform call failed');
        }
      }),
    );
    await context.eval(PRELUDE, { timeout: 1_000 });
    let script: ivm.Script;
    try {
      script = await isolate.compileScript(code, { filename: 'function.js' });
    } catch (error) {
      throw new SyntaxProblem((error as Error).message);
    }
    // The script's top level runs once per isolate (like a module's initialisation).
    await script.run(context, { timeout: limits.timeoutMs });
    return instance;
  } catch (error) {
    if (!isolate.isDisposed) isolate.dispose();
    throw error;
  }
}

export interface RunOptions {
  /** Reuse a warm isolate under this key (tenant, function and code version); none: a fresh isolate, disposed after. */
  warmKey?: string;
}

export async function runSandboxed(code: string, input: unknown, limits: SandboxLimits, host: SandboxHost = {}, options: RunOptions = {}): Promise<SandboxResult> {
  const release = await acquire();
  try {
    return await runIsolated(code, input, limits, host, options.warmKey);
  } finally {
    release();
  }
}

async function runIsolated(code: string, input: unknown, limits: SandboxLimits, host: SandboxHost, warmKey: string | undefined): Promise<SandboxResult> {
  const started = performance.now();
  const invocation: Invocation = { logs: [], dropped: 0, fetches: 0, calls: 0, host };
  const elapsed = () => Math.round(performance.now() - started);
  let instance: Instance | undefined;
  const cpuBefore = { value: 0 };
  const cpu = () => {
    try {
      return instance ? (Number(instance.isolate.cpuTime) - cpuBefore.value) / 1e6 : 0;
    } catch {
      return 0;
    }
  };
  const fail = (code: SandboxErrorCode, message: string): SandboxResult => ({ ok: false, error: { code, message }, logs: invocation.logs, durationMs: elapsed(), cpuMs: Math.round(cpu()) });
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  let healthy = false;
  const reused = warmKey ? warm.get(warmKey) : undefined;
  const wall = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new Error('wall time'));
      if (instance && !instance.isolate.isDisposed) instance.isolate.dispose();
    }, limits.timeoutMs);
  });
  wall.catch(() => {});
  try {
    if (reused && !reused.busy && !reused.isolate.isDisposed) {
      instance = reused;
      instance.busy = true;
    } else {
      const creating = createInstance(code, limits);
      creating.catch(() => {});
      instance = await Promise.race([creating, wall]);
      // A key whose isolate is busy gets a fresh one, not kept (one invocation per isolate at a time).
      if (warmKey && !warm.has(warmKey)) warm.set(warmKey, instance);
    }
    cpuBefore.value = Number(instance.isolate.cpuTime);
    instance.current = invocation;
    const run = instance.context.evalClosure(
      `if (typeof handler !== 'function') return '__plinth_no_handler';
       return Promise.resolve(handler(JSON.parse($0), JSON.parse($1))).then((out) => {
         const text = JSON.stringify(out === undefined ? null : out);
         return text === undefined ? 'null' : text;
       });`,
      [JSON.stringify(input ?? null), JSON.stringify(host.context ?? {})],
      { timeout: limits.timeoutMs, result: { promise: true, copy: true } },
    ) as unknown as Promise<string>;
    run.catch(() => {});
    const text = await Promise.race([run, wall]);
    healthy = true;
    if (text === '__plinth_no_handler') return fail('no_handler', 'The code defines no function named handler: write `async function handler(input, ctx) { ... }`');
    if (typeof text !== 'string' || text.length > MAX_OUTPUT_CHARS) return fail('invalid_output', `The output must be JSON of at most ${MAX_OUTPUT_CHARS} characters`);
    if (invocation.dropped) invocation.logs.push({ level: 'warn', message: `${invocation.dropped} more log lines were dropped (limit ${MAX_LOG_LINES})`, at: new Date().toISOString() });
    return { ok: true, output: JSON.parse(text), logs: invocation.logs, durationMs: elapsed(), cpuMs: Math.round(cpu()) };
  } catch (error) {
    if (error instanceof SyntaxProblem) return fail('syntax', error.message);
    const message = (error as Error)?.message ?? String(error);
    if (timedOut || /timed out/i.test(message)) return fail('timeout', `The function ran longer than its limit of ${limits.timeoutMs} ms`);
    if (/memory limit|disposed/i.test(message)) return fail('memory_limit', `The function used more than its memory limit of ${limits.memoryMb} MiB`);
    if (/Converting circular|BigInt|not be cloned|could not be cloned/i.test(message)) {
      healthy = true;
      return fail('invalid_output', `The output is not JSON: ${message}`);
    }
    // A thrown error leaves the isolate usable; anything else does not.
    healthy = instance !== undefined && !instance.isolate.isDisposed;
    return fail('thrown', message.slice(0, 2_000));
  } finally {
    clearTimeout(timer);
    if (instance) {
      instance.current = null;
      instance.busy = false;
      instance.lastUsed = Date.now();
      const kept = warmKey !== undefined && warm.get(warmKey) === instance;
      if (!kept || !healthy || instance.isolate.isDisposed) {
        if (kept) warm.delete(warmKey!);
        if (!instance.isolate.isDisposed) instance.isolate.dispose();
      }
    }
    evictIdle(Date.now());
  }
}
