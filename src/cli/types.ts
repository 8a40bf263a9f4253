import { Command } from 'commander';
import { DataType, type ObjectType, type Property } from '../../sdk/platform/index.ts';
import { CliError, collect, EXIT, printFields, printJson, printTable, when, withClient } from './client.ts';

const DATA_TYPES = Object.values(DataType) as string[];
const FLAGS = ['required', 'unique', 'indexed', 'sortable'] as const;

interface PropertySpec {
  name: string;
  data_type: DataType;
  enum_values?: string[];
  is_required?: boolean;
  is_unique?: boolean;
  is_indexed?: boolean;
  is_sortable?: boolean;
}

/** `name:type[(a,b)][:flag,...]`, e.g. `email:email:required,unique` or `stage:enum(lead,won,lost):indexed`. */
export function parsePropertySpec(spec: string): PropertySpec {
  const match = /^([a-z][a-z0-9_]{0,62}):([a-z_]+)(?:\(([^()]*)\))?(?::([a-z,]*))?$/.exec(spec);
  if (!match) throw new CliError(EXIT.usage, `--prop '${spec}': expected name:type[:flags], e.g. email:email:required,unique or stage:enum(lead,won):indexed`);
  const [, name, type, values, flags] = match;
  if (!DATA_TYPES.includes(type!)) throw new CliError(EXIT.usage, `--prop '${spec}': unknown type '${type}' (${DATA_TYPES.join(', ')})`);
  const out: PropertySpec = { name: name!, data_type: type as DataType };
  if (values !== undefined) out.enum_values = values.split(/[,|]/).map((v) => v.trim()).filter(Boolean);
  for (const flag of (flags ?? '').split(',').filter(Boolean)) {
    if (!FLAGS.includes(flag as (typeof FLAGS)[number])) throw new CliError(EXIT.usage, `--prop '${spec}': unknown flag '${flag}' (${FLAGS.join(', ')})`);
    out[`is_${flag as (typeof FLAGS)[number]}`] = true;
  }
  return out;
}

const PROPERTY_COLUMNS: [string, (p: Property) => unknown][] = [
  ['name', (p) => p.name],
  ['type', (p) => (p.enum_values?.length ? `${p.data_type}(${p.enum_values.join(',')})` : p.data_type)],
  ['required', (p) => (p.is_required ? 'yes' : '')],
  ['unique', (p) => (p.is_unique ? 'yes' : '')],
  ['indexed', (p) => (p.is_indexed ? 'yes' : '')],
  ['sortable', (p) => (p.is_sortable ? 'yes' : '')],
  ['id', (p) => p.id],
];

export function typesCommand(): Command {
  const types = new Command('types').description('Object types (the tenant\'s tables) and their properties');

  types
    .command('list')
    .description('List object types')
    .action((_options: unknown, command: Command) =>
      withClient(command, async ({ client, json }) => {
        const { data } = await client.objectTypes.objectTypesList();
        if (json) return printJson(data.data);
        printTable<ObjectType>(
          data.data,
          [
            ['name', (t) => t.name],
            ['display name', (t) => t.display_name],
            ['id', (t) => t.id],
            ['created', (t) => when(t.created_at)],
          ],
          'no object types',
        );
      }),
    );

  types
    .command('create')
    .description('Create an object type, with properties (needs scope schema)')
    .argument('<name>', 'lower-case name, e.g. contacts (routes take it in place of the id)')
    .option('--display-name <text>', 'name shown to people')
    .option('--description <text>', 'what the records are')
    .option('-p, --prop <spec>', `a property, repeatable: name:type[:flags]; types ${DATA_TYPES.join(', ')}; flags ${FLAGS.join(', ')}; enum values in parentheses: stage:enum(lead,won,lost)`, collect)
    .action((name: string, options: { displayName?: string; description?: string; prop?: string[] }, command: Command) => {
      const props = (options.prop ?? []).map(parsePropertySpec);
      return withClient(command, async ({ client, json }) => {
        const { data } = await client.objectTypes.objectTypesCreate({
          name,
          ...(options.displayName ? { display_name: options.displayName } : {}),
          ...(options.description ? { description: options.description } : {}),
        });
        const created: Property[] = [];
        for (const prop of props) {
          try {
            created.push((await client.objectTypes.objectTypesPropertiesCreate({ objectTypeId: data.data.id }, prop)).data.data);
          } catch (error) {
            if (!json) process.stderr.write(`created type ${data.data.name} (${data.data.id}), but property ${prop.name} was refused:\n`);
            throw error;
          }
        }
        if (json) printJson({ ...data.data, properties: created });
        else process.stdout.write(`Created type ${data.data.name} (${data.data.id}) with ${created.length} ${created.length === 1 ? 'property' : 'properties'}\n`);
      });
    });

  types
    .command('show')
    .description('Show a type and its properties')
    .argument('<type>', 'the type\'s name or id')
    .action((type: string, _options: unknown, command: Command) =>
      withClient(command, async ({ client, json }) => {
        const { data } = await client.objectTypes.objectTypesDetail({ objectTypeId: type });
        if (json) return printJson(data.data);
        printFields([
          ['name', data.data.name],
          ['display name', data.data.display_name],
          ['id', data.data.id],
          ['description', data.data.description],
          ['created', when(data.data.created_at)],
        ]);
        process.stdout.write('\n');
        printTable(data.data.properties, PROPERTY_COLUMNS, 'no properties');
      }),
    );
  return types;
}
