// The system admin's screens: every tenant, new tenants, suspension, and the switcher that opens one.
// The admin key acts on no tenant's data; a tenant is opened with one of its own keys: the key a tenant
// was created with here, or one pasted in.
import { useState } from 'react';
import { Box, Button as MuiButton, Dialog, DialogActions, DialogContent, DialogTitle, MenuItem, TextField as MuiTextField } from '@mui/material';
import {
  CreateButton,
  Datagrid,
  DateField,
  EditButton,
  Link,
  SelectInput,
  SimpleForm,
  TextField,
  TextInput,
  TopToolbar,
  required,
  useRecordContext,
} from 'react-admin';
import { signInWithKey } from '../auth.ts';
import { loadSession, saveSession } from '../session.ts';
import { ConsoleCreate, ConsoleEdit, ConsoleList, ErrorBox, SecretOnce } from '../ui.tsx';

/** Opens a tenant with its key: the console then acts in that tenant, with that key's scopes. */
export async function openTenant(id: string, name: string, token: string) {
  const probe = await signInWithKey(token);
  if (probe.kind !== 'key' || probe.tenant?.id !== id) throw new Error('This key does not belong to that tenant');
  const session = loadSession()!;
  saveSession({ ...session, token, scopes: probe.scopes, tenant: { id, name }, tenantKeys: { ...session.tenantKeys, [id]: { token, name } } });
  // A full reload drops every cached query of the previous tenant.
  window.location.hash = '#/';
  window.location.reload();
}

function OpenTenantButton() {
  const record = useRecordContext();
  const [asking, setAsking] = useState(false);
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>();
  if (!record) return null;
  const held = loadSession()?.tenantKeys?.[String(record.id)];
  const open = async (token: string) => {
    try {
      await openTenant(String(record.id), String(record.name), token);
    } catch (err) {
      setError(err);
      setAsking(true);
    }
  };
  return (
    <>
      <MuiButton size="small" variant="outlined" onClick={(e) => (e.stopPropagation(), held ? open(held.token) : setAsking(true))}>
        Open
      </MuiButton>
      <Dialog open={asking} onClose={() => setAsking(false)} onClick={(e) => e.stopPropagation()}>
        <DialogTitle>Open {String(record.name)}</DialogTitle>
        <DialogContent>
          <ErrorBox error={error} />
          <p>The system admin key reads no tenant's data. Paste an API key of this tenant (its admin key was printed when it was created).</p>
          <MuiTextField fullWidth label="Tenant API key" value={key} onChange={(e) => setKey(e.target.value)} type="password" />
        </DialogContent>
        <DialogActions>
          <MuiButton onClick={() => setAsking(false)}>Cancel</MuiButton>
          <MuiButton variant="contained" onClick={() => open(key)}>
            Open
          </MuiButton>
        </DialogActions>
      </Dialog>
    </>
  );
}

export const TenantList = () => (
  <ConsoleList
    filters={[<SelectInput key="status" source="status" alwaysOn choices={['active', 'suspended'].map((id) => ({ id, name: id }))} />]}
    actions={
      <TopToolbar>
        <CreateButton label="New tenant" />
      </TopToolbar>
    }
  >
    <Datagrid rowClick={false} bulkActionButtons={false}>
      <TextField source="name" sortable={false} />
      <TextField source="slug" sortable={false} />
      <TextField source="plan_tier" sortable={false} />
      <TextField source="status" sortable={false} />
      <TextField source="owner_email" sortable={false} />
      <DateField source="created_at" showTime sortable={false} />
      <OpenTenantButton />
      <EditButton />
    </Datagrid>
  </ConsoleList>
);

const PLANS = ['free', 'pro', 'enterprise'].map((id) => ({ id, name: id }));

export function TenantCreate() {
  const [created, setCreated] = useState<{ id: string; name: string; token: string }>();
  if (created) {
    return (
      <Box sx={{ p: 2 }}>
        <SecretOnce title={`Admin key of ${created.name}: copy it now, it is shown only this once`} value={created.token} note="The console keeps it for this browser tab, to open the tenant." />
        <MuiButton variant="contained" onClick={() => openTenant(created.id, created.name, created.token)}>
          Open {created.name}
        </MuiButton>{' '}
        <Link to="/tenants">Back to tenants</Link>
      </Box>
    );
  }
  return (
    <ConsoleCreate
      redirect={false}
      mutationOptions={{
        onSuccess: (data: { id: string; name: string; token: string }) => {
          const session = loadSession()!;
          saveSession({ ...session, tenantKeys: { ...session.tenantKeys, [data.id]: { token: data.token, name: data.name } } });
          setCreated(data);
        },
      }}
    >
      <SimpleForm defaultValues={{ plan_tier: 'free' }}>
        <TextInput source="name" validate={required()} />
        <TextInput source="slug" helperText="Default: from the name" />
        <SelectInput source="plan_tier" choices={PLANS} />
      </SimpleForm>
    </ConsoleCreate>
  );
}

export const TenantEdit = () => (
  <ConsoleEdit>
    <SimpleForm>
      <TextInput source="name" />
      <SelectInput source="plan_tier" choices={PLANS} />
      <SelectInput source="status" choices={['active', 'suspended'].map((id) => ({ id, name: id }))} />
      <TextInput source="suspended_reason" />
    </SimpleForm>
  </ConsoleEdit>
);

/** In the app bar for the system admin: which tenant the console acts in, and the others it holds a key of. */
export function TenantSwitcher() {
  const session = loadSession();
  if (session?.kind !== 'admin') return null;
  const held = Object.entries(session.tenantKeys ?? {});
  return (
    <MuiTextField
      select
      size="small"
      value={session.tenant?.id ?? ''}
      label="Tenant"
      sx={{ minWidth: 200, mx: 2, '& .MuiInputBase-root': { color: 'inherit', bgcolor: 'rgba(255,255,255,.15)' }, '& label': { color: 'inherit' } }}
      onChange={(e) => {
        const id = e.target.value;
        if (id === '__all') window.location.hash = '#/tenants';
        else {
          const entry = session.tenantKeys?.[id];
          if (entry) void openTenant(id, entry.name, entry.token).catch(() => (window.location.hash = '#/tenants'));
        }
      }}
      data-testid="tenant-switcher"
    >
      <MenuItem value="__all">All tenants…</MenuItem>
      {held.map(([id, t]) => (
        <MenuItem key={id} value={id}>
          {t.name}
        </MenuItem>
      ))}
      {session.tenant && !session.tenantKeys?.[session.tenant.id] ? <MenuItem value={session.tenant.id}>{session.tenant.name}</MenuItem> : null}
    </MuiTextField>
  );
}
