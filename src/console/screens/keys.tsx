import { useState } from 'react';
import { Button as MuiButton, Dialog, DialogActions, DialogContent, DialogTitle } from '@mui/material';
import Autorenew from '@mui/icons-material/Autorenew';
import {
  CheckboxGroupInput,
  CreateButton,
  Datagrid,
  TextArrayField,
  DateField,
  DateTimeInput,
  DeleteButton,
  EditButton,
  Link,
  NumberInput,
  SelectInput,
  SimpleForm,
  TextField,
  TextInput,
  TopToolbar,
  required,
  useNotify,
  useRecordContext,
  useRefresh,
} from 'react-admin';
import { api } from '../session.ts';
import { ConsoleCreate, ConsoleEdit, ConsoleList, ErrorBox, IfCan, SecretOnce } from '../ui.tsx';

const SCOPES = ['read', 'write', 'schema', 'files', 'auth', 'ai', '*'].map((id) => ({ id, name: id }));

const filters = [
  <SelectInput key="status" source="status" alwaysOn choices={['active', 'revoked', 'expired'].map((id) => ({ id, name: id }))} />,
  <TextInput key="q" source="q" label="Search" alwaysOn />,
];

function RotateButton() {
  const record = useRecordContext();
  const refresh = useRefresh();
  const [token, setToken] = useState<string>();
  const [error, setError] = useState<unknown>();
  if (!record || record.status !== 'active') return null;
  return (
    <>
      <MuiButton
        size="small"
        startIcon={<Autorenew />}
        onClick={async (e) => {
          e.stopPropagation();
          try {
            const rotated = await api((c) => c.keys.keysRotateCreate({ keyId: String(record.id) }, {}));
            setToken(rotated.token);
          } catch (err) {
            setError(err);
          }
        }}
      >
        Rotate
      </MuiButton>
      <Dialog open={Boolean(token || error)} onClose={() => (setToken(undefined), setError(undefined), refresh())} onClick={(e) => e.stopPropagation()}>
        <DialogTitle>Rotate {String(record.label)}</DialogTitle>
        <DialogContent>
          <ErrorBox error={error} />
          {token ? <SecretOnce title="The new key (shown only now)" value={token} note="The old key keeps working for its grace period." /> : null}
        </DialogContent>
        <DialogActions>
          <MuiButton onClick={() => (setToken(undefined), setError(undefined), refresh())}>Done</MuiButton>
        </DialogActions>
      </Dialog>
    </>
  );
}

export const KeyList = () => (
  <ConsoleList
    filters={filters}
    sort={{ field: 'created_at', order: 'DESC' }}
    actions={
      <TopToolbar>
        <IfCan scope="*">
          <CreateButton label="Create key" />
        </IfCan>
      </TopToolbar>
    }
  >
    <Datagrid rowClick={false} bulkActionButtons={false}>
      <TextField source="label" />
      <TextField source="prefix" />
      <TextArrayField source="scopes" sortable={false} />
      <TextField source="status" />
      <DateField source="expires_at" showTime emptyText="never" />
      <DateField source="last_used_at" showTime emptyText="never" />
      <DateField source="created_at" showTime />
      <IfCan scope="*">
        <EditButton />
        <RotateButton />
        <DeleteButton label="Revoke" mutationMode="pessimistic" confirmTitle="Revoke this key?" confirmContent="Requests with it fail from now on." />
      </IfCan>
    </Datagrid>
  </ConsoleList>
);

function KeyCreated({ token }: { token: string }) {
  return (
    <div style={{ padding: 16 }}>
      <SecretOnce title="Your new API key: copy it now, it is shown only this once" value={token} />
      <Link to="/keys">Back to keys</Link>
    </div>
  );
}

export function KeyCreate() {
  const [token, setToken] = useState<string>();
  const notify = useNotify();
  if (token) return <KeyCreated token={token} />;
  return (
    <ConsoleCreate
      redirect={false}
      mutationOptions={{
        onSuccess: (data: { token?: string }) => {
          notify('Key created');
          setToken(data.token);
        },
      }}
    >
      <SimpleForm defaultValues={{ scopes: ['read'] }}>
        <TextInput source="label" validate={required()} />
        <CheckboxGroupInput source="scopes" choices={SCOPES} validate={required()} helperText="* grants everything, including keys, users and webhooks" />
        <DateTimeInput source="expires_at" helperText="Empty: never expires" parse={(v: string) => (v ? new Date(v).toISOString() : null)} />
        <NumberInput source="rate_limit" helperText="Requests per minute; empty uses the plan's" />
      </SimpleForm>
    </ConsoleCreate>
  );
}

export const KeyEdit = () => (
  <ConsoleEdit>
    <SimpleForm>
      <TextInput source="label" validate={required()} />
      <CheckboxGroupInput source="scopes" choices={SCOPES} />
      <DateTimeInput source="expires_at" parse={(v: string) => (v ? new Date(v).toISOString() : null)} />
      <NumberInput source="rate_limit" />
    </SimpleForm>
  </ConsoleEdit>
);
