// The later modules (automations, functions, schedules, reports, dashboards, forms, AI, accounting,
// billing, status): a list of what each list route answers, a detail with the module's own actions
// (run, execute, trigger, post), a create form where the body is simple, and pages for usage, the
// trial balance, billing and the status page.
import { useEffect, useState, type ReactNode } from 'react';
import { Box, Button as MuiButton, Card, CardContent, Chip, IconButton, Stack, TextField as MuiTextField, Tooltip, Typography } from '@mui/material';
import Delete from '@mui/icons-material/Delete';
import Add from '@mui/icons-material/Add';
import { useFieldArray, useWatch } from 'react-hook-form';
import {
  BooleanInput,
  CreateButton,
  Datagrid,
  DateField,
  DeleteButton,
  EditButton,
  FunctionField,
  ListContextProvider,
  NumberField,
  NumberInput,
  SaveButton,
  SelectInput,
  SimpleForm,
  Toolbar,
  TextField,
  TextInput,
  Title,
  TopToolbar,
  required,
  useList,
  useListContext,
  useRecordContext,
  useGetList,
  useRefresh,
} from 'react-admin';
import { editFields, MODULES, type ColumnSpec, type FieldSpec } from '../dataProvider.ts';
import { serviceApi } from '../agent-service.ts';
import { api, can, errorMessage, loadSession, type Scope } from '../session.ts';
import { ConsoleCreate, ConsoleEdit, ConsoleList, ConsoleShow, ErrorBox } from '../ui.tsx';
import { LinePlot } from './activity.tsx';

const PREFERRED = ['name', 'title', 'label', 'code', 'slug', 'status', 'type', 'provider_type', 'trigger_event', 'trigger_type', 'cron_expression', 'action_type', 'enabled', 'is_default', 'date', 'reference', 'total', 'updated_at', 'created_at'];

const cell = (value: unknown) => {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
};

const writeScopeOf = (resource: string): Scope => (MODULES[resource]?.writeScope ?? 'write') as Scope;

/** Edit for a row the caller may change and the API would take (a draft entry, not a posted one). */
function RowEditButton({ resource }: { resource: string }) {
  const record = useRecordContext();
  const def = MODULES[resource];
  if (!record || !def?.update || !can(writeScopeOf(resource)) || (def.update.editable && !def.update.editable(record))) return null;
  return <EditButton resource={resource} record={record} />;
}

function Columns({ resource }: { resource: string }) {
  const { data } = useListContext();
  const def = MODULES[resource];
  const first = (data?.[0] ?? {}) as Record<string, unknown>;
  const keys = ['id', ...PREFERRED.filter((k) => k in first)].slice(0, 8);
  return (
    <Datagrid rowClick={def?.getOne ? 'show' : false} bulkActionButtons={false}>
      {keys.map((k) => (
        <FunctionField key={k} source={k} label={k} render={(r: Record<string, unknown>) => cell(r[k])} />
      ))}
      {def?.update && can(writeScopeOf(resource)) ? <RowEditButton resource={resource} /> : null}
      {def?.delete && can(writeScopeOf(resource)) ? <DeleteButton mutationMode="pessimistic" redirect={false} /> : null}
    </Datagrid>
  );
}

export const ModuleList = ({ resource }: { resource: string }) => {
  const def = MODULES[resource]!;
  return (
    <ConsoleList
      resource={resource}
      title={def.label}
      actions={def.create && can(writeScopeOf(resource)) ? <TopToolbar><CreateButton /></TopToolbar> : false}
      filters={[<TextInput key="q" source="q" label="Search" alwaysOn />]}
      sort={{ field: 'created_at', order: 'DESC' }}
      empty={false}
    >
      <Columns resource={resource} />
    </ConsoleList>
  );
};

// ------------------------------------------------------------------ create

const jsonFormat = { format: (v: unknown) => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v, null, 2)), parse: (v: string) => { try { return v === '' ? undefined : JSON.parse(v); } catch { return v; } } };
const isJson = (v: unknown) => (typeof v === 'string' ? 'Not valid JSON' : undefined);

/** The chart of accounts as a select (journal and invoice lines). */
function AccountInput({ source, label, required: isRequired, width = 260 }: { source: string; label: string; required?: boolean; width?: number }) {
  const { data, error } = useGetList('accounting-accounts', { pagination: { page: 1, perPage: 1000 }, sort: { field: 'code', order: 'ASC' } });
  const choices = (data ?? []).map((a) => ({ id: a.id, name: `${a.code} ${a.name}` }));
  return (
    <SelectInput
      source={source}
      label={label}
      choices={choices}
      isLoading={!data && !error}
      validate={isRequired ? [required()] : []}
      helperText={error ? `The accounts did not load: ${errorMessage(error)}` : false}
      sx={{ width, minWidth: width }}
    />
  );
}

function cellInput(name: string, col: ColumnSpec) {
  const label = col.label ?? col.source;
  const validate = col.required ? [required()] : [];
  const sx = col.width ? { width: col.width, minWidth: col.width } : { flex: 1, minWidth: 200 };
  switch (col.kind) {
    case 'account':
      return <AccountInput key={col.source} source={name} label={label} required={col.required} width={col.width} />;
    case 'select':
      return <SelectInput key={col.source} source={name} label={label} validate={validate} choices={(col.choices ?? []).map((id) => ({ id, name: id }))} helperText={false} sx={sx} />;
    case 'number':
      return <NumberInput key={col.source} source={name} label={label} validate={validate} helperText={false} sx={sx} />;
    case 'boolean':
      return <BooleanInput key={col.source} source={name} label={label} helperText={false} sx={{ ...sx, mt: 1 }} />;
    case 'json':
      return <TextInput key={col.source} source={name} label={label} {...jsonFormat} validate={[...validate, isJson]} multiline helperText={false} sx={{ ...sx, '& textarea': { fontFamily: 'monospace', fontSize: 13 } }} />;
    default:
      return <TextInput key={col.source} source={name} label={label} validate={validate} helperText={false} sx={sx} />;
  }
}

/** The sums of some columns of a row editor as they are typed (a journal entry's debits and credits). */
function Totals({ source, columns }: { source: string; columns: string[] }) {
  const rows = (useWatch({ name: source }) ?? []) as Record<string, unknown>[];
  const sums = columns.map((c) => [c, rows.reduce((sum, r) => sum + (Number(r?.[c]) || 0), 0)] as const);
  const balanced = sums.length === 2 && Math.abs(sums[0]![1] - sums[1]![1]) < 0.005;
  return (
    <Typography variant="body2" color={sums.length === 2 && !balanced ? 'error' : 'text.secondary'} data-testid={`totals-${source}`}>
      {sums.map(([c, v]) => `${c} ${v.toFixed(2)}`).join(' · ')}
      {sums.length === 2 ? (balanced ? ' · balanced' : ` · off by ${Math.abs(sums[0]![1] - sums[1]![1]).toFixed(2)}`) : null}
    </Typography>
  );
}

/**
 * Rows of inputs that can be added and removed (automation actions, journal lines, form fields), over
 * react-hook-form's useFieldArray (the form react-admin runs). Each cell is an ordinary react-admin
 * input named `<source>.<index>.<column>`, so validation and the form's value work as for any input.
 */
function RowsInput({ field }: { field: FieldSpec }) {
  const { fields, append, remove } = useFieldArray({ name: field.source });
  const label = field.label ?? field.source;
  return (
    <Box sx={{ width: '100%', my: 1 }} data-testid={`rows-${field.source}`}>
      <Typography variant="subtitle1">{label}</Typography>
      {field.helperText ? (
        <Typography variant="caption" color="text.secondary" component="p" sx={{ mb: 1 }}>
          {field.helperText}
        </Typography>
      ) : null}
      {fields.length === 0 ? (
        <Typography variant="body2" color="text.secondary">
          No rows.
        </Typography>
      ) : null}
      {fields.map((row, i) => (
        <Stack key={row.id} direction="row" spacing={1} sx={{ alignItems: 'flex-start', flexWrap: 'wrap' }} data-testid={`row-${field.source}`}>
          <Typography variant="body2" sx={{ pt: 2, width: 20 }}>
            {i + 1}
          </Typography>
          {(field.columns ?? []).map((col) => cellInput(`${field.source}.${i}.${col.source}`, col))}
          <Tooltip title="Remove this row">
            <IconButton aria-label={`Remove row ${i + 1}`} onClick={() => remove(i)} sx={{ mt: 1 }}>
              <Delete />
            </IconButton>
          </Tooltip>
        </Stack>
      ))}
      <Stack direction="row" spacing={2} sx={{ alignItems: 'center' }}>
        <MuiButton size="small" startIcon={<Add />} onClick={() => append(structuredClone(field.newRow ?? {}))}>
          Add row
        </MuiButton>
        {field.totals ? <Totals source={field.source} columns={field.totals} /> : null}
      </Stack>
    </Box>
  );
}

function fieldInput(f: FieldSpec) {
  const common = { key: f.source, source: f.source, label: f.label ?? f.source, helperText: f.helperText, defaultValue: f.defaultValue };
  const validate = f.required ? [required()] : [];
  switch (f.kind) {
    case 'rows':
      return <RowsInput key={f.source} field={f} />;
    case 'multiline':
      return <TextInput {...common} validate={validate} multiline minRows={6} fullWidth sx={{ fontFamily: 'monospace' }} />;
    case 'json':
      return <TextInput {...common} {...jsonFormat} validate={[...validate, isJson]} multiline minRows={3} fullWidth />;
    case 'select':
      return <SelectInput {...common} validate={validate} choices={(f.choices ?? []).map((id) => ({ id, name: id }))} />;
    case 'boolean':
      return <BooleanInput {...common} />;
    case 'number':
      return <NumberInput {...common} validate={validate} />;
    default:
      return <TextInput {...common} validate={validate} type={f.writeOnly ? 'password' : undefined} autoComplete={f.writeOnly ? 'new-password' : undefined} />;
  }
}

/** Row editors take their first rows from the form's defaults (useFieldArray has no default of its own). */
const rowDefaults = (fields: FieldSpec[]) => Object.fromEntries(fields.filter((f) => f.kind === 'rows' && f.defaultValue !== undefined).map((f) => [f.source, f.defaultValue]));

export const ModuleCreate = ({ resource }: { resource: string }) => {
  const def = MODULES[resource]!;
  const fields = def.create?.fields ?? [];
  return (
    <ConsoleCreate resource={resource} title={`New: ${def.label}`} redirect={def.getOne ? 'show' : 'list'}>
      <SimpleForm defaultValues={rowDefaults(fields)}>{fields.map(fieldInput)}</SimpleForm>
    </ConsoleCreate>
  );
};

/** The create form's fields on the stored record; only what changed is sent (PATCH), a secret only when typed. */
export const ModuleEdit = ({ resource }: { resource: string }) => {
  const def = MODULES[resource]!;
  return (
    <ConsoleEdit resource={resource} title={`Edit: ${def.label}`} redirect={def.getOne ? 'show' : 'list'} actions={false}>
      <SimpleForm
        toolbar={
          <Toolbar>
            <SaveButton />
            {def.delete ? <DeleteButton mutationMode="pessimistic" sx={{ ml: 'auto' }} /> : null}
          </Toolbar>
        }
      >
        {editFields(def).map((f) => fieldInput({ ...f, defaultValue: undefined }))}
      </SimpleForm>
    </ConsoleEdit>
  );
};

// ------------------------------------------------------------------ detail

function Json({ value }: { value: unknown }) {
  return <pre style={{ background: '#f5f5f5', padding: 12, maxHeight: 420, overflow: 'auto', fontSize: 12, margin: 0 }}>{JSON.stringify(value, null, 2)}</pre>;
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Card variant="outlined" sx={{ mt: 2 }}>
      <CardContent>
        <Typography variant="h6" gutterBottom>
          {title}
        </Typography>
        {children}
      </CardContent>
    </Card>
  );
}

/** Rows fetched by a screen, shown in a react-admin Datagrid (sorting and paging in memory). */
function Rows({ rows, children, empty = 'Nothing yet.' }: { rows: Record<string, unknown>[]; children: ReactNode; empty?: string }) {
  const list = useList({ data: rows.map((r, i) => ({ id: (r.id as string) ?? i, ...r })), perPage: 50 });
  if (rows.length === 0) return <Typography variant="body2">{empty}</Typography>;
  return (
    <ListContextProvider value={list}>
      <Datagrid resource="console-rows" bulkActionButtons={false} rowClick={false}>
        {children}
      </Datagrid>
    </ListContextProvider>
  );
}

/** Runs a module call from a button, showing its answer or the API's refusal. */
function useAction<T>() {
  const [result, setResult] = useState<T>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const run = async (fn: () => Promise<T>) => {
    setBusy(true);
    setError(undefined);
    try {
      setResult(await fn());
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { result, error, busy, run };
}

function AutomationPanel() {
  const record = useRecordContext();
  const [runs, setRuns] = useState<Record<string, unknown>[]>([]);
  const [error, setError] = useState<unknown>();
  const trigger = useAction<unknown>();
  const id = String(record?.id ?? '');
  const load = async () => {
    try {
      setRuns((await api((c) => c.automations.automationsRunsList({ automationId: id }))).runs as never);
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => {
    if (id) void load();
  }, [id]); // eslint-disable-line react-hooks/exhaustive-deps
  if (!record) return null;
  return (
    <Section title="Runs">
      {can('write') ? (
        <MuiButton variant="outlined" disabled={trigger.busy} onClick={() => trigger.run(async () => { const r = await api((c) => c.automations.automationsTriggerCreate({ automationId: id }, { data: {} })); setTimeout(load, 1000); return r; })}>
          Trigger now
        </MuiButton>
      ) : null}
      <ErrorBox error={trigger.error ?? error} />
      {trigger.result ? <Typography variant="body2" data-testid="trigger-result">Queued run {(trigger.result as { run_id: string }).run_id}</Typography> : null}
      <Rows rows={runs} empty="No runs yet.">
        <TextField source="id" />
        <TextField source="trigger" />
        <TextField source="status" />
        <DateField source="created_at" showTime />
      </Rows>
    </Section>
  );
}

function FunctionPanel() {
  const record = useRecordContext();
  const [input, setInput] = useState('{}');
  const [logs, setLogs] = useState<Record<string, unknown>[]>([]);
  const [error, setError] = useState<unknown>();
  const exec = useAction<{ output?: unknown; duration_ms: number; status: string }>();
  const id = String(record?.id ?? '');
  const loadLogs = async () => {
    try {
      setLogs((await api((c) => c.functions.functionsLogsList({ functionId: id }))) as never);
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => {
    if (id) void loadLogs();
  }, [id]); // eslint-disable-line react-hooks/exhaustive-deps
  if (!record) return null;
  return (
    <>
      <Section title="Code">
        <pre style={{ background: '#f5f5f5', padding: 12, maxHeight: 300, overflow: 'auto', fontSize: 12, margin: 0 }}>{String(record.code ?? '')}</pre>
      </Section>
      {can('write') ? (
        <Section title="Execute">
          <Stack direction="row" spacing={2} sx={{ alignItems: 'flex-start' }}>
            <MuiTextField label="Input (JSON)" value={input} onChange={(e) => setInput(e.target.value)} multiline minRows={2} sx={{ flex: 1 }} slotProps={{ htmlInput: { 'data-testid': 'function-input' } }} />
            <MuiButton
              variant="contained"
              disabled={exec.busy}
              onClick={() =>
                exec.run(async () => {
                  let parsed: unknown;
                  try {
                    parsed = JSON.parse(input || 'null');
                  } catch {
                    throw new Error('The input is not valid JSON');
                  }
                  const out = await api((c) => c.functions.functionsExecuteCreate({ functionId: id }, { input: parsed }));
                  void loadLogs();
                  return out;
                })
              }
            >
              Execute
            </MuiButton>
          </Stack>
          <ErrorBox error={exec.error} title="Execution failed" />
          {exec.result ? (
            <Box sx={{ mt: 1 }} data-testid="function-output">
              <Typography variant="body2">
                {exec.result.status} in {exec.result.duration_ms} ms
              </Typography>
              <Json value={exec.result.output} />
            </Box>
          ) : null}
        </Section>
      ) : null}
      <Section title="Logs">
        <ErrorBox error={error} />
        <Rows rows={logs} empty="No logs yet.">
          <DateField source="created_at" showTime />
          <TextField source="level" />
          <TextField source="message" />
          <TextField source="invocation_id" />
        </Rows>
      </Section>
    </>
  );
}

function ScheduledJobPanel() {
  const record = useRecordContext();
  const exec = useAction<unknown>();
  if (!record || !can('write')) return null;
  return (
    <Section title="Run">
      <MuiButton variant="outlined" disabled={exec.busy} onClick={() => exec.run(() => api((c) => c.scheduledJobs.scheduledJobsExecuteCreate({ jobId: String(record.id) })))}>
        Execute now
      </MuiButton>
      <ErrorBox error={exec.error} />
      {exec.result ? <Json value={exec.result} /> : null}
    </Section>
  );
}

function SavedReportPanel() {
  const record = useRecordContext();
  const exec = useAction<unknown>();
  if (!record) return null;
  return (
    <Section title="Run">
      <MuiButton variant="outlined" disabled={exec.busy} onClick={() => exec.run(() => api((c) => c.savedReports.savedReportsRunCreate({ reportId: String(record.id) })))}>
        Run report
      </MuiButton>
      <ErrorBox error={exec.error} />
      {exec.result ? <Json value={exec.result} /> : null}
    </Section>
  );
}

function JournalEntryPanel() {
  const record = useRecordContext();
  const exec = useAction<unknown>();
  const refresh = useRefresh();
  if (!record || !can('write') || record.status !== 'draft') return null;
  return (
    <Section title="Post">
      <MuiButton variant="outlined" disabled={exec.busy} onClick={() => exec.run(async () => { const r = await api((c) => c.accounting.accountingJournalEntriesPostCreate({ entryId: String(record.id) })); refresh(); return r; })}>
        Post entry
      </MuiButton>
      <ErrorBox error={exec.error} />
    </Section>
  );
}

function FormPanel() {
  const record = useRecordContext();
  const [rows, setRows] = useState<Record<string, unknown>[]>([]);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    if (!record?.id) return;
    api((c) => c.forms.formsSubmissionsList({ formId: String(record.id) } as never))
      .then((d) => setRows(Array.isArray(d) ? (d as never) : ((Object.values(d as object).find(Array.isArray) ?? []) as never)))
      .catch(setError);
  }, [record?.id]);
  if (!record) return null;
  return (
    <Section title="Submissions">
      <ErrorBox error={error} />
      <Rows rows={rows} empty="No submissions yet.">
        <TextField source="id" />
        <FunctionField label="data" render={(r: Record<string, unknown>) => cell(r.data ?? r.values)} />
        <DateField source="created_at" showTime />
      </Rows>
    </Section>
  );
}

const WIDGET_TYPES = ['number', 'line', 'bar', 'area', 'pie', 'table', 'funnel', 'leaderboard', 'pipeline', 'text'];
type Widget = { id: string; type: string; title: string | null; config_json: Record<string, unknown>; position_json: Record<string, unknown> };

/** A widget's fields as typed: JSON kept as text until saved, so a half-typed object is not lost. */
function WidgetForm({ widget, testId, onSave, onCancel }: { widget?: Widget; testId: string; onSave: (body: Record<string, unknown>) => Promise<void>; onCancel?: () => void }) {
  const [type, setType] = useState(widget?.type ?? 'text');
  const [title, setTitle] = useState(widget?.title ?? '');
  const [config, setConfig] = useState(JSON.stringify(widget?.config_json ?? { text: '' }));
  const [position, setPosition] = useState(JSON.stringify(widget?.position_json ?? {}));
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const save = async () => {
    setError(undefined);
    let next: Record<string, unknown>;
    try {
      next = { type, title: title || null, config_json: JSON.parse(config || '{}'), position_json: JSON.parse(position || '{}') };
    } catch (err) {
      setError(new Error(`Not valid JSON: ${(err as Error).message}`));
      return;
    }
    // On an edit only what changed is sent: the server re-runs the report check only when the config or type moved.
    const body = widget ? Object.fromEntries(Object.entries(next).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(widget[k as keyof Widget]))) : next;
    setBusy(true);
    try {
      await onSave(body);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Box data-testid={testId} sx={{ my: 1 }}>
      <Stack direction="row" sx={{ flexWrap: 'wrap', gap: 1, alignItems: 'flex-start' }}>
        <MuiTextField select size="small" label="Type" value={type} onChange={(e) => setType(e.target.value)} slotProps={{ select: { native: true }, htmlInput: { 'data-testid': 'widget-type' } }} sx={{ width: 150 }}>
          {WIDGET_TYPES.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </MuiTextField>
        <MuiTextField size="small" label="Title" value={title} onChange={(e) => setTitle(e.target.value)} slotProps={{ htmlInput: { 'data-testid': 'widget-title' } }} />
        <MuiTextField
          size="small"
          label="Config (JSON)"
          value={config}
          onChange={(e) => setConfig(e.target.value)}
          multiline
          sx={{ minWidth: 380, flex: 1 }}
          helperText='{"text":"…"} for text; {"report":"pipeline","query":{…}} or {"saved_report_id":"…"}'
          slotProps={{ htmlInput: { 'data-testid': 'widget-config' } }}
        />
        <MuiTextField size="small" label="Position (JSON)" value={position} onChange={(e) => setPosition(e.target.value)} sx={{ width: 220 }} helperText='e.g. {"x":0,"y":0,"w":4,"h":2}' slotProps={{ htmlInput: { 'data-testid': 'widget-position' } }} />
        <MuiButton variant="contained" disabled={busy} onClick={save}>
          {widget ? 'Save widget' : 'Add widget'}
        </MuiButton>
        {onCancel ? <MuiButton onClick={onCancel}>Cancel</MuiButton> : null}
      </Stack>
      <ErrorBox error={error} title="The API refused the widget" />
    </Box>
  );
}

function WidgetRow({ dashboardId, widget, onChanged }: { dashboardId: string; widget: Widget; onChanged: () => void }) {
  const [editing, setEditing] = useState(false);
  const [error, setError] = useState<unknown>();
  if (editing) {
    return (
      <WidgetForm
        widget={widget}
        testId={`widget-editor-${widget.id}`}
        onCancel={() => setEditing(false)}
        onSave={async (body) => {
          if (Object.keys(body).length) await api((c) => c.dashboards.dashboardsWidgetsPartialUpdate({ dashboardId, widgetId: widget.id }, body as never));
          setEditing(false);
          onChanged();
        }}
      />
    );
  }
  return (
    <Box data-testid="widget" sx={{ borderBottom: '1px solid #eee', py: 1 }}>
      <Stack direction="row" spacing={2} sx={{ alignItems: 'center' }}>
        <Chip size="small" label={widget.type} />
        <Typography sx={{ minWidth: 160 }}>{widget.title ?? '(untitled)'}</Typography>
        <Typography variant="body2" sx={{ fontFamily: 'monospace', flex: 1 }}>
          {cell(widget.config_json)} {Object.keys(widget.position_json ?? {}).length ? `@ ${cell(widget.position_json)}` : ''}
        </Typography>
        {can('write') ? (
          <>
            <MuiButton size="small" onClick={() => setEditing(true)}>
              Edit
            </MuiButton>
            <MuiButton
              size="small"
              color="error"
              onClick={async () => {
                if (!window.confirm(`Delete widget ${widget.title ?? widget.type}?`)) return;
                setError(undefined);
                try {
                  await api((c) => c.dashboards.dashboardsWidgetsDelete({ dashboardId, widgetId: widget.id }));
                  onChanged();
                } catch (err) {
                  setError(err);
                }
              }}
            >
              Delete
            </MuiButton>
          </>
        ) : null}
      </Stack>
      <ErrorBox error={error} />
    </Box>
  );
}

/** A dashboard's widgets: listed, edited in place, deleted, and added below. */
function DashboardPanel() {
  const record = useRecordContext();
  const refresh = useRefresh();
  const [formKey, setFormKey] = useState(0);
  if (!record) return null;
  const widgets = (record.widgets ?? []) as Widget[];
  const dashboardId = String(record.id);
  return (
    <Section title={`Widgets (${widgets.length})`}>
      {widgets.length === 0 ? <Typography variant="body2">No widgets yet.</Typography> : null}
      {widgets.map((w) => (
        <WidgetRow key={w.id} dashboardId={dashboardId} widget={w} onChanged={refresh} />
      ))}
      {can('write') ? (
        <Typography variant="subtitle2" sx={{ mt: 2 }}>
          New widget
        </Typography>
      ) : null}
      {can('write') ? (
        <WidgetForm
          key={formKey}
          testId="widget-new"
          onSave={async (body) => {
            await api((c) => c.dashboards.dashboardsWidgetsCreate({ dashboardId }, body as never));
            setFormKey((k) => k + 1);
            refresh();
          }}
        />
      ) : null}
    </Section>
  );
}

const PANELS: Record<string, () => ReactNode> = {
  dashboards: DashboardPanel,
  automations: AutomationPanel,
  functions: FunctionPanel,
  'scheduled-jobs': ScheduledJobPanel,
  'saved-reports': SavedReportPanel,
  'accounting-journal-entries': JournalEntryPanel,
  forms: FormPanel,
};

function Detail({ resource }: { resource: string }) {
  const record = useRecordContext();
  const Panel = PANELS[resource];
  if (!record) return null;
  const { code: _code, ...rest } = record as Record<string, unknown>;
  return (
    <Box sx={{ p: 2 }} data-testid="module-detail">
      <Typography variant="h5">{String(record.name ?? record.title ?? record.code ?? record.id)}</Typography>
      <Stack direction="row" spacing={1} sx={{ my: 1, flexWrap: 'wrap' }}>
        {['status', 'type', 'trigger_type', 'trigger_event', 'provider_type', 'enabled'].filter((k) => k in record).map((k) => (
          <Chip key={k} size="small" label={`${k}: ${String(record[k])}`} />
        ))}
      </Stack>
      {Panel ? <Panel /> : null}
      <Section title="Record">
        <Json value={rest} />
      </Section>
    </Box>
  );
}

export const ModuleShow = ({ resource }: { resource: string }) => (
  <ConsoleShow
    resource={resource}
    title={MODULES[resource]?.label}
    actions={MODULES[resource]?.update && can(writeScopeOf(resource)) ? <TopToolbar><RowEditButton resource={resource} /></TopToolbar> : false}
  >
    <Detail resource={resource} />
  </ConsoleShow>
);

// ------------------------------------------------------------------ pages

/** Loads once on mount; `reload` runs it again. */
function useLoad<T>(fn: () => Promise<T>) {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setError(undefined);
    fn().then((d) => live && setData(d), (e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [tick]); // eslint-disable-line react-hooks/exhaustive-deps
  return { data, error, reload: () => setTick((t) => t + 1) };
}

export function AiUsagePage() {
  const { data, error } = useLoad(() => api((c) => c.aiUsage.aiUsageList()));
  const byDay = new Map<string, number>();
  for (const d of data?.daily ?? []) byDay.set(d.day, (byDay.get(d.day) ?? 0) + d.tokens_in + d.tokens_out);
  return (
    <Box sx={{ p: 2 }}>
      <Title title="AI usage" />
      <ErrorBox error={error} title="The API refused AI usage" />
      {data ? (
        <>
          <Typography>
            {data.from.slice(0, 10)} – {data.to.slice(0, 10)}: {data.requests} requests, {data.total_tokens} tokens ({data.tokens_in} in, {data.tokens_out} out). Quota ({data.quota.period}): {data.quota.used} of {data.quota.limit} used.
          </Typography>
          <LinePlot title="Tokens per day" points={[...byDay].sort().map(([day, v]) => ({ label: day, value: v }))} />
          <Rows rows={data.daily as never} empty="No AI calls in this period.">
            <TextField source="day" />
            <TextField source="provider" />
            <TextField source="model" />
            <NumberField source="requests" />
            <NumberField source="tokens_in" />
            <NumberField source="tokens_out" />
          </Rows>
        </>
      ) : null}
    </Box>
  );
}

export function TrialBalancePage() {
  const [asOf, setAsOf] = useState('');
  const { data, error, reload } = useLoad(() => api((c) => c.accounting.accountingReportsTrialBalanceList((asOf ? { as_of: asOf } : {}) as never)));
  return (
    <Box sx={{ p: 2 }} data-testid="trial-balance">
      <Title title="Trial balance" />
      <Stack direction="row" spacing={2} sx={{ mb: 2 }}>
        <MuiTextField size="small" label="As of (YYYY-MM-DD)" value={asOf} onChange={(e) => setAsOf(e.target.value)} />
        <MuiButton variant="outlined" onClick={reload}>
          Refresh
        </MuiButton>
      </Stack>
      <ErrorBox error={error} title="The API refused the report" />
      {data ? (
        <>
          <Typography gutterBottom>
            As of {data.as_of} · {data.currency}
          </Typography>
          <Rows rows={data.accounts.map((a) => ({ ...a, id: a.account_id })) as never} empty="No postings yet.">
            <TextField source="code" />
            <TextField source="name" />
            <TextField source="type" />
            <TextField source="debit" />
            <TextField source="credit" />
            <TextField source="balance" />
          </Rows>
          <Typography sx={{ mt: 1 }}>
            Totals: debit {String((data as { total_debit?: string }).total_debit ?? '')} · credit {String((data as { total_credit?: string }).total_credit ?? '')}
          </Typography>
        </>
      ) : null}
    </Box>
  );
}

export function BillingPage() {
  const tenantId = loadSession()?.tenant?.id ?? '';
  const usage = useLoad(() => api((c) => c.billing.billingUsageList()));
  const plans = useLoad(() => serviceApi((c) => c.billing.v1BillingPlansList()));
  const sub = useLoad(() => serviceApi((c) => c.billing.v1BillingTenantsSubscriptionList({ tenantId })));
  return (
    <Box sx={{ p: 2 }} data-testid="billing">
      <Title title="Billing" />
      <Section title="Subscription">
        {sub.error ? <ErrorBox error={sub.error} title="No subscription" /> : null}
        {sub.data ? (
          <Typography>
            Plan <strong>{sub.data.plan_code}</strong> · {sub.data.status} · period {sub.data.current_period_start ?? '—'} – {sub.data.current_period_end ?? '—'}
          </Typography>
        ) : null}
      </Section>
      <Section title="Usage this period">
        <ErrorBox error={usage.error} />
        {usage.data ? (
          <>
            <Typography variant="body2">
              Plan {usage.data.plan_code} · {usage.data.period_start.slice(0, 10)} – {usage.data.period_end.slice(0, 10)}
            </Typography>
            <Rows rows={usage.data.features.map((f) => ({ ...f, id: f.feature_key })) as never} empty="No metered usage.">
              <TextField source="feature_key" label="Feature" />
              <NumberField source="quantity" />
              <NumberField source="soft_limit" emptyText="—" />
              <NumberField source="hard_limit" emptyText="—" />
            </Rows>
          </>
        ) : null}
      </Section>
      <Section title="Plans">
        <ErrorBox error={plans.error} />
        <Rows rows={(plans.data ?? []).map((p) => ({ ...p, id: p.code })) as never} empty="No plans.">
          <TextField source="code" />
          <TextField source="name" />
          <FunctionField label="Price" render={(p: { price_cents: number; currency: string; interval: string }) => `${(p.price_cents / 100).toFixed(2)} ${p.currency.toUpperCase()} / ${p.interval}`} />
          <FunctionField label="Limits" render={(p: { features: { key: string; display_name: string; hard_limit: number | null }[] }) => cell(p.features.map((f) => `${f.display_name || f.key}: ${f.hard_limit ?? '∞'}`).join(', '))} />
        </Rows>
      </Section>
    </Box>
  );
}

export function StatusPage() {
  // The page is served cacheable for 15 s (public, max-age=15): the console revalidates, so an incident it
  // just opened or updated shows at once.
  const status = useLoad(() => serviceApi((c) => c.status.v1StatusList({ cache: 'no-cache' })));
  const admin = Boolean(loadSession()?.adminKey);
  const [title, setTitle] = useState('');
  const [message, setMessage] = useState('');
  const create = useAction<unknown>();
  // An incident is changed by posting an update (its new state and a message); the contract has no PATCH.
  const [incident, setIncident] = useState('');
  const [state, setState] = useState('monitoring');
  const [note, setNote] = useState('');
  const post = useAction<unknown>();
  const open = (status.data?.incidents ?? []).filter((i) => !i.resolved_at);
  return (
    <Box sx={{ p: 2 }} data-testid="status-page">
      <Title title="Status page" />
      <ErrorBox error={status.error} title="The status page did not answer" />
      {status.data ? (
        <>
          <Typography variant="h6">{status.data.overview.description}</Typography>
          <Section title="Components">
            <Rows rows={status.data.services as never}>
              <TextField source="name" />
              <TextField source="status" />
              <FunctionField label="Uptime" render={(s: { uptime_percent: number | null }) => (s.uptime_percent === null ? '—' : `${s.uptime_percent.toFixed(2)} %`)} />
              <DateField source="last_checked_at" showTime emptyText="—" />
            </Rows>
          </Section>
          <Section title="Incidents">
            <Rows rows={status.data.incidents.map((i) => ({ ...i, id: i.incident_id })) as never} empty="No incidents in the last 14 days.">
              <TextField source="impact" label="Title" />
              <TextField source="severity" />
              <TextField source="state" />
              <DateField source="occurred_at" showTime />
              <DateField source="resolved_at" showTime emptyText="—" />
            </Rows>
          </Section>
        </>
      ) : null}
      {admin ? (
        <Section title="Open an incident (system admin)">
          <Stack spacing={2} sx={{ maxWidth: 600 }}>
            <MuiTextField size="small" label="Title" value={title} onChange={(e) => setTitle(e.target.value)} />
            <MuiTextField size="small" label="Message" value={message} onChange={(e) => setMessage(e.target.value)} multiline minRows={2} />
            <MuiButton
              variant="contained"
              disabled={create.busy}
              onClick={() =>
                create.run(async () => {
                  const r = await serviceApi((c) => c.status.v1StatusIncidentsCreate({ title, message, severity: 'minor' }), true);
                  status.reload();
                  return r;
                })
              }
            >
              Open incident
            </MuiButton>
            <ErrorBox error={create.error} />
          </Stack>
        </Section>
      ) : null}
      {admin && open.length > 0 ? (
        <Section title="Update an incident (system admin)">
          <Stack spacing={2} sx={{ maxWidth: 600 }}>
            <MuiTextField select size="small" label="Incident" value={incident} onChange={(e) => setIncident(e.target.value)} slotProps={{ select: { native: true }, inputLabel: { shrink: true } }}>
              <option value="" />
              {open.map((i) => (
                <option key={i.incident_id} value={i.incident_id}>
                  {i.impact} ({i.state})
                </option>
              ))}
            </MuiTextField>
            <MuiTextField select size="small" label="New state" value={state} onChange={(e) => setState(e.target.value)} slotProps={{ select: { native: true } }}>
              {['investigating', 'identified', 'monitoring', 'resolved'].map((v) => (
                <option key={v} value={v}>
                  {v}
                </option>
              ))}
            </MuiTextField>
            <MuiTextField size="small" label="Message" value={note} onChange={(e) => setNote(e.target.value)} multiline minRows={2} />
            <MuiButton
              variant="contained"
              disabled={post.busy || !incident}
              onClick={() =>
                post.run(async () => {
                  const r = await serviceApi((c) => c.status.v1StatusIncidentsUpdatesCreate({ incidentId: incident }, { state: state as never, message: note }), true);
                  status.reload();
                  return r;
                })
              }
            >
              Post update
            </MuiButton>
            <ErrorBox error={post.error} />
          </Stack>
        </Section>
      ) : null}
    </Box>
  );
}
