import { InvalidArgumentError, type Command } from 'commander';
import { PlinthClient } from '../../sdk/platform/index.ts';

/**
 * What the client commands share: the connection (flags over PLINTH_URL / PLINTH_API_KEY), the
 * generated SDK, output as a table or JSON, and exit codes a script can act on.
 */

/** 0 ok, 1 the API refused (its message printed), 2 usage, 3 the server could not be reached. */
export const EXIT = { ok: 0, api: 1, usage: 2, connect: 3 } as const;

/** An error the CLI reports with a given exit code (its message goes to stderr). */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface GlobalOptions {
  url?: string;
  key?: string;
  json?: boolean;
}

export interface Connection {
  url: string;
  client: PlinthClient;
  json: boolean;
}

/** The client for a command: `--url`/`--key` over the environment; `admin` commands also read PLINTH_ADMIN_KEY. */
export function connect(command: Command, options: { admin?: boolean } = {}): Connection {
  const global = command.optsWithGlobals<GlobalOptions>();
  const url = (global.url ?? process.env.PLINTH_URL ?? 'http://localhost:3000').replace(/\/$/, '');
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new CliError(EXIT.usage, `--url / PLINTH_URL: '${url}' is not an http(s) URL`);
  }
  const key = global.key ?? (options.admin ? process.env.PLINTH_ADMIN_KEY : undefined) ?? process.env.PLINTH_API_KEY;
  if (!key) {
    throw new CliError(EXIT.usage, `no API key: set ${options.admin ? 'PLINTH_ADMIN_KEY (the system admin key) or ' : ''}PLINTH_API_KEY, or pass --key`);
  }
  return { url, client: new PlinthClient({ baseUrl: url, token: key }), json: Boolean(global.json) };
}

interface ErrorBody {
  error?: { code?: string; message?: string; details?: { issues?: { field?: string; message?: string }[] } };
  request_id?: string;
}

/**
 * The CLI error for whatever a call threw: the SDK throws the Response (with the parsed envelope as
 * `error`) on a non-2xx answer; fetch throws a TypeError whose `cause` says why no answer came.
 */
export async function cliErrorOf(error: unknown, url: string): Promise<CliError> {
  if (error instanceof CliError) return error;
  if (error instanceof Response) {
    let body = (error as Response & { error?: ErrorBody | null }).error;
    // Calls that stream their answer ask the SDK not to parse it, so an error's body is still unread.
    if (!body && !error.bodyUsed) body = (await error.json().catch(() => null)) as ErrorBody | null;
    const code = body?.error?.code;
    const message = body?.error?.message ?? `${error.status} ${error.statusText}`;
    const request = body?.request_id ? ` (request ${body.request_id})` : '';
    return new CliError(EXIT.api, `${code ? `${code}: ` : ''}${message}${request}`);
  }
  if (error instanceof TypeError && error.message === 'fetch failed') {
    const cause = (error as TypeError & { cause?: { code?: string; message?: string } }).cause;
    return new CliError(EXIT.connect, `cannot connect to ${url}: ${cause?.code ?? cause?.message ?? 'no answer'}`);
  }
  return new CliError(EXIT.api, error instanceof Error ? error.message : String(error));
}

/** Runs a command's work with the connection, turning what it throws into the CLI's exit codes. */
export async function withClient(command: Command, work: (c: Connection) => Promise<void>, options: { admin?: boolean } = {}): Promise<void> {
  const connection = connect(command, options);
  try {
    await work(connection);
  } catch (error) {
    throw await cliErrorOf(error, connection.url);
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (Array.isArray(value)) return value.map(cell).join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value).replace(/\s+/g, ' ');
}

export type Column<T> = [header: string, value: (row: T) => unknown];

/** Rows as aligned columns under upper-case headers (as `kubectl get` or `gh ... list` print them). */
export function printTable<T>(rows: T[], columns: Column<T>[], empty = 'nothing to show'): void {
  if (rows.length === 0) {
    process.stderr.write(`${empty}\n`);
    return;
  }
  const cells = rows.map((row) => columns.map(([, value]) => cell(value(row))));
  const widths = columns.map(([header], i) => Math.max(header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  process.stdout.write(`${[line(columns.map(([h]) => h.toUpperCase())), ...cells.map(line)].join('\n')}\n`);
}

/** One record as `field: value` lines. */
export function printFields(entries: [string, unknown][]): void {
  const width = Math.max(...entries.map(([k]) => k.length));
  process.stdout.write(`${entries.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${cell(v)}`).join('\n')}\n`);
}

/** A date as `2026-01-01 12:00` (UTC), or '-' */
export function when(iso: string | null | undefined): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : '-';
}

/** Comma-separated and repeated values of a list option, flattened. */
export function list(values: string[] | string | undefined): string[] {
  if (values === undefined) return [];
  return (Array.isArray(values) ? values : [values]).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
}

/** Commander collector for a repeatable option. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Commander parser of a whole-number option value (a usage error otherwise). */
export function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`a whole number from ${min} to ${max}`);
    return n;
  };
}
