// Records of one object type: a table with filters, sort, cursor pages and full-text search, and
// create/edit forms generated from the type's properties. Served at /records/:type (resource
// `records/<type>` in the dataProvider).
import { useState, type ReactElement } from 'react';
import { Box, Button as MuiButton, Typography } from '@mui/material';
import {
  BooleanField,
  BooleanInput,
  Button,
  CreateButton,
  Datagrid,
  DateField,
  DateInput,
  DeleteButton,
  FunctionField,
  Link,
  NumberField,
  NumberInput,
  SelectArrayInput,
  SelectInput,
  SimpleForm,
  TextField,
  TextInput,
  TopToolbar,
  useGetOne,
  useNotify,
  useRecordContext,
  useRefresh,
  required,
} from 'react-admin';
import { useParams } from 'react-router-dom';
import { api, can } from '../session.ts';
import { ConsoleCreate, ConsoleEdit, ConsoleList, ErrorBox, IfCan } from '../ui.tsx';
import { RecordPanels } from './record-panels.tsx';
import type { ObjectType, Property } from './types.tsx';

function useType(): { type?: ObjectType; element?: ReactElement } {
  const { type = '' } = useParams();
  const { data, error, isPending } = useGetOne<ObjectType>('object-types', { id: type });
  if (isPending) return { element: <Typography sx={{ p: 2 }}>Loading…</Typography> };
  if (error || !data) return { element: <ErrorBox error={error ?? new Error('No such type')} title="The API refused the type" /> };
  return { type: data };
}

const SORTABLE = new Set(['integer', 'number', 'date', 'datetime', 'time', 'currency', 'percent', 'rating']);

function column(p: Property): ReactElement {
  const source = `properties.${p.name}`;
  const sortable = p.is_sortable || (p.is_indexed && SORTABLE.has(p.data_type)) || p.is_indexed;
  switch (p.data_type) {
    case 'boolean':
      return <BooleanField key={p.id} source={source} label={p.name} sortable={sortable} />;
    case 'integer':
    case 'number':
    case 'currency':
    case 'percent':
    case 'rating':
      return <NumberField key={p.id} source={source} label={p.name} sortable={sortable} />;
    case 'date':
    case 'datetime':
      return <DateField key={p.id} source={source} label={p.name} showTime={p.data_type === 'datetime'} sortable={sortable} />;
    case 'json':
    case 'geo_point':
    case 'multi_enum':
      return <FunctionField key={p.id} label={p.name} sortable={false} render={(r: Record<string, any>) => (r.properties?.[p.name] === undefined ? '' : JSON.stringify(r.properties[p.name]))} />;
    default:
      return <TextField key={p.id} source={source} label={p.name} sortable={sortable} />;
  }
}

const jsonInput = { format: (v: unknown) => (v === undefined || v === null ? '' : JSON.stringify(v)), parse: (v: string) => { try { return v === '' ? null : JSON.parse(v); } catch { return v; } } };

/** The form input for a property, by its data type. */
export function input(p: Property): ReactElement {
  const source = `properties.${p.name}`;
  const common = { key: p.id, source, label: p.name, validate: p.is_required ? required() : undefined, helperText: p.data_type };
  const choices = (p.enum_values ?? []).map((id) => ({ id, name: id }));
  switch (p.data_type) {
    case 'text':
      return <TextInput {...common} multiline minRows={3} fullWidth />;
    case 'integer':
    case 'number':
    case 'currency':
    case 'percent':
    case 'rating':
      return <NumberInput {...common} />;
    case 'boolean':
      return <BooleanInput {...common} />;
    case 'date':
      return <DateInput {...common} />;
    case 'datetime':
      return <TextInput {...common} helperText="ISO 8601, e.g. 2026-01-31T09:00:00Z" />;
    case 'enum':
      return <SelectInput {...common} choices={choices} />;
    case 'multi_enum':
      return <SelectArrayInput {...common} choices={choices} />;
    case 'json':
    case 'geo_point':
      return <TextInput {...common} {...jsonInput} multiline helperText={p.data_type === 'geo_point' ? 'JSON, e.g. {"lat": 48.85, "lng": 2.35}' : 'JSON'} fullWidth />;
    default:
      return <TextInput {...common} />;
  }
}

/** Filters: full-text search, and one per indexed property (equality; `name_gte` style keys in the URL for ranges). */
function filtersOf(type: ObjectType): ReactElement[] {
  const filters: ReactElement[] = [<TextInput key="q" source="q" label="Search" alwaysOn />];
  for (const p of type.properties ?? []) {
    if (!p.is_indexed && !p.is_unique) continue;
    const choices = (p.enum_values ?? []).map((id) => ({ id, name: id }));
    if (p.data_type === 'enum') filters.push(<SelectInput key={p.id} source={p.name} label={p.name} choices={choices} />);
    else if (p.data_type === 'boolean') filters.push(<BooleanInput key={p.id} source={p.name} label={p.name} />);
    else if (SORTABLE.has(p.data_type)) {
      filters.push(<TextInput key={p.id} source={p.name} label={`${p.name} =`} />);
      filters.push(<TextInput key={`${p.id}_gte`} source={`${p.name}_gte`} label={`${p.name} ≥`} />);
      filters.push(<TextInput key={`${p.id}_lte`} source={`${p.name}_lte`} label={`${p.name} ≤`} />);
    } else filters.push(<TextInput key={p.id} source={p.name} label={p.name} />);
  }
  return filters;
}

export function RecordList() {
  const { type, element } = useType();
  if (!type) return element!;
  const resource = `records/${type.name}`;
  const properties = (type.properties ?? []).slice(0, 8);
  return (
    <ConsoleList
      resource={resource}
      title={`${type.display_name}: records`}
      filters={filtersOf(type)}
      sort={{ field: 'created_at', order: 'DESC' }}
      storeKey={false}
      actions={
        <TopToolbar>
          <Button component={Link} to={`/object-types/${type.id}/show`} label="Schema" />
          <Button component={Link} to={`/trash/${type.name}`} label="Trash" />
          <IfCan scope="write">
            <CreateButton resource={resource} label="New record" />
          </IfCan>
        </TopToolbar>
      }
    >
      <Datagrid rowClick={(id) => `/records/${type.name}/${encodeURIComponent(String(id))}`} bulkActionButtons={false}>
        <TextField source="id" sortable={false} />
        {properties.map(column)}
        <DateField source="updated_at" showTime />
        <IfCan scope="write">
          <DeleteButton mutationMode="pessimistic" redirect={false} />
        </IfCan>
      </Datagrid>
    </ConsoleList>
  );
}

export function RecordCreate() {
  const { type, element } = useType();
  if (!type) return element!;
  return (
    <ConsoleCreate resource={`records/${type.name}`} redirect={() => `records/${type.name}`} title={`New ${type.display_name} record`}>
      <SimpleForm>{(type.properties ?? []).map(input)}</SimpleForm>
    </ConsoleCreate>
  );
}

function Versions() {
  const record = useRecordContext();
  const { type = '' } = useParams();
  const [versions, setVersions] = useState<unknown[]>();
  const [error, setError] = useState<unknown>();
  if (!record) return null;
  return (
    <Box sx={{ p: 2 }}>
      <Typography variant="body2">Version {String(record.version)} · created {String(record.created_at)} · updated {String(record.updated_at)}</Typography>
      <MuiButton
        size="small"
        onClick={async () => {
          try {
            setVersions((await api((c) => c.objects.objectsVersionsList({ objectTypeId: type, objectId: String(record.id) } as never))) as unknown as unknown[]);
          } catch (err) {
            setError(err);
          }
        }}
      >
        Show versions
      </MuiButton>
      <ErrorBox error={error} />
      {versions ? <pre style={{ maxHeight: 300, overflow: 'auto', fontSize: 12 }}>{JSON.stringify(versions, null, 2)}</pre> : null}
    </Box>
  );
}

export function RecordEdit() {
  const { type, element } = useType();
  const { id = '' } = useParams();
  if (!type) return element!;
  return (
    <ConsoleEdit resource={`records/${type.name}`} id={decodeURIComponent(id)} redirect={() => `records/${type.name}`} title={`${type.display_name} record`} aside={<Versions />}>
      <SimpleForm toolbar={can('write') ? undefined : false}>{(type.properties ?? []).map(input)}</SimpleForm>
      <RecordPanels type={type.name} id={decodeURIComponent(id)} />
    </ConsoleEdit>
  );
}


function RestoreButton({ type }: { type: string }) {
  const record = useRecordContext();
  const notify = useNotify();
  const refresh = useRefresh();
  if (!record) return null;
  return (
    <MuiButton
      size="small"
      onClick={async () => {
        try {
          await api((c) => c.objects.objectsRestoreCreate({ objectTypeId: type, objectId: String(record.id) }));
          notify('Restored');
          refresh();
        } catch (err) {
          notify((err as Error).message, { type: 'error' });
        }
      }}
    >
      Restore
    </MuiButton>
  );
}

export function TrashList() {
  const { type, element } = useType();
  if (!type) return element!;
  return (
    <ConsoleList resource={`trash/${type.name}`} title={`${type.display_name}: trash`} storeKey={false} actions={<TopToolbar><Button component={Link} to={`/records/${type.name}`} label="Records" /></TopToolbar>}>
      <Datagrid rowClick={false} bulkActionButtons={false}>
        <TextField source="id" sortable={false} />
        {(type.properties ?? []).slice(0, 5).map(column)}
        <DateField source="deleted_at" showTime sortable={false} />
        <IfCan scope="write">
          <RestoreButton type={type.name} />
        </IfCan>
      </Datagrid>
    </ConsoleList>
  );
}

