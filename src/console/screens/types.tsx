import { useState } from 'react';
import { Box, Button as MuiButton, Card, CardContent, Checkbox, FormControlLabel, MenuItem, Stack, TextField as MuiTextField, Typography } from '@mui/material';
import TableRows from '@mui/icons-material/TableRows';
import {
  Button,
  CreateButton,
  Datagrid,
  DateField,
  DeleteButton,
  Link,
  SimpleForm,
  TextField,
  TextInput,
  TopToolbar,
  regex,
  required,
  useGetOne,
  useNotify,
  useRecordContext,
  useRefresh,
} from 'react-admin';
import { useParams } from 'react-router-dom';
import { api } from '../session.ts';
import { ConsoleCreate, ConsoleList, ErrorBox, IfCan } from '../ui.tsx';

export const DATA_TYPES = [
  'string', 'text', 'integer', 'number', 'boolean', 'date', 'datetime', 'time', 'email', 'url', 'phone', 'enum',
  'multi_enum', 'currency', 'percent', 'json', 'reference', 'file', 'user', 'uuid', 'rating', 'geo_point',
] as const;

export interface Property {
  id: string;
  name: string;
  data_type: (typeof DATA_TYPES)[number];
  is_required: boolean;
  is_unique: boolean;
  is_indexed: boolean;
  is_sortable: boolean;
  enum_values: string[] | null;
  options: Record<string, unknown>;
}

export interface ObjectType {
  id: string;
  name: string;
  display_name: string;
  properties?: Property[];
}

const RecordsButton = () => {
  const record = useRecordContext();
  if (!record) return null;
  return (
    <Button component={Link} to={`/records/${record.name}`} label="Records" onClick={(e: React.MouseEvent) => e.stopPropagation()}>
      <TableRows />
    </Button>
  );
};

export const TypeList = () => (
  <ConsoleList
    sort={{ field: 'name', order: 'ASC' }}
    actions={
      <TopToolbar>
        <IfCan scope="schema">
          <CreateButton label="New type" />
        </IfCan>
      </TopToolbar>
    }
  >
    <Datagrid rowClick={(id) => `/object-types/${id}/show`} bulkActionButtons={false}>
      <TextField source="name" />
      <TextField source="display_name" />
      <DateField source="created_at" showTime />
      <RecordsButton />
      <IfCan scope="schema">
        <DeleteButton mutationMode="pessimistic" />
      </IfCan>
    </Datagrid>
  </ConsoleList>
);

export const TypeCreate = () => (
  <ConsoleCreate redirect={(_r?: string, id?: unknown) => `object-types/${String(id)}/show`}>
    <SimpleForm>
      <TextInput source="name" validate={[required(), regex(/^[a-z][a-z0-9_]*$/, 'Lower case letters, digits and _')]} helperText="API name, e.g. customers" />
      <TextInput source="display_name" />
    </SimpleForm>
  </ConsoleCreate>
);

function AddProperty({ typeId, onAdded }: { typeId: string; onAdded: () => void }) {
  const [name, setName] = useState('');
  const [dataType, setDataType] = useState<string>('string');
  const [flags, setFlags] = useState({ is_required: false, is_unique: false, is_indexed: false, is_sortable: false });
  const [enumValues, setEnumValues] = useState('');
  const [error, setError] = useState<unknown>();
  const notify = useNotify();
  return (
    <Card variant="outlined" sx={{ mt: 2 }}>
      <CardContent>
        <Typography variant="subtitle1">Add a property</Typography>
        <ErrorBox error={error} />
        <Stack direction="row" sx={{ alignItems: 'center', flexWrap: 'wrap', gap: 2 }}>
          <MuiTextField size="small" label="Name" value={name} onChange={(e) => setName(e.target.value)} slotProps={{ htmlInput: { 'data-testid': 'property-name' } }} />
          <MuiTextField select size="small" label="Data type" value={dataType} onChange={(e) => setDataType(e.target.value)} sx={{ minWidth: 160 }} slotProps={{ htmlInput: { 'data-testid': 'property-type' } }}>
            {DATA_TYPES.map((t) => (
              <MenuItem key={t} value={t}>
                {t}
              </MenuItem>
            ))}
          </MuiTextField>
          {dataType === 'enum' || dataType === 'multi_enum' ? (
            <MuiTextField size="small" label="Values (comma separated)" value={enumValues} onChange={(e) => setEnumValues(e.target.value)} />
          ) : null}
          {(Object.keys(flags) as (keyof typeof flags)[]).map((flag) => (
            <FormControlLabel
              key={flag}
              control={<Checkbox checked={flags[flag]} onChange={(e) => setFlags({ ...flags, [flag]: e.target.checked })} />}
              label={flag.slice(3)}
            />
          ))}
          <MuiButton
            variant="contained"
            onClick={async () => {
              setError(undefined);
              try {
                await api((c) =>
                  c.objectTypes.objectTypesPropertiesCreate({ objectTypeId: typeId }, {
                    name,
                    data_type: dataType as never,
                    ...flags,
                    ...(enumValues ? { enum_values: enumValues.split(',').map((v) => v.trim()).filter(Boolean) } : {}),
                  }),
                );
                notify(`Property ${name} added`);
                setName('');
                setEnumValues('');
                onAdded();
              } catch (err) {
                setError(err);
              }
            }}
          >
            Add property
          </MuiButton>
        </Stack>
      </CardContent>
    </Card>
  );
}

type Flags = Pick<Property, 'is_required' | 'is_unique' | 'is_indexed' | 'is_sortable'>;
const FLAGS: (keyof Flags)[] = ['is_required', 'is_unique', 'is_indexed', 'is_sortable'];

/** One property: shown, or edited in place (flags and enum values; name and data type cannot change). */
function PropertyRow({ typeId, p, onChanged, onError }: { typeId: string; p: Property; onChanged: () => void; onError: (e: unknown) => void }) {
  const [editing, setEditing] = useState(false);
  const [flags, setFlags] = useState<Flags>({ is_required: p.is_required, is_unique: p.is_unique, is_indexed: p.is_indexed, is_sortable: p.is_sortable });
  const [enumValues, setEnumValues] = useState((p.enum_values ?? []).join(', '));
  const notify = useNotify();
  const isEnum = p.data_type === 'enum' || p.data_type === 'multi_enum';
  if (!editing) {
    return (
      <tr>
        <td>{p.name}</td>
        <td>{p.data_type}</td>
        {FLAGS.map((f) => (
          <td key={f}>{p[f] ? 'yes' : ''}</td>
        ))}
        <td>{p.enum_values?.join(', ')}</td>
        <td>
          <IfCan scope="schema">
            <MuiButton size="small" data-testid={`edit-property-${p.name}`} onClick={() => setEditing(true)}>
              Edit
            </MuiButton>
            <MuiButton
              size="small"
              color="error"
              onClick={async () => {
                if (!window.confirm(`Delete property ${p.name} and its values?`)) return;
                try {
                  await api((c) => c.objectTypes.objectTypesPropertiesDelete({ objectTypeId: typeId, propertyId: p.id }));
                  notify(`Property ${p.name} deleted`);
                  onChanged();
                } catch (err) {
                  onError(err);
                }
              }}
            >
              Delete
            </MuiButton>
          </IfCan>
        </td>
      </tr>
    );
  }
  return (
    <tr data-testid={`property-editor-${p.name}`}>
      <td>{p.name}</td>
      <td>{p.data_type}</td>
      {FLAGS.map((f) => (
        <td key={f}>
          <Checkbox size="small" checked={flags[f]} onChange={(e) => setFlags({ ...flags, [f]: e.target.checked })} slotProps={{ input: { 'aria-label': f } }} />
        </td>
      ))}
      <td>
        {isEnum ? <MuiTextField size="small" label="Values" value={enumValues} onChange={(e) => setEnumValues(e.target.value)} /> : null}
      </td>
      <td>
        <MuiButton
          size="small"
          variant="contained"
          onClick={async () => {
            onError(undefined);
            // Only what changed: a flag the server must rebuild an index for is sent only when it moved.
            const patch: Record<string, unknown> = {};
            for (const f of FLAGS) if (flags[f] !== p[f]) patch[f] = flags[f];
            if (isEnum) {
              const values = enumValues.split(',').map((v) => v.trim()).filter(Boolean);
              if (values.join(',') !== (p.enum_values ?? []).join(',')) patch.enum_values = values;
            }
            try {
              if (Object.keys(patch).length) await api((c) => c.objectTypes.objectTypesPropertiesPartialUpdate({ objectTypeId: typeId, propertyId: p.id }, patch));
              notify(`Property ${p.name} saved`);
              setEditing(false);
              onChanged();
            } catch (err) {
              onError(err);
            }
          }}
        >
          Save
        </MuiButton>
        <MuiButton size="small" onClick={() => setEditing(false)}>
          Cancel
        </MuiButton>
      </td>
    </tr>
  );
}

/** The type's display name and description, edited in place. */
function TypeHeaderEdit({ type, onSaved }: { type: ObjectType & { description?: string | null }; onSaved: () => void }) {
  const [open, setOpen] = useState(false);
  const [displayName, setDisplayName] = useState(type.display_name);
  const [description, setDescription] = useState(type.description ?? '');
  const [error, setError] = useState<unknown>();
  const notify = useNotify();
  if (!open) {
    return (
      <IfCan scope="schema">
        <Button label="Edit type" onClick={() => setOpen(true)} />
      </IfCan>
    );
  }
  return (
    <Card variant="outlined" sx={{ mt: 2 }}>
      <CardContent>
        <ErrorBox error={error} />
        <Stack direction="row" sx={{ alignItems: 'center', flexWrap: 'wrap', gap: 2 }}>
          <MuiTextField size="small" label="Display name" value={displayName} onChange={(e) => setDisplayName(e.target.value)} slotProps={{ htmlInput: { 'data-testid': 'type-display-name' } }} />
          <MuiTextField size="small" label="Description" value={description} onChange={(e) => setDescription(e.target.value)} sx={{ minWidth: 320 }} />
          <MuiButton
            variant="contained"
            onClick={async () => {
              setError(undefined);
              try {
                await api((c) => c.objectTypes.objectTypesPartialUpdate({ objectTypeId: type.id }, { display_name: displayName, description: description || null }));
                notify('Type saved');
                setOpen(false);
                onSaved();
              } catch (err) {
                setError(err);
              }
            }}
          >
            Save type
          </MuiButton>
          <MuiButton onClick={() => setOpen(false)}>Cancel</MuiButton>
        </Stack>
      </CardContent>
    </Card>
  );
}

/** A type with its properties: the schema editor. */
export function TypeShow() {
  const { id = '' } = useParams();
  const { data, error, isPending, refetch } = useGetOne<ObjectType>('object-types', { id });
  const refresh = useRefresh();
  const [propError, setPropError] = useState<unknown>();
  if (isPending) return <Typography sx={{ p: 2 }}>Loading…</Typography>;
  if (error || !data) return <ErrorBox error={error ?? new Error('Not found')} title="The API refused the type" />;
  return (
    <Box sx={{ p: 2 }}>
      <Stack direction="row" spacing={2} sx={{ alignItems: 'center' }}>
        <Typography variant="h5">{data.display_name}</Typography>
        <Typography color="text.secondary">{data.name} · {data.id}</Typography>
        <Button component={Link} to={`/records/${data.name}`} label="Records" variant="outlined">
          <TableRows />
        </Button>
        <Button component={Link} to={`/trash/${data.name}`} label="Trash" />
        <TypeHeaderEdit type={data} onSaved={() => (refetch(), refresh())} />
      </Stack>
      <ErrorBox error={propError} />
      <Box component="table" sx={{ mt: 2, borderCollapse: 'collapse', '& td, & th': { borderBottom: '1px solid #ddd', p: 1, textAlign: 'left' } }} data-testid="properties">
        <thead>
          <tr>
            <th>Property</th>
            <th>Type</th>
            <th>Required</th>
            <th>Unique</th>
            <th>Indexed</th>
            <th>Sortable</th>
            <th>Values</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(data.properties ?? []).map((p) => (
            <PropertyRow key={p.id} typeId={data.id} p={p} onChanged={() => (refetch(), refresh())} onError={setPropError} />
          ))}
        </tbody>
      </Box>
      {(data.properties ?? []).length === 0 ? <Typography sx={{ mt: 1 }}>No properties yet.</Typography> : null}
      <IfCan scope="schema">
        <AddProperty typeId={data.id} onAdded={() => (refetch(), refresh())} />
      </IfCan>
    </Box>
  );
}

