import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import cliProgress from 'cli-progress';
import { Command, Option } from 'commander';
import type { DataExport, DataImport, Object as PlinthObject } from '../../sdk/platform/index.ts';
import { CliError, collect, EXIT, integer, printFields, printJson, printTable, when, withClient } from './client.ts';

const POLL_MS = 250;

/** `name=text` is a string, `name:=json` a JSON value (as httpie reads them). */
export function parseAssignments(assignments: string[], data?: string): Record<string, unknown> {
  let properties: Record<string, unknown> = {};
  if (data !== undefined) {
    try {
      properties = JSON.parse(data) as Record<string, unknown>;
    } catch {
      throw new CliError(EXIT.usage, '--data: not JSON');
    }
    if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) throw new CliError(EXIT.usage, '--data: expected a JSON object of property values');
  }
  for (const assignment of assignments) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)(:=|=)([\s\S]*)$/.exec(assignment);
    if (!match) throw new CliError(EXIT.usage, `'${assignment}': expected name=text or name:=json`);
    const [, name, op, value] = match;
    if (op === '=') properties[name!] = value;
    else {
      try {
        properties[name!] = JSON.parse(value!);
      } catch {
        throw new CliError(EXIT.usage, `'${assignment}': the value after := is not JSON`);
      }
    }
  }
  return properties;
}

/** A progress bar on stderr (drawn only on a terminal, so pipes and scripts see none). */
function progressBar(label: string, unit: string) {
  return new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {eta_formatted}`, stream: process.stderr, hideCursor: true, clearOnComplete: false, emptyOnZero: true },
    cliProgress.Presets.shades_classic,
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recordColumns(records: PlinthObject[]): [string, (o: PlinthObject) => unknown][] {
  const names: string[] = [];
  for (const record of records) for (const name of Object.keys(record.properties)) if (!names.includes(name) && names.length < 6) names.push(name);
  return [['id', (o) => o.id], ...names.map((n): [string, (o: PlinthObject) => unknown] => [n, (o) => o.properties[n]]), ['updated', (o) => when(o.updated_at)]];
}

export function recordsCommand(): Command {
  const records = new Command('records').description('Records of an object type');

  records
    .command('list')
    .description('List records, newest first (a page at a time)')
    .argument('<type>', 'the type\'s name or id')
    .option('-f, --filter <property:op:value>', 'repeatable, e.g. stage:eq:won, amount:gte:100 (ops: eq neq gt gte lt lte in nin contains starts_with is_empty is_not_empty)', collect)
    .option('-s, --search <text>', 'full-text search over the text properties')
    .option('--sort <property>', 'created_at (default), updated_at or a sortable property')
    .addOption(new Option('--order <order>', 'sort order (default desc)').choices(['asc', 'desc']))
    .option('--limit <n>', 'page size (1..100, default 20)', integer(1, 100))
    .option('--cursor <cursor>', 'the next page (printed after a page)')
    .action(
      (type: string, options: { filter?: string[]; search?: string; sort?: string; order?: 'asc' | 'desc'; limit?: number; cursor?: string }, command: Command) =>
        withClient(command, async ({ client, json }) => {
          const { data } = await client.objects.objectsListList({
            objectTypeId: type,
            filter: options.filter,
            search: options.search,
            sort: options.sort,
            order: options.order,
            limit: options.limit,
            cursor: options.cursor,
          });
          if (json) return printJson(data.data);
          printTable(data.data.results, recordColumns(data.data.results), 'no records');
          const total = data.data.total === null ? '' : ` of ${data.data.total}${data.data.total_capped ? '+' : ''}`;
          if (data.data.next_cursor) process.stderr.write(`${data.data.results.length}${total}; next page: --cursor ${data.data.next_cursor}\n`);
        }),
    );

  records
    .command('get')
    .description('Show one record')
    .argument('<type>', 'the type\'s name or id')
    .argument('<id>', 'the record (obj_...)')
    .action((type: string, id: string, _options: unknown, command: Command) =>
      withClient(command, async ({ client, json }) => {
        const { data } = await client.objects.objectsDetail({ objectTypeId: type, objectId: id });
        if (json) return printJson(data.data);
        const o = data.data;
        printFields([['id', o.id], ['version', o.version], ['created', when(o.created_at)], ['updated', when(o.updated_at)], ...Object.entries(o.properties)]);
      }),
    );

  records
    .command('create')
    .description('Create a record from name=text and name:=json values (or --data)')
    .argument('<type>', 'the type\'s name or id')
    .argument('[values...]', 'property values: name=text, or name:=json for numbers, booleans, lists (amount:=1200 done:=true)')
    .option('--data <json>', 'the property values as one JSON object')
    .option('-q, --quiet', 'print only the new record\'s id')
    .action((type: string, values: string[], options: { data?: string; quiet?: boolean }, command: Command) => {
      const properties = parseAssignments(values, options.data);
      return withClient(command, async ({ client, json }) => {
        const { data } = await client.objects.objectsCreate({ objectTypeId: type }, { properties });
        if (json) printJson(data.data);
        else if (options.quiet) process.stdout.write(`${data.data.id}\n`);
        else process.stdout.write(`Created ${data.data.id}\n`);
      });
    });

  records
    .command('import')
    .description('Import records from a CSV file (header row of property names) or a JSON array, up to 10,000 rows, with a progress bar. Exit 1 when any row was refused')
    .argument('<type>', 'the type\'s name or id')
    .argument('<file>', 'the CSV or JSON file')
    .addOption(new Option('--format <format>', 'default: from the file name (.csv is CSV)').choices(['csv', 'json']))
    .action((type: string, file: string, options: { format?: 'csv' | 'json' }, command: Command) => {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (error) {
        throw new CliError(EXIT.usage, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
      const format = options.format ?? (path.extname(file).toLowerCase() === '.csv' ? 'csv' : 'json');
      let rows: Record<string, unknown>[] | string = text;
      if (format === 'json') {
        try {
          rows = JSON.parse(text) as Record<string, unknown>[];
        } catch {
          throw new CliError(EXIT.usage, `${file} is not JSON (use --format csv for CSV)`);
        }
        if (!Array.isArray(rows)) throw new CliError(EXIT.usage, `${file}: expected a JSON array of records`);
      }
      return withClient(command, async ({ client, json }) => {
        // Queued, so that its progress can be read while it runs.
        const started = (await client.data.dataImportCreate({ async: 'true' }, { object_type_id: type, format, data: rows })).data.data as unknown as DataImport;
        const bar = progressBar('importing', 'rows');
        bar.start(started.total, started.processed);
        let job = started;
        while (job.status === 'queued' || job.status === 'running') {
          await sleep(POLL_MS);
          job = (await client.data.dataImportDetail({ importId: started.import_id })).data.data;
          bar.setTotal(job.total);
          bar.update(job.processed);
        }
        bar.stop();
        if (json) printJson(job);
        else {
          process.stdout.write(`Imported ${job.imported} of ${job.total} rows into ${job.object_type} (${job.import_id})${job.failed ? `; ${job.failed} refused:` : ''}\n`);
          for (const e of job.errors.slice(0, 20)) process.stdout.write(`  row ${e.row}: ${e.errors.length ? e.errors.map((f) => `${f.field}: ${f.message}`).join('; ') : e.message}\n`);
          if (job.errors.length > 20) process.stdout.write(`  ... and ${job.errors.length - 20} more (--json lists them)\n`);
        }
        if (job.status === 'failed') throw new CliError(EXIT.api, `the import failed: ${job.error ?? 'unknown error'}`);
        if (job.failed > 0) throw new CliError(EXIT.api, `${job.failed} of ${job.total} rows were not imported`);
      });
    });

  records
    .command('export')
    .description('Export records (up to 100,000) as CSV or JSON to a file or stdout, with a progress bar')
    .argument('<type>', 'the type\'s name or id')
    .option('-o, --output <file>', 'write here (default: stdout)')
    .addOption(new Option('--format <format>', 'default: from the output name (.csv is CSV), else json').choices(['csv', 'json']))
    .option('-f, --filter <property:op:value>', 'repeatable, as in list', collect)
    .option('-s, --search <text>', 'full-text search, as in list')
    .action((type: string, options: { output?: string; format?: 'csv' | 'json'; filter?: string[]; search?: string }, command: Command) =>
      withClient(command, async ({ client, json }) => {
        const format = options.format ?? (options.output && path.extname(options.output).toLowerCase() === '.csv' ? 'csv' : 'json');
        const started = (
          await client.data.dataExportCreate({
            object_type_id: type,
            format,
            ...(options.filter ? { filter: options.filter } : {}),
            ...(options.search ? { search: options.search } : {}),
          })
        ).data.data;
        const bar = progressBar('exporting', 'records');
        bar.start(started.total, started.processed);
        let job: DataExport = started;
        while (job.status === 'queued' || job.status === 'running') {
          await sleep(POLL_MS);
          job = (await client.data.dataExportStatusList({ exportId: started.export_id })).data.data;
          bar.setTotal(job.total);
          bar.update(job.processed);
        }
        bar.stop();
        if (job.status === 'failed') throw new CliError(EXIT.api, `the export failed: ${job.error ?? 'unknown error'}`);

        // The SDK would parse the file as JSON; `format: undefined` hands over the response to stream.
        const response = (await client.data.dataExportDetail({ exportId: job.export_id }, { format: undefined })) as unknown as Response;
        const download = progressBar('downloading', 'bytes');
        download.start(job.bytes, 0);
        let received = 0;
        const count = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            received += chunk.length;
            download.update(received);
            done(null, chunk);
          },
        });
        const source = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
        if (options.output) await pipeline(source, count, fs.createWriteStream(options.output));
        else await pipeline(source, count, process.stdout, { end: false });
        download.stop();
        const summary = `Exported ${job.record_count} ${job.object_type} records as ${job.format} (${job.bytes} bytes)${options.output ? ` to ${options.output}` : ''}\n`;
        if (json && options.output) printJson(job);
        else if (options.output) process.stdout.write(summary);
        else process.stderr.write(summary);
      }),
    );
  return records;
}
