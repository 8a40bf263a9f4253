// Governance per object type: access policies with the simulator, approval workflows, and the
// reviews waiting for a decision (approve / reject). Resources `policies/<type>`, `workflows/<type>`,
// `reviews/<type>` in the dataProvider.
import { useState } from 'react';
import { Box, Button as MuiButton, Card, CardContent, MenuItem, Stack, TextField as MuiTextField, Typography } from '@mui/material';
import {
  ArrayInput,
  BooleanField,
  BooleanInput,
  Button,
  CreateButton,
  Datagrid,
  DateField,
  DeleteButton,
  FunctionField,
  Link,
  ListContextProvider,
  NumberInput,
  SelectInput,
  SimpleForm,
  SimpleFormIterator,
  TextField,
  TextInput,
  Title,
  TopToolbar,
  required,
  useGetList,
  useList,
  useNotify,
  useRecordContext,
  useRefresh,
} from 'react-admin';
import { useNavigate, useParams } from 'react-router-dom';
import { api, can } from '../session.ts';
import { ConsoleCreate, ConsoleEdit, ConsoleList, ErrorBox, IfCan, JsonField } from '../ui.tsx';

const ACTIONS = ['select', 'insert', 'update', 'delete', 'all'].map((id) => ({ id, name: id }));

/** The object type the screen is about (from the URL), with a picker to change it. */
function TypePicker({ base, current }: { base: string; current?: string }) {
  const navigate = useNavigate();
  const { data, error } = useGetList('object-types', { pagination: { page: 1, perPage: 100 }, sort: { field: 'name', order: 'ASC' } });
  return (
    <Box sx={{ p: 2, pb: 0 }}>
      <ErrorBox error={error} title="The API refused the types" />
      <MuiTextField
        select
        size="small"
        label="Object type"
        value={current ?? ''}
        onChange={(e) => navigate(`/${base}/${e.target.value}`)}
        sx={{ minWidth: 260 }}
        slotProps={{ htmlInput: { 'data-testid': `${base}-type` } }}
      >
        {(data ?? []).map((t) => (
          <MenuItem key={t.id} value={t.name}>
            {t.display_name ?? t.name}
          </MenuItem>
        ))}
      </MuiTextField>
    </Box>
  );
}

const jsonInput = {
  format: (v: unknown) => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v)),
  parse: (v: string) => {
    try {
      return v === '' ? {} : JSON.parse(v);
    } catch {
      return v;
    }
  },
};
const isJson = (v: unknown) => (typeof v === 'string' ? 'Not valid JSON' : undefined);

function PolicyToggle({ type }: { type: string }) {
  const record = useRecordContext();
  const notify = useNotify();
  const refresh = useRefresh();
  if (!record) return null;
  return (
    <MuiButton
      size="small"
      onClick={async (e) => {
        e.stopPropagation();
        try {
          await api((c) => c.objectTypes.objectTypesPoliciesPartialUpdate({ objectTypeId: type, policyId: String(record.id) }, { enabled: !record.enabled }));
          refresh();
        } catch (err) {
          notify((err as Error).message, { type: 'error' });
        }
      }}
    >
      {record.enabled ? 'Disable' : 'Enable'}
    </MuiButton>
  );
}

/** Edit: the row's form at `/<base>/<type>/<id>`. */
function RowEdit({ base, type }: { base: string; type: string }) {
  const record = useRecordContext();
  if (!record) return null;
  return <Button component={Link} to={`/${base}/${type}/${encodeURIComponent(String(record.id))}`} label="Edit" />;
}

export function PolicyList() {
  const { type } = useParams();
  return (
    <>
      <Title title="Access policies" />
      <TypePicker base="policies" current={type} />
      {type ? (
        <ConsoleList
          resource={`policies/${type}`}
          title={`Access policies: ${type}`}
          storeKey={false}
          disableSyncWithLocation
          empty={false}
          actions={
            <TopToolbar>
              <Button component={Link} to={`/policy-simulator?type=${encodeURIComponent(type)}`} label="Simulate" />
              <IfCan scope="schema">
                <CreateButton resource={`policies/${type}`} to={`/policies/${type}/create`} label="New policy" />
              </IfCan>
            </TopToolbar>
          }
        >
          <Datagrid rowClick={false} bulkActionButtons={false}>
            <TextField source="name" />
            <TextField source="action" />
            <TextField source="role" emptyText="every role" />
            <JsonField source="condition_json" label="Condition" />
            <BooleanField source="enabled" />
            {can('schema') ? <PolicyToggle type={type} /> : null}
            {can('schema') ? <RowEdit base="policies" type={type} /> : null}
            {can('schema') ? <DeleteButton mutationMode="pessimistic" redirect={false} /> : null}
          </Datagrid>
        </ConsoleList>
      ) : (
        <Typography sx={{ p: 2 }}>Pick a type to see its policies. A type with no enabled policy is open to every user; API keys are never restricted.</Typography>
      )}
    </>
  );
}

export function PolicyCreate() {
  const { type = '' } = useParams();
  return (
    <ConsoleCreate resource={`policies/${type}`} title={`New policy on ${type}`} redirect={() => `policies/${type}`}>
      <SimpleForm defaultValues={{ action: 'select', condition_json: {}, enabled: true }}>
        <PolicyInputs />
      </SimpleForm>
    </ConsoleCreate>
  );
}

/** A policy's fields as at creation; only what changed is sent (the dataProvider diffs against the stored policy). */
export function PolicyEdit() {
  const { type = '', id = '' } = useParams();
  // The refusal stays on the form (a notification would vanish before it is read).
  const [error, setError] = useState<unknown>();
  return (
    <ConsoleEdit resource={`policies/${type}`} id={id} title={`Edit policy on ${type}`} redirect={() => `policies/${type}`} actions={false} mutationOptions={{ onError: setError }}>
      <ErrorBox error={error} title="The API refused the change" />
      <SimpleForm>
        <PolicyInputs />
      </SimpleForm>
    </ConsoleEdit>
  );
}

function PolicyInputs() {
  return (
    <>
      <TextInput source="name" validate={required()} />
      <SelectInput source="action" choices={ACTIONS} validate={required()} />
      <TextInput source="role" helperText="A user role; empty applies to every role" />
      <TextInput
        source="condition_json"
        label="Condition (JSON)"
        {...jsonInput}
        validate={isJson}
        multiline
        fullWidth
        helperText='{} always holds; {"property":"status","op":"eq","value":"open"}; {"property":"owner","op":"eq","value":{"$auth":"user_id"}}; and/or/not'
      />
      <BooleanInput source="enabled" />
    </>
  );
}

interface Simulation {
  action: string;
  restricted: boolean;
  applicable_policies: { id: string; name: string; action: string; role: string | null }[];
  skipped_policies: { id: string; name: string; reason: string }[];
  results: { index: number; id: string; allowed: boolean; matched_policies: string[]; reason: string }[];
  allowed_count: number;
  denied_count: number;
  visible_total?: number;
}

/** What a user with a given role (and id) may do under a type's policies, or under a policy typed here. */
export function PolicySimulator() {
  const initialType = new URLSearchParams(window.location.hash.split('?')[1] ?? '').get('type') ?? '';
  const [type, setType] = useState(initialType);
  const [action, setAction] = useState('select');
  const [role, setRole] = useState('');
  const [userId, setUserId] = useState('');
  const [inline, setInline] = useState('');
  const [samples, setSamples] = useState('');
  const [result, setResult] = useState<Simulation>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const { data: types } = useGetList('object-types', { pagination: { page: 1, perPage: 100 }, sort: { field: 'name', order: 'ASC' } });
  const rows = useList({ data: (result?.results ?? []).map((r) => ({ ...r, id: `${r.index}:${r.id}` })), perPage: 100 });
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const body: Record<string, unknown> = { object_type_id: type || undefined, action, auth_context: { role: role || null, user_id: userId || null } };
      if (inline.trim()) body.policy = { action, role: role || null, condition_json: JSON.parse(inline) };
      if (samples.trim()) body.sample_data = JSON.parse(samples);
      setResult((await api((c) => c.policies.policiesSimulateCreate(body as never))) as Simulation);
    } catch (err) {
      setResult(undefined);
      setError(err instanceof SyntaxError ? new Error(`Not valid JSON: ${err.message}`) : err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Box sx={{ p: 2 }}>
      <Title title="Policy simulator" />
      <Card variant="outlined">
        <CardContent>
          <Box sx={{ display: 'flex', flexWrap: 'wrap', gap: 2 }}>
            <MuiTextField select size="small" label="Object type" value={type} onChange={(e) => setType(e.target.value)} sx={{ minWidth: 200 }} slotProps={{ htmlInput: { 'data-testid': 'sim-type' } }}>
              {(types ?? []).map((t) => (
                <MenuItem key={t.id} value={t.name}>
                  {t.display_name ?? t.name}
                </MenuItem>
              ))}
            </MuiTextField>
            <MuiTextField select size="small" label="Action" value={action} onChange={(e) => setAction(e.target.value)} sx={{ minWidth: 140 }}>
              {['select', 'insert', 'update', 'delete'].map((a) => (
                <MenuItem key={a} value={a}>
                  {a}
                </MenuItem>
              ))}
            </MuiTextField>
            <MuiTextField size="small" label="Role" value={role} onChange={(e) => setRole(e.target.value)} />
            <MuiTextField size="small" label="User id" value={userId} onChange={(e) => setUserId(e.target.value)} />
          </Box>
          <MuiTextField sx={{ mt: 2 }} fullWidth size="small" label="Inline policy condition (JSON, optional: tests it instead of the stored policies)" value={inline} onChange={(e) => setInline(e.target.value)} />
          <MuiTextField sx={{ mt: 2 }} fullWidth size="small" multiline minRows={2} label="Sample records (JSON array, optional: else the type's 100 newest records)" value={samples} onChange={(e) => setSamples(e.target.value)} />
          <MuiButton sx={{ mt: 2 }} variant="contained" disabled={busy} onClick={run}>
            Simulate
          </MuiButton>
        </CardContent>
      </Card>
      <ErrorBox error={error} title="The simulation was refused" />
      {result ? (
        <Box sx={{ mt: 2 }} data-testid="simulation">
          <Typography variant="h6">
            {result.allowed_count} allowed · {result.denied_count} denied
            {result.visible_total !== undefined ? ` · ${result.visible_total} visible in all` : ''}
            {result.restricted ? '' : ' · unrestricted (no applicable policy)'}
          </Typography>
          <Typography variant="body2" gutterBottom>
            Applicable: {result.applicable_policies.map((p) => p.name).join(', ') || 'none'}
            {result.skipped_policies.length ? ` · skipped: ${result.skipped_policies.map((p) => `${p.name} (${p.reason})`).join(', ')}` : ''}
          </Typography>
          <ListContextProvider value={rows}>
            <Datagrid resource="console-rows" bulkActionButtons={false} rowClick={false}>
              <TextField source="index" label="#" />
              <FunctionField label="Record" render={(r: { id: string }) => r.id.split(':').slice(1).join(':')} />
              <FunctionField label="Allowed" render={(r: { allowed: boolean }) => (r.allowed ? 'allowed' : 'denied')} />
              <FunctionField label="Matched" render={(r: { matched_policies: string[] }) => r.matched_policies.join(', ')} />
              <TextField source="reason" />
            </Datagrid>
          </ListContextProvider>
        </Box>
      ) : null}
    </Box>
  );
}

function WorkflowToggle({ type }: { type: string }) {
  const record = useRecordContext();
  const notify = useNotify();
  const refresh = useRefresh();
  if (!record) return null;
  return (
    <MuiButton
      size="small"
      onClick={async () => {
        try {
          await api((c) => c.objectTypes.objectTypesWorkflowsPartialUpdate({ objectTypeId: type, workflowId: String(record.id) }, { enabled: !record.enabled }));
          refresh();
        } catch (err) {
          notify((err as Error).message, { type: 'error' });
        }
      }}
    >
      {record.enabled ? 'Disable' : 'Enable'}
    </MuiButton>
  );
}

export function WorkflowList() {
  const { type } = useParams();
  return (
    <>
      <Title title="Approval workflows" />
      <TypePicker base="workflows" current={type} />
      {type ? (
        <ConsoleList
          resource={`workflows/${type}`}
          title={`Approval workflows: ${type}`}
          storeKey={false}
          disableSyncWithLocation
          empty={false}
          actions={
            <TopToolbar>
              <Button component={Link} to={`/reviews/${type}`} label="Pending reviews" />
              <IfCan scope="schema">
                <CreateButton resource={`workflows/${type}`} to={`/workflows/${type}/create`} label="New workflow" />
              </IfCan>
            </TopToolbar>
          }
        >
          <Datagrid rowClick={false} bulkActionButtons={false}>
            <TextField source="name" />
            <FunctionField
              label="Stages"
              render={(w: { stages: { name: string; approver_roles?: string[]; required_approvals?: number }[] }) =>
                w.stages.map((s) => `${s.name} (${s.required_approvals ?? 1}× ${(s.approver_roles ?? []).join('/') || 'any writer'})`).join(' → ')
              }
            />
            <BooleanField source="enabled" />
            <BooleanField source="allow_self_approval" />
            {can('schema') ? <WorkflowToggle type={type} /> : null}
            {can('schema') ? <RowEdit base="workflows" type={type} /> : null}
            {can('schema') ? <DeleteButton mutationMode="pessimistic" redirect={false} /> : null}
          </Datagrid>
        </ConsoleList>
      ) : (
        <Typography sx={{ p: 2 }}>Pick a type to see its approval workflows.</Typography>
      )}
    </>
  );
}

const splitList = (v: unknown) =>
  Array.isArray(v)
    ? v
    : String(v ?? '')
        .split(/[\s,]+/)
        .filter(Boolean);

export function WorkflowCreate() {
  const { type = '' } = useParams();
  return (
    <ConsoleCreate
      resource={`workflows/${type}`}
      title={`New workflow on ${type}`}
      redirect={() => `workflows/${type}`}
      transform={(d: Record<string, unknown>) => ({
        ...d,
        stages: ((d.stages as Record<string, unknown>[]) ?? []).map((s) => ({ name: s.name, approver_roles: splitList(s.approver_roles), required_approvals: Number(s.required_approvals ?? 1) })),
      })}
    >
      <SimpleForm defaultValues={{ enabled: true, stages: [{ name: 'review', approver_roles: '', required_approvals: 1 }] }}>
        <WorkflowInputs />
      </SimpleForm>
    </ConsoleCreate>
  );
}

/** A workflow's name, stages and switches; the dataProvider sends only what changed (stages refused with records in review: 409, shown). */
export function WorkflowEdit() {
  const { type = '', id = '' } = useParams();
  // The refusal stays on the form (a notification would vanish before it is read).
  const [error, setError] = useState<unknown>();
  return (
    <ConsoleEdit resource={`workflows/${type}`} id={id} title={`Edit workflow on ${type}`} redirect={() => `workflows/${type}`} actions={false} mutationOptions={{ onError: setError }}>
      <ErrorBox error={error} title="The API refused the change" />
      <SimpleForm>
        <WorkflowInputs />
      </SimpleForm>
    </ConsoleEdit>
  );
}

const roleList = { format: (v: unknown) => (Array.isArray(v) ? v.join(', ') : ((v as string | undefined) ?? '')) };

function WorkflowInputs() {
  return (
    <>
      <TextInput source="name" validate={required()} />
      <ArrayInput source="stages">
        <SimpleFormIterator inline>
          <TextInput source="name" label="Stage" validate={required()} />
          <TextInput source="approver_roles" label="Approver roles (comma separated; empty: any writer)" {...roleList} />
          <NumberInput source="required_approvals" label="Approvals" min={1} max={10} />
        </SimpleFormIterator>
      </ArrayInput>
      <BooleanInput source="enabled" />
      <BooleanInput source="allow_self_approval" label="The submitter may approve" />
    </>
  );
}

function Decide({ type }: { type: string }) {
  const record = useRecordContext();
  const notify = useNotify();
  const refresh = useRefresh();
  const [busy, setBusy] = useState(false);
  if (!record || record.status !== 'in_review') return null;
  const decide = async (approve: boolean) => {
    setBusy(true);
    try {
      if (approve) {
        const r = await api((c) => c.objects.objectsApproveCreate({ objectTypeId: type, objectId: String(record.id) }, {}));
        notify(r.status === 'approved' ? 'Approved' : `Approval recorded (${r.approvals} of ${r.required_approvals}${r.next_stage ? `, next: ${r.next_stage}` : ''})`);
      } else {
        const reason = window.prompt('Reason for the rejection') ?? undefined;
        await api((c) => c.objects.objectsRejectCreate({ objectTypeId: type, objectId: String(record.id) }, reason ? { reason } : {}));
        notify('Rejected');
      }
      refresh();
    } catch (err) {
      notify((err as Error).message, { type: 'error' });
    } finally {
      setBusy(false);
    }
  };
  return (
    <Stack direction="row" spacing={1}>
      <MuiButton size="small" variant="contained" disabled={busy} onClick={() => decide(true)}>
        Approve
      </MuiButton>
      <MuiButton size="small" color="error" disabled={busy} onClick={() => decide(false)}>
        Reject
      </MuiButton>
    </Stack>
  );
}

const STATUSES = ['in_review', 'approved', 'rejected', 'cancelled'].map((id) => ({ id, name: id }));

export function ReviewList() {
  const { type } = useParams();
  return (
    <>
      <Title title="Pending reviews" />
      <TypePicker base="reviews" current={type} />
      {type ? (
        <ConsoleList
          resource={`reviews/${type}`}
          title={`Reviews: ${type}`}
          storeKey={false}
          disableSyncWithLocation
          filters={[<SelectInput key="status" source="status" choices={STATUSES} alwaysOn emptyText="in_review" />]}
          actions={false}
          empty={false}
        >
          <Datagrid rowClick={false} bulkActionButtons={false}>
            <FunctionField label="Record" render={(r: { object_id: string }) => <Link to={`/records/${type}/${encodeURIComponent(r.object_id)}`}>{r.object_id}</Link>} />
            <JsonField source="record.properties" label="Properties" />
            <TextField source="workflow" />
            <TextField source="stage" />
            <FunctionField label="Approvals" render={(r: { approvals: unknown[]; required_approvals: number | null }) => `${r.approvals.length} of ${r.required_approvals ?? '?'}`} />
            <TextField source="status" />
            <DateField source="submitted_at" showTime />
            {can('write') ? <Decide type={type} /> : null}
          </Datagrid>
        </ConsoleList>
      ) : (
        <Typography sx={{ p: 2 }}>Pick a type to see its records waiting for a decision.</Typography>
      )}
    </>
  );
}
