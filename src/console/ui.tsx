// Pieces every screen uses: the API's error shown in place (never a blank page), write actions shown
// only to callers who may write, copy buttons.
import { useState, type ReactNode } from 'react';
import { Alert, Box, IconButton, Tooltip, Typography } from '@mui/material';
import ContentCopy from '@mui/icons-material/ContentCopy';
import {
  Create,
  Edit,
  List,
  ListBase,
  Show,
  useEditContext,
  useListContext,
  useRecordContext,
  useShowContext,
  type CreateProps,
  type EditProps,
  type ListProps,
  type ShowProps,
} from 'react-admin';
import { can, errorMessage, type Scope } from './session.ts';

export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  return (
    <Alert severity="error" sx={{ m: 2 }} data-testid="api-error">
      {title ? <strong>{title}: </strong> : null}
      {errorMessage(error)}
    </Alert>
  );
}

function ListError() {
  const { error } = useListContext();
  return <ErrorBox error={error} title="The API refused the list" />;
}

function EditError() {
  const { error } = useEditContext();
  return <ErrorBox error={error} title="The API refused the record" />;
}

function ShowError() {
  const { error } = useShowContext();
  return <ErrorBox error={error} title="The API refused the record" />;
}

/** A list inside another screen (a record's comments): no page title, no URL sync, the API's refusal in place. */
export function PanelList({ resource, children, perPage = 50 }: { resource: string; children: ReactNode; perPage?: number }) {
  return (
    <ListBase resource={resource} perPage={perPage} disableSyncWithLocation storeKey={false} sort={{ field: 'created_at', order: 'ASC' }}>
      <ListError />
      {children}
    </ListBase>
  );
}

export const ConsoleList = (props: ListProps) => <List error={<ListError />} perPage={25} {...props} />;
export const ConsoleEdit = (props: EditProps) => <Edit error={<EditError />} mutationMode="pessimistic" {...props} />;
export const ConsoleShow = (props: ShowProps) => <Show error={<ShowError />} {...props} />;
export const ConsoleCreate = (props: CreateProps) => <Create {...props} />;

/** Renders its children only for a caller holding `scope` (a viewer sees no write buttons; the server refuses anyway). */
export function IfCan({ scope, children }: { scope: Scope; children: ReactNode }) {
  return can(scope) ? <>{children}</> : null;
}

export function CopyButton({ value, label = 'Copy' }: { value: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <Tooltip title={copied ? 'Copied' : label}>
      <IconButton
        size="small"
        aria-label={label}
        onClick={async (e) => {
          e.stopPropagation();
          try {
            await navigator.clipboard.writeText(value);
          } catch {
            // Clipboard refused (no secure context): select the text for a manual copy instead.
            const range = document.createRange();
            const node = (e.currentTarget.parentElement?.querySelector('[data-secret]') as Node | null) ?? null;
            if (node) {
              range.selectNodeContents(node);
              window.getSelection()?.removeAllRanges();
              window.getSelection()?.addRange(range);
            }
          }
          setCopied(true);
        }}
      >
        <ContentCopy fontSize="small" />
      </IconButton>
    </Tooltip>
  );
}

/** A secret shown once with its copy button. */
export function SecretOnce({ title, value, note }: { title: string; value: string; note?: string }) {
  return (
    <Alert severity="warning" sx={{ my: 2 }} data-testid="secret-once">
      <Typography variant="subtitle2">{title}</Typography>
      <Box sx={{ display: 'flex', alignItems: 'center', gap: 1, fontFamily: 'monospace', wordBreak: 'break-all' }}>
        <span data-secret>{value}</span>
        <CopyButton value={value} />
      </Box>
      {note ? <Typography variant="caption">{note}</Typography> : null}
    </Alert>
  );
}

/** A JSON value, short, for table cells. */
export function JsonField({ source }: { source: string; label?: string }) {
  const record = useRecordContext();
  const value = source.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], record);
  if (value === undefined || value === null) return <span>—</span>;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return <span title={text}>{text.length > 80 ? `${text.slice(0, 80)}…` : text}</span>;
}

export const formatBytes = (n: number) =>
  n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MB` : `${(n / 1024 ** 3).toFixed(2)} GB`;
