import { useEffect, useState } from 'react';
import { Box, Button as MuiButton, Card, CardContent, LinearProgress, MenuItem, Stack, TextField as MuiTextField, Typography } from '@mui/material';
import CloudUpload from '@mui/icons-material/CloudUpload';
import {
  Datagrid,
  NumberField,
  SimpleForm,
  required,
  useCreate,
  useGetList,
  DateField,
  DeleteButton,
  FunctionField,
  SelectInput,
  TextField,
  TextInput,
  useNotify,
  useRefresh,
} from 'react-admin';
import { useParams } from 'react-router-dom';
import { api, can } from '../session.ts';
import { ConsoleList, CopyButton, ErrorBox, IfCan, formatBytes } from '../ui.tsx';

/**
 * fetch() reports no upload progress; XMLHttpRequest does. This fetch-shaped function lets the SDK's
 * upload call run over XHR and tell the progress bar how far it got.
 */
function progressFetch(onProgress: (fraction: number) => void): typeof fetch {
  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(init?.method ?? 'GET', String(input));
      for (const [name, value] of Object.entries((init?.headers ?? {}) as Record<string, string>)) xhr.setRequestHeader(name, value);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
      xhr.onload = () => {
        const headers = new Headers();
        for (const line of xhr.getAllResponseHeaders().trim().split(/\r?\n/)) {
          const at = line.indexOf(':');
          if (at > 0) headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
        }
        resolve(new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText, headers }));
      };
      xhr.onerror = () => reject(new TypeError('The upload failed: network error'));
      xhr.send(init?.body as XMLHttpRequestBodyInit);
    });
}

function Upload() {
  const [progress, setProgress] = useState<number>();
  const [folder, setFolder] = useState('');
  const [error, setError] = useState<unknown>();
  const notify = useNotify();
  const refresh = useRefresh();
  return (
    <Card variant="outlined" sx={{ mb: 2 }}>
      <CardContent>
        <Stack direction="row" spacing={2} sx={{ alignItems: 'center' }}>
          <MuiTextField size="small" label="Folder" value={folder} onChange={(e) => setFolder(e.target.value)} placeholder="invoices/2026" />
          <MuiButton variant="contained" component="label" startIcon={<CloudUpload />}>
            Upload file
            <input
              hidden
              type="file"
              data-testid="file-input"
              onChange={async (e) => {
                const file = e.target.files?.[0];
                e.target.value = '';
                if (!file) return;
                setError(undefined);
                setProgress(0);
                try {
                  const uploaded = await api((c) => c.files.filesUploadCreate({ file, filename: file.name, ...(folder ? { folder } : {}) } as never), progressFetch(setProgress));
                  notify(`Uploaded ${uploaded.filename}`);
                  refresh();
                } catch (err) {
                  setError(err);
                } finally {
                  setProgress(undefined);
                }
              }}
            />
          </MuiButton>
          <Box sx={{ flex: 1 }}>
            {progress !== undefined ? (
              <>
                <LinearProgress variant="determinate" value={progress * 100} data-testid="upload-progress" />
                <Typography variant="caption">{Math.round(progress * 100)} %</Typography>
              </>
            ) : null}
          </Box>
        </Stack>
        <ErrorBox error={error} title="Upload refused" />
      </CardContent>
    </Card>
  );
}

const filters = [
  <TextInput key="q" source="q" label="File name" alwaysOn />,
  <TextInput key="folder" source="folder" />,
  <SelectInput key="mime" source="mime_category" choices={['image', 'video', 'audio', 'document', 'spreadsheet', 'text', 'archive', 'other'].map((id) => ({ id, name: id }))} />,
];

export const FileList = () => (
  <>
    <ConsoleList filters={filters} sort={{ field: 'created_at', order: 'DESC' }} actions={false} empty={false} title="Files">
      <IfCan scope="files">
        <Box sx={{ p: 2, pb: 0 }}>
          <Upload />
        </Box>
      </IfCan>
      <Datagrid rowClick={(id) => `/files/${id}/show`} bulkActionButtons={false}>
        <TextField source="filename" />
        <TextField source="folder" emptyText="/" />
        <TextField source="mime_type" />
        <FunctionField source="size_bytes" label="Size" render={(r: { size_bytes: number }) => formatBytes(r.size_bytes)} />
        <TextField source="status" />
        <DateField source="created_at" showTime />
        <IfCan scope="files">
          <DeleteButton mutationMode="pessimistic" redirect={false} />
        </IfCan>
      </Datagrid>
    </ConsoleList>
  </>
);

interface FileMeta {
  id: string;
  filename: string;
  folder: string | null;
  mime_type: string;
  mime_category: string;
  size_bytes: number;
  version: number;
  created_at: string;
  tags: string[];
}

const absolute = (url: string) => new URL(url, window.location.origin).toString();

/** A file: its metadata, a preview (images and text) through a signed link, and a signed link to share. */
export function FileShow() {
  const { id = '' } = useParams();
  const [file, setFile] = useState<FileMeta>();
  const [preview, setPreview] = useState<{ url: string; text?: string }>();
  const [link, setLink] = useState<{ url: string; expires_at: string }>();
  const [ttl, setTtl] = useState(3600);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    (async () => {
      try {
        const meta = (await api((c) => c.files.filesDetail({ fileId: id }))) as unknown as FileMeta;
        setFile(meta);
        if (meta.mime_category === 'image' || meta.mime_type.startsWith('text/') || meta.mime_type === 'application/json') {
          const signed = await api((c) => c.files.filesSignedUrlCreate({ fileId: id }, { expires_in: 300, disposition: 'inline' }));
          const url = absolute(signed.url);
          const text = meta.mime_category === 'image' ? undefined : (await (await fetch(url)).text()).slice(0, 20_000);
          setPreview({ url, text });
        }
      } catch (err) {
        setError(err);
      }
    })();
  }, [id]);
  if (error && !file) return <ErrorBox error={error} title="The API refused the file" />;
  if (!file) return <Typography sx={{ p: 2 }}>Loading…</Typography>;
  return (
    <Box sx={{ p: 2 }}>
      <Typography variant="h5">{file.filename}</Typography>
      <Typography color="text.secondary">
        {file.id} · {file.mime_type} · {formatBytes(file.size_bytes)} · version {file.version} · folder {file.folder ?? '/'} · {file.created_at}
      </Typography>
      <ErrorBox error={error} />
      <Box sx={{ my: 2 }} data-testid="file-preview">
        {preview && !preview.text ? <img src={preview.url} alt={file.filename} style={{ maxWidth: '100%', maxHeight: 400 }} /> : null}
        {preview?.text !== undefined ? <pre style={{ background: '#f5f5f5', padding: 12, maxHeight: 400, overflow: 'auto' }}>{preview.text}</pre> : null}
        {!preview ? <Typography variant="body2">No preview for this type.</Typography> : null}
      </Box>
      <Stack direction="row" spacing={2} sx={{ alignItems: 'center' }}>
        <MuiTextField size="small" type="number" label="Link valid for (s)" value={ttl} onChange={(e) => setTtl(Number(e.target.value))} slotProps={{ htmlInput: { min: 60, max: 86400 } }} />
        <MuiButton
          variant="outlined"
          onClick={async () => {
            try {
              setLink(await api((c) => c.files.filesSignedUrlCreate({ fileId: id }, { expires_in: ttl })));
            } catch (err) {
              setError(err);
            }
          }}
        >
          Signed link
        </MuiButton>
      </Stack>
      {can('files') ? <MoveToFolder fileId={file.id} current={file.folder} onMoved={(folder) => setFile({ ...file, folder })} /> : null}
      {link ? (
        <Box sx={{ mt: 1, fontFamily: 'monospace', wordBreak: 'break-all' }} data-testid="signed-link">
          <a href={absolute(link.url)} target="_blank" rel="noreferrer">
            {absolute(link.url)}
          </a>
          <CopyButton value={absolute(link.url)} />
          <Typography variant="caption" sx={{ display: 'block' }}>
            Expires {link.expires_at}
          </Typography>
        </Box>
      ) : null}
    </Box>
  );
}

/** The folders that hold files (and ones named here, still empty), each a link to its files. */
export const FolderList = () => (
  <>
    <ConsoleList resource="folders" title="Folders" sort={{ field: 'folder', order: 'ASC' }} actions={false} empty={false} storeKey={false} disableSyncWithLocation>
      {can('files') ? <NewFolder /> : null}
      <Datagrid rowClick={(id) => `/files?filter=${encodeURIComponent(JSON.stringify(id === '/' ? {} : { folder: id }))}`} bulkActionButtons={false}>
        <TextField source="folder" />
        <NumberField source="file_count" label="Files" />
        <FunctionField source="size_bytes" label="Size" render={(r: { size_bytes: number }) => formatBytes(r.size_bytes)} />
        <DateField source="last_updated_at" showTime emptyText="empty: move or upload a file into it" />
      </Datagrid>
    </ConsoleList>
  </>
);

function NewFolder() {
  const [create, { isPending }] = useCreate();
  const notify = useNotify();
  const refresh = useRefresh();
  return (
    <Box sx={{ p: 2, pb: 0 }}>
      <SimpleForm
        toolbar={false}
        sx={{ p: 0 }}
        onSubmit={(data: Record<string, unknown>) =>
          create(
            'folders',
            { data },
            {
              onSuccess: () => {
                notify(`Folder ${String(data.folder)} created: move or upload files into it`);
                refresh();
              },
              onError: (err) => notify((err as Error).message, { type: 'error' }),
            },
          )
        }
      >
        <Stack direction="row" spacing={2} sx={{ alignItems: 'center' }}>
          <TextInput source="folder" label="New folder" helperText="a path, e.g. contracts/2026" validate={required()} />
          <MuiButton type="submit" variant="contained" disabled={isPending}>
            Create folder
          </MuiButton>
        </Stack>
      </SimpleForm>
    </Box>
  );
}

/** Moves a file into a folder (an existing one, or a new path). */
export function MoveToFolder({ fileId, current, onMoved }: { fileId: string; current: string | null; onMoved: (folder: string | null) => void }) {
  const { data: folders } = useGetList('folders', { pagination: { page: 1, perPage: 1000 }, sort: { field: 'folder', order: 'ASC' } });
  const [target, setTarget] = useState(current ?? '/');
  const [error, setError] = useState<unknown>();
  const notify = useNotify();
  const choices = [...new Set(['/', ...(folders ?? []).map((f) => String(f.folder)), ...(current ? [current] : [])])];
  return (
    <Stack direction="row" spacing={2} sx={{ alignItems: 'center', mt: 2 }}>
      <MuiTextField select size="small" label="Folder" value={target} onChange={(e) => setTarget(e.target.value)} sx={{ minWidth: 220 }} slotProps={{ htmlInput: { 'data-testid': 'move-folder' } }}>
        {choices.map((f) => (
          <MenuItem key={f} value={f}>
            {f}
          </MenuItem>
        ))}
      </MuiTextField>
      <MuiButton
        variant="outlined"
        onClick={async () => {
          setError(undefined);
          try {
            const folder = target === '/' ? null : target;
            await api((c) => c.files.filesPartialUpdate({ fileId }, { folder } as never));
            notify(`Moved to ${target}`);
            onMoved(folder);
          } catch (err) {
            setError(err);
          }
        }}
      >
        Move
      </MuiButton>
      <ErrorBox error={error} title="The move was refused" />
    </Stack>
  );
}
