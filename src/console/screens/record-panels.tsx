// Below a record's form: its review (submit, approve, reject, history), comments and associations.
import { useEffect, useState } from 'react';
import { Box, Button as MuiButton, Card, CardContent, Chip, MenuItem, Stack, TextField as MuiTextField, Typography } from '@mui/material';
import {
  Datagrid,
  DateField,
  DeleteButton,
  FunctionField,
  Link,
  SimpleForm,
  TextField,
  TextInput,
  required,
  useCreate,
  useGetList,
  useNotify,
  useRecordContext,
  useRefresh,
} from 'react-admin';
import { deleteAssociation } from '../dataProvider.ts';
import { api, can } from '../session.ts';
import { ErrorBox, PanelList } from '../ui.tsx';

function Panel({ title, children, testId }: { title: string; children: React.ReactNode; testId?: string }) {
  return (
    <Card variant="outlined" sx={{ m: 2 }} data-testid={testId}>
      <CardContent>
        <Typography variant="h6" gutterBottom>
          {title}
        </Typography>
        {children}
      </CardContent>
    </Card>
  );
}

interface ReviewState {
  status: string;
  stage: string | null;
  workflow: string | null;
  approvals: unknown[];
  required_approvals: number | null;
  pending_changes: Record<string, unknown> | null;
  history: { id: string; action: string; stage: string | null; actor_type: string; actor_id: string | null; comment: string | null; created_at: string }[];
}

function Review({ type, id }: { type: string; id: string }) {
  const [state, setState] = useState<ReviewState>();
  const [error, setError] = useState<unknown>();
  const [tick, setTick] = useState(0);
  const notify = useNotify();
  useEffect(() => {
    api((c) => c.objects.objectsWorkflowStatusList({ objectTypeId: type, objectId: id }))
      .then((s) => setState(s as ReviewState), setError);
  }, [type, id, tick]);
  const act = async (what: 'submit' | 'approve' | 'reject') => {
    setError(undefined);
    try {
      if (what === 'submit') await api((c) => c.objects.objectsSubmitForReviewCreate({ objectTypeId: type, objectId: id }, {}));
      if (what === 'approve') await api((c) => c.objects.objectsApproveCreate({ objectTypeId: type, objectId: id }, {}));
      if (what === 'reject') await api((c) => c.objects.objectsRejectCreate({ objectTypeId: type, objectId: id }, {}));
      notify(what === 'submit' ? 'Submitted for review' : what === 'approve' ? 'Approval recorded' : 'Rejected');
      setTick((t) => t + 1);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Panel title="Review" testId="record-review">
      {state ? (
        <Stack direction="row" spacing={1} sx={{ alignItems: 'center', flexWrap: 'wrap' }}>
          <Chip label={state.status} color={state.status === 'approved' ? 'success' : state.status === 'rejected' ? 'error' : state.status === 'in_review' ? 'warning' : 'default'} />
          {state.workflow ? <Typography variant="body2">{state.workflow} · stage {state.stage ?? '—'} · {state.approvals.length} of {state.required_approvals ?? '?'} approvals</Typography> : null}
          {can('write') && state.status !== 'in_review' ? <MuiButton size="small" onClick={() => act('submit')}>Submit for review</MuiButton> : null}
          {can('write') && state.status === 'in_review' ? (
            <>
              <MuiButton size="small" variant="contained" onClick={() => act('approve')}>Approve</MuiButton>
              <MuiButton size="small" color="error" onClick={() => act('reject')}>Reject</MuiButton>
            </>
          ) : null}
        </Stack>
      ) : null}
      {state?.pending_changes ? <Typography variant="body2">Waiting change: {JSON.stringify(state.pending_changes)}</Typography> : null}
      {state?.history.length ? (
        <Box component="ul" sx={{ m: 0, mt: 1, pl: 2 }}>
          {state.history.map((h) => (
            <li key={h.id}>
              <Typography variant="body2">
                {h.created_at.slice(0, 19).replace('T', ' ')} · {h.action}
                {h.stage ? ` at ${h.stage}` : ''} by {h.actor_type} {h.actor_id ?? ''}
                {h.comment ? `: ${h.comment}` : ''}
              </Typography>
            </li>
          ))}
        </Box>
      ) : null}
      <ErrorBox error={error} />
    </Panel>
  );
}

function Comments({ type, id }: { type: string; id: string }) {
  const resource = `comments/${type}/${id}`;
  const [create, { isPending }] = useCreate();
  const notify = useNotify();
  const refresh = useRefresh();
  const [formKey, setFormKey] = useState(0);
  return (
    <Panel title="Comments" testId="record-comments">
      <PanelList resource={resource}>
        <Datagrid bulkActionButtons={false} rowClick={false} empty={<Typography variant="body2">No comments yet.</Typography>}>
          <TextField source="body" label="Comment" />
          <FunctionField label="By" render={(c: { author_type: string; author_id: string | null }) => `${c.author_type} ${c.author_id ?? ''}`} />
          <DateField source="created_at" showTime />
          {can('write') ? <DeleteButton resource={resource} mutationMode="pessimistic" redirect={false} /> : null}
        </Datagrid>
      </PanelList>
      {can('write') ? (
        <SimpleForm
          key={formKey}
          toolbar={false}
          sx={{ p: 0, mt: 1 }}
          onSubmit={(data: Record<string, unknown>) =>
            create(
              resource,
              { data },
              {
                onSuccess: () => {
                  setFormKey((k) => k + 1);
                  refresh();
                },
                onError: (err) => notify((err as Error).message, { type: 'error' }),
              },
            )
          }
        >
          <Stack direction="row" spacing={2} sx={{ alignItems: 'center', width: '100%' }}>
            <TextInput source="body" label="Add a comment" validate={required()} multiline fullWidth />
            <MuiButton type="submit" variant="contained" disabled={isPending}>
              Comment
            </MuiButton>
          </Stack>
        </SimpleForm>
      ) : null}
    </Panel>
  );
}

interface AssociationRow {
  id: string;
  association_type: string;
  direction?: string;
  from_type: string | null;
  from_type_id: string;
  from_id: string;
  to_type: string | null;
  to_type_id: string;
  to_id: string;
  object?: { id: string; properties: Record<string, unknown> };
}

function RemoveAssociation() {
  const record = useRecordContext<AssociationRow>();
  const notify = useNotify();
  const refresh = useRefresh();
  if (!record) return null;
  return (
    <MuiButton
      size="small"
      color="error"
      onClick={async () => {
        try {
          await deleteAssociation(record);
          refresh();
        } catch (err) {
          notify((err as Error).message, { type: 'error' });
        }
      }}
    >
      Remove
    </MuiButton>
  );
}

function Associations({ type, id }: { type: string; id: string }) {
  const resource = `associations/${type}/${id}`;
  const { data: types } = useGetList('object-types', { pagination: { page: 1, perPage: 100 }, sort: { field: 'name', order: 'ASC' } });
  const [create, { isPending }] = useCreate();
  const notify = useNotify();
  const refresh = useRefresh();
  const [toType, setToType] = useState(type);
  return (
    <Panel title="Associations" testId="record-associations">
      <PanelList resource={resource}>
        <Datagrid bulkActionButtons={false} rowClick={false} empty={<Typography variant="body2">No associations.</Typography>}>
          <TextField source="association_type" label="Type" />
          <TextField source="direction" />
          <FunctionField
            label="Other record"
            render={(a: AssociationRow) => {
              const outgoing = a.direction !== 'incoming';
              const otherType = outgoing ? (a.to_type ?? a.to_type_id) : (a.from_type ?? a.from_type_id);
              const otherId = outgoing ? a.to_id : a.from_id;
              const label = Object.values(a.object?.properties ?? {}).find((v) => typeof v === 'string') as string | undefined;
              return <Link to={`/records/${otherType}/${encodeURIComponent(otherId)}`}>{`${otherType} ${label ?? otherId}`}</Link>;
            }}
          />
          {can('write') ? <RemoveAssociation /> : null}
        </Datagrid>
      </PanelList>
      {can('write') ? (
        <SimpleForm
          toolbar={false}
          sx={{ p: 0, mt: 1 }}
          onSubmit={(data: Record<string, unknown>) =>
            create(resource, { data: { ...data, to_type: toType } }, { onSuccess: () => refresh(), onError: (err) => notify((err as Error).message, { type: 'error' }) })
          }
        >
          <Stack direction="row" spacing={2} sx={{ alignItems: 'center' }}>
            <TextInput source="association_type" label="Link type" helperText="e.g. related_to" validate={required()} />
            <MuiTextField select size="small" label="To type" value={toType} onChange={(e) => setToType(e.target.value)} sx={{ minWidth: 160 }}>
              {(types ?? []).map((t) => (
                <MenuItem key={t.id} value={t.name}>
                  {t.name}
                </MenuItem>
              ))}
            </MuiTextField>
            <TextInput source="to_id" label="To record id" validate={required()} />
            <MuiButton type="submit" variant="outlined" disabled={isPending}>
              Link
            </MuiButton>
          </Stack>
        </SimpleForm>
      ) : null}
    </Panel>
  );
}

export function RecordPanels({ type, id }: { type: string; id: string }) {
  return (
    <Box>
      <Review type={type} id={id} />
      <Comments type={type} id={id} />
      <Associations type={type} id={id} />
    </Box>
  );
}
