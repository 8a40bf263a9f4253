// Users (invite, role, ban), roles and permissions, sessions, and the audit log.
import {
  BooleanField,
  BooleanInput,
  CreateButton,
  Datagrid,
  TextArrayField,
  DateField,
  DeleteButton,
  EditButton,
  FunctionField,
  NumberField,
  SelectInput,
  SimpleForm,
  TextField,
  TextInput,
  TopToolbar,
  email,
  required,
  useGetList,
} from 'react-admin';
import { ConsoleCreate, ConsoleEdit, ConsoleList, IfCan, JsonField } from '../ui.tsx';

function useRoleChoices() {
  const { data } = useGetList('roles', { pagination: { page: 1, perPage: 200 }, sort: { field: 'name', order: 'ASC' } });
  return (data ?? [{ id: 'admin', name: 'admin' }, { id: 'member', name: 'member' }, { id: 'viewer', name: 'viewer' }]).map((r) => ({ id: r.name, name: r.name }));
}

export const UserList = () => (
  <ConsoleList
    filters={[<TextInput key="q" source="q" label="Search" alwaysOn />, <TextInput key="role" source="role" />]}
    sort={{ field: 'created_at', order: 'DESC' }}
    actions={
      <TopToolbar>
        <IfCan scope="*">
          <CreateButton label="Invite user" />
        </IfCan>
      </TopToolbar>
    }
  >
    <Datagrid rowClick={false} bulkActionButtons={false}>
      <TextField source="email" sortable={false} />
      <TextField source="role" sortable={false} />
      <TextField source="audience" sortable={false} />
      <BooleanField source="email_verified" sortable={false} />
      <BooleanField source="banned" sortable={false} />
      <DateField source="last_sign_in_at" showTime sortable={false} emptyText="never" />
      <DateField source="created_at" showTime sortable={false} />
      <IfCan scope="*">
        <EditButton />
        <DeleteButton mutationMode="pessimistic" />
      </IfCan>
    </Datagrid>
  </ConsoleList>
);

/** An invitation: the user exists with an email and a role, and sets a password through the reset or magic-link flow. */
export function UserCreate() {
  const roles = useRoleChoices();
  return (
    <ConsoleCreate redirect="list" title="Invite a user">
      <SimpleForm defaultValues={{ role: 'member' }}>
        <TextInput source="email" validate={[required(), email()]} />
        <SelectInput source="role" choices={roles} />
        <TextInput source="password" type="password" helperText="Optional: leave empty and the user signs in by magic link or password reset" />
      </SimpleForm>
    </ConsoleCreate>
  );
}

export function UserEdit() {
  const roles = useRoleChoices();
  return (
    <ConsoleEdit>
      <SimpleForm>
        <TextField source="email" />
        <SelectInput source="role" choices={roles} />
        <BooleanInput source="banned" />
        <TextInput source="ban_reason" />
      </SimpleForm>
    </ConsoleEdit>
  );
}

export const RoleList = () => (
  <ConsoleList
    sort={{ field: 'name', order: 'ASC' }}
    actions={
      <TopToolbar>
        <IfCan scope="*">
          <CreateButton label="New role" />
        </IfCan>
      </TopToolbar>
    }
  >
    <Datagrid rowClick={false} bulkActionButtons={false}>
      <TextField source="name" />
      <TextField source="description" />
      <TextArrayField source="permissions" sortable={false} />
      <NumberField source="user_count" label="Users" />
      <BooleanField source="built_in" />
      <IfCan scope="*">
        <FunctionField render={(r: { built_in?: boolean }) => (r.built_in ? null : <EditButton />)} />
        <FunctionField render={(r: { built_in?: boolean }) => (r.built_in ? null : <DeleteButton mutationMode="pessimistic" />)} />
      </IfCan>
    </Datagrid>
  </ConsoleList>
);

const permissionsInput = {
  format: (v: unknown) => (Array.isArray(v) ? v.join(', ') : (v as string) ?? ''),
  helperText: 'Comma separated: read, write, files, objects:read, invoices:*, ...',
};

export const RoleCreate = () => (
  <ConsoleCreate redirect="list">
    <SimpleForm>
      <TextInput source="name" validate={required()} />
      <TextInput source="permissions" {...permissionsInput} fullWidth />
    </SimpleForm>
  </ConsoleCreate>
);

export const RoleEdit = () => (
  <ConsoleEdit>
    <SimpleForm>
      <TextField source="name" />
      <TextInput source="permissions" {...permissionsInput} fullWidth />
    </SimpleForm>
  </ConsoleEdit>
);

export const SessionList = () => (
  <ConsoleList actions={false} title="Sessions" sort={{ field: 'last_active_at', order: 'DESC' }}>
    <Datagrid rowClick={false} bulkActionButtons={false}>
      <TextField source="user_id" />
      <TextField source="ip" />
      <TextField source="user_agent" />
      <TextField source="aal" />
      <BooleanField source="current" />
      <DateField source="created_at" showTime />
      <DateField source="last_active_at" showTime />
      <DateField source="expires_at" showTime />
      <DeleteButton label="Revoke" mutationMode="pessimistic" redirect={false} />
    </Datagrid>
  </ConsoleList>
);

export const AuditList = () => (
  <ConsoleList
    filters={[<TextInput key="action" source="action" alwaysOn helperText="e.g. key.created" />, <TextInput key="rt" source="resource_type" alwaysOn />]}
    actions={false}
    title="Audit log"
  >
    <Datagrid rowClick={false} bulkActionButtons={false}>
      <DateField source="created_at" showTime sortable={false} />
      <TextField source="action" sortable={false} />
      <FunctionField label="Actor" render={(r: { actor_type: string; actor_id: string | null }) => `${r.actor_type}${r.actor_id ? ` ${r.actor_id}` : ''}`} />
      <TextField source="resource_type" sortable={false} />
      <TextField source="resource_id" sortable={false} />
      <TextField source="ip" sortable={false} />
      <JsonField source="metadata" />
    </Datagrid>
  </ConsoleList>
);

