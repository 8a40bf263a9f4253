// The later modules (automations, functions, reports, dashboards, forms, AI, accounting...): each a
// read-only list of what its list route answers. Columns come from the records themselves.
import { Datagrid, FunctionField, TextInput, useListContext } from 'react-admin';
import { ConsoleList } from '../ui.tsx';

const PREFERRED = ['name', 'title', 'label', 'code', 'slug', 'status', 'type', 'trigger_event', 'trigger_type', 'enabled', 'contact_name', 'date', 'total', 'updated_at', 'created_at'];

const cell = (value: unknown) => {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
};

function Columns() {
  const { data } = useListContext();
  const first = (data?.[0] ?? {}) as Record<string, unknown>;
  const keys = ['id', ...PREFERRED.filter((k) => k in first)].slice(0, 8);
  return (
    <Datagrid rowClick={false} bulkActionButtons={false}>
      {keys.map((k) => (
        <FunctionField key={k} source={k} label={k} render={(r: Record<string, unknown>) => cell(r[k])} />
      ))}
    </Datagrid>
  );
}

export const ModuleList = ({ title }: { title: string }) => (
  <ConsoleList title={title} actions={false} filters={[<TextInput key="q" source="q" label="Search" alwaysOn />]} sort={{ field: 'created_at', order: 'DESC' }}>
    <Columns />
  </ConsoleList>
);
