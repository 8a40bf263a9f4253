// Import and export of a type's records (POST /v1/data/import?async=true, POST /v1/data/export): the
// job is queued, its progress polled and shown as a bar, row errors listed, the export downloaded.
import { useEffect, useRef, useState } from 'react';
import { Box, Button as MuiButton, Card, CardContent, LinearProgress, MenuItem, Stack, TextField as MuiTextField, Typography } from '@mui/material';
import { Datagrid, FunctionField, ListContextProvider, NumberField, TextField, Title, useGetList, useList } from 'react-admin';
import type { DataExport, DataImport } from '../../../sdk/platform/index.ts';
import { api, apiRaw, can } from '../session.ts';
import { ErrorBox, formatBytes } from '../ui.tsx';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function Progress({ job }: { job: { status: string; processed: number; total: number } }) {
  const percent = job.total > 0 ? (job.processed / job.total) * 100 : job.status === 'completed' ? 100 : 0;
  return (
    <Box sx={{ mt: 2 }}>
      <LinearProgress variant={job.status === 'queued' ? 'indeterminate' : 'determinate'} value={percent} />
      <Typography variant="caption" data-testid="job-progress">
        {job.status}: {job.processed} of {job.total} rows ({Math.round(percent)} %)
      </Typography>
    </Box>
  );
}

function TypeSelect({ value, onChange, testId }: { value: string; onChange: (v: string) => void; testId: string }) {
  const { data, error } = useGetList('object-types', { pagination: { page: 1, perPage: 100 }, sort: { field: 'name', order: 'ASC' } });
  return (
    <>
      <MuiTextField select size="small" label="Object type" value={value} onChange={(e) => onChange(e.target.value)} sx={{ minWidth: 220 }} slotProps={{ htmlInput: { 'data-testid': testId } }}>
        {(data ?? []).map((t) => (
          <MenuItem key={t.id} value={t.name}>
            {t.display_name ?? t.name}
          </MenuItem>
        ))}
      </MuiTextField>
      <ErrorBox error={error} />
    </>
  );
}

function RowErrors({ errors }: { errors: DataImport['errors'] }) {
  const list = useList({ data: errors.map((e) => ({ ...e, id: e.row })), perPage: 50 });
  if (errors.length === 0) return null;
  return (
    <ListContextProvider value={list}>
      <Datagrid resource="console-rows" bulkActionButtons={false} rowClick={false}>
        <NumberField source="row" />
        <TextField source="message" />
        <FunctionField label="Fields" render={(e: DataImport['errors'][number]) => e.errors.map((f) => `${f.field}: ${f.message}`).join('; ')} />
      </Datagrid>
    </ListContextProvider>
  );
}

function ImportCard() {
  const [type, setType] = useState('');
  const [format, setFormat] = useState<'csv' | 'json'>('csv');
  const [text, setText] = useState('');
  const [job, setJob] = useState<DataImport>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const alive = useRef(true);
  useEffect(() => () => void (alive.current = false), []);
  const start = async () => {
    setBusy(true);
    setError(undefined);
    setJob(undefined);
    try {
      let data: string | Record<string, unknown>[] = text;
      if (format === 'json') {
        try {
          data = JSON.parse(text);
        } catch (err) {
          throw new Error(`Not valid JSON: ${(err as Error).message}`);
        }
      }
      let current = (await api((c) => c.data.dataImportCreate({ async: 'true' }, { object_type_id: type, format, data }))) as unknown as DataImport;
      setJob(current);
      while (alive.current && (current.status === 'queued' || current.status === 'running')) {
        await sleep(400);
        current = await api((c) => c.data.dataImportDetail({ importId: current.import_id }));
        setJob(current);
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card variant="outlined">
      <CardContent>
        <Typography variant="h6" gutterBottom>
          Import
        </Typography>
        <Stack direction="row" spacing={2} sx={{ alignItems: 'center', mb: 2 }}>
          <TypeSelect value={type} onChange={setType} testId="import-type" />
          <MuiTextField select size="small" label="Format" value={format} onChange={(e) => setFormat(e.target.value as 'csv' | 'json')} sx={{ minWidth: 120 }}>
            <MenuItem value="csv">CSV</MenuItem>
            <MenuItem value="json">JSON</MenuItem>
          </MuiTextField>
          <MuiButton component="label" variant="outlined">
            Choose file
            <input
              hidden
              type="file"
              accept=".csv,.json,text/csv,application/json"
              data-testid="import-file"
              onChange={async (e) => {
                const file = e.target.files?.[0];
                e.target.value = '';
                if (!file) return;
                if (file.name.endsWith('.json')) setFormat('json');
                if (file.name.endsWith('.csv')) setFormat('csv');
                setText(await file.text());
              }}
            />
          </MuiButton>
        </Stack>
        <MuiTextField
          fullWidth
          multiline
          minRows={4}
          maxRows={12}
          label={format === 'csv' ? 'CSV (a header row of property names, then up to 10,000 rows)' : 'JSON array of property objects'}
          value={text}
          onChange={(e) => setText(e.target.value)}
          slotProps={{ htmlInput: { 'data-testid': 'import-text' } }}
        />
        <MuiButton sx={{ mt: 2 }} variant="contained" disabled={busy || !type || !text.trim()} onClick={start}>
          Import
        </MuiButton>
        <ErrorBox error={error} title="The import was refused" />
        {job ? (
          <Box data-testid="import-job">
            <Progress job={job} />
            {job.status === 'completed' || job.status === 'failed' ? (
              <Typography variant="body2" sx={{ mt: 1 }}>
                {job.imported} imported, {job.failed} failed{job.error ? ` · ${job.error}` : ''}
              </Typography>
            ) : null}
            <RowErrors errors={job.errors ?? []} />
          </Box>
        ) : null}
      </CardContent>
    </Card>
  );
}

function ExportCard() {
  const [type, setType] = useState('');
  const [format, setFormat] = useState<'csv' | 'json'>('csv');
  const [search, setSearch] = useState('');
  const [job, setJob] = useState<DataExport>();
  const [download, setDownload] = useState<{ url: string; name: string }>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const alive = useRef(true);
  useEffect(() => () => void (alive.current = false), []);
  const start = async () => {
    setBusy(true);
    setError(undefined);
    setJob(undefined);
    setDownload(undefined);
    try {
      let current = await api((c) => c.data.dataExportCreate({ object_type_id: type, format, search: search || undefined }));
      setJob(current);
      while (alive.current && (current.status === 'queued' || current.status === 'running')) {
        await sleep(400);
        current = await api((c) => c.data.dataExportStatusList({ exportId: current.export_id }));
        setJob(current);
      }
      if (current.status === 'completed') {
        const res = await apiRaw((c) => c.data.dataExportDetail({ exportId: current.export_id }, { format: 'blob' } as never));
        const blob = (res as unknown as { data: Blob }).data;
        setDownload({ url: URL.createObjectURL(blob), name: `${type}-${current.export_id}.${format}` });
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card variant="outlined" sx={{ mt: 2 }}>
      <CardContent>
        <Typography variant="h6" gutterBottom>
          Export
        </Typography>
        <Stack direction="row" spacing={2} sx={{ alignItems: 'center' }}>
          <TypeSelect value={type} onChange={setType} testId="export-type" />
          <MuiTextField select size="small" label="Format" value={format} onChange={(e) => setFormat(e.target.value as 'csv' | 'json')} sx={{ minWidth: 120 }}>
            <MenuItem value="csv">CSV</MenuItem>
            <MenuItem value="json">JSON</MenuItem>
          </MuiTextField>
          <MuiTextField size="small" label="Search (optional)" value={search} onChange={(e) => setSearch(e.target.value)} />
          <MuiButton variant="contained" disabled={busy || !type} onClick={start}>
            Export
          </MuiButton>
        </Stack>
        <ErrorBox error={error} title="The export was refused" />
        {job ? (
          <Box data-testid="export-job">
            <Progress job={job} />
            {job.status === 'completed' ? (
              <Typography variant="body2" sx={{ mt: 1 }}>
                {job.record_count} records, {formatBytes(job.bytes)}
                {job.expires_at ? ` · kept until ${job.expires_at}` : ''}
              </Typography>
            ) : null}
            {job.error ? <Typography color="error">{job.error}</Typography> : null}
          </Box>
        ) : null}
        {download ? (
          <MuiButton sx={{ mt: 1 }} href={download.url} download={download.name} data-testid="export-download">
            Download {download.name}
          </MuiButton>
        ) : null}
      </CardContent>
    </Card>
  );
}

export function DataImportExport() {
  return (
    <Box sx={{ p: 2 }}>
      <Title title="Import / export" />
      {can('write') ? <ImportCard /> : <Typography sx={{ mb: 2 }}>Importing needs the write scope.</Typography>}
      <ExportCard />
    </Box>
  );
}
