import { useEffect, useState } from 'react';
import { Box, Button as MuiButton, Dialog, DialogContent, DialogTitle } from '@mui/material';
import {
  AutocompleteArrayInput,
  Button,
  CreateButton,
  Datagrid,
  TextArrayField,
  DateField,
  DeleteButton,
  EditButton,
  FunctionField,
  Link,
  NumberField,
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
import { ConsoleCreate, ConsoleEdit, ConsoleList, IfCan, JsonField } from '../ui.tsx';

function useEventTypes() {
  const [types, setTypes] = useState<{ id: string; name: string }[]>([]);
  useEffect(() => {
    api((c) => c.types.typesList() as never)
      .then((list) => setTypes((list as string[]).map((id) => ({ id, name: id }))))
      .catch(() => setTypes([]));
  }, []);
  return types;
}

function WebhookForm() {
  const types = useEventTypes();
  return (
    <SimpleForm defaultValues={{ status: 'active' }}>
      <TextInput source="url" validate={required()} fullWidth helperText="https:// endpoint that receives signed POSTs" />
      <AutocompleteArrayInput source="events" choices={types} helperText="Empty: every event" />
      <SelectInput source="status" choices={['active', 'paused'].map((id) => ({ id, name: id }))} />
    </SimpleForm>
  );
}

export const WebhookCreate = () => (
  <ConsoleCreate redirect="list">
    <WebhookForm />
  </ConsoleCreate>
);
export const WebhookEdit = () => (
  <ConsoleEdit>
    <WebhookForm />
  </ConsoleEdit>
);

function WebhookActions() {
  const record = useRecordContext();
  const notify = useNotify();
  const refresh = useRefresh();
  if (!record) return null;
  const run = (label: string, fn: () => Promise<string>) => async (e: React.MouseEvent) => {
    e.stopPropagation();
    try {
      notify(await fn());
      refresh();
    } catch (err) {
      notify(`${label}: ${(err as Error).message}`, { type: 'error' });
    }
  };
  return (
    <Box sx={{ whiteSpace: 'nowrap' }}>
      <MuiButton size="small" onClick={run('Test', async () => {
        const r = await api((c) => c.webhooks.webhooksTestCreate({ webhookId: String(record.id) }));
        return `Test delivery: ${r.success ? 'succeeded' : 'failed'} (${r.status_code})`;
      })}>
        Test
      </MuiButton>
      <MuiButton size="small" onClick={run('Replay', async () => {
        const since = new Date(Date.now() - 24 * 3600_000).toISOString();
        const r = await api((c) => c.webhooks.webhooksReplayCreate({ webhookId: String(record.id) }, { since } as never));
        return `Replay of the last 24 h: ${r.queued ?? 0} queued`;
      })}>
        Replay 24 h
      </MuiButton>
      <Button component={Link} to={`/webhook-deliveries?filter=${encodeURIComponent(JSON.stringify({ webhook_id: record.id }))}`} label="Deliveries" onClick={(e: React.MouseEvent) => e.stopPropagation()} />
    </Box>
  );
}

export const WebhookList = () => (
  <ConsoleList
    sort={{ field: 'created_at', order: 'DESC' }}
    actions={
      <TopToolbar>
        <IfCan scope="*">
          <CreateButton label="New endpoint" />
        </IfCan>
      </TopToolbar>
    }
  >
    <Datagrid rowClick={false} bulkActionButtons={false}>
      <TextField source="url" />
      <TextArrayField source="events" sortable={false} emptyText="all events" />
      <TextField source="status" />
      <NumberField source="consecutive_failures" label="Failures" />
      <DateField source="last_success_at" showTime />
      <IfCan scope="*">
        <WebhookActions />
        <EditButton />
        <DeleteButton mutationMode="pessimistic" />
      </IfCan>
    </Datagrid>
  </ConsoleList>
);

function DeliveryDetail() {
  const record = useRecordContext();
  const [open, setOpen] = useState(false);
  if (!record) return null;
  return (
    <>
      <MuiButton size="small" onClick={(e) => (e.stopPropagation(), setOpen(true))}>
        Details
      </MuiButton>
      <Dialog open={open} onClose={() => setOpen(false)} maxWidth="md" fullWidth>
        <DialogTitle>Delivery {String(record.id)}</DialogTitle>
        <DialogContent>
          <pre style={{ fontSize: 12, whiteSpace: 'pre-wrap' }}>{JSON.stringify(record, null, 2)}</pre>
        </DialogContent>
      </Dialog>
    </>
  );
}

function RetryDelivery() {
  const record = useRecordContext();
  const notify = useNotify();
  const refresh = useRefresh();
  if (!record || record.status !== 'failed') return null;
  return (
    <MuiButton
      size="small"
      onClick={async (e) => {
        e.stopPropagation();
        try {
          await api((c) => c.webhookDeliveries.webhookDeliveriesRetryCreate({ deliveryId: String(record.id) }));
          notify('Retry sent');
          refresh();
        } catch (err) {
          notify((err as Error).message, { type: 'error' });
        }
      }}
    >
      Retry
    </MuiButton>
  );
}

const deliveryFilters = [
  <TextInput key="webhook_id" source="webhook_id" alwaysOn />,
  <SelectInput key="status" source="status" alwaysOn choices={['succeeded', 'failed'].map((id) => ({ id, name: id }))} />,
];

export const DeliveryList = () => (
  <ConsoleList filters={deliveryFilters} sort={{ field: 'created_at', order: 'DESC' }} actions={false} title="Webhook deliveries">
    <Datagrid rowClick={false} bulkActionButtons={false}>
      <DateField source="created_at" showTime sortable={false} />
      <TextField source="event_type" sortable={false} />
      <TextField source="status" sortable={false} />
      <NumberField source="response_code" sortable={false} />
      <NumberField source="attempt" sortable={false} />
      <TextField source="trigger" sortable={false} />
      <FunctionField label="Latency" render={(r: { latency_ms: number | null }) => (r.latency_ms === null ? '' : `${r.latency_ms} ms`)} />
      <TextField source="url" sortable={false} />
      <DeliveryDetail />
      <IfCan scope="*">
        <RetryDelivery />
      </IfCan>
    </Datagrid>
  </ConsoleList>
);

function DlqRetry() {
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
          await api((c) => c.dlq.dlqRetryCreate({ msgId: String(record.id) }));
          notify('Queued for another try');
          refresh();
        } catch (err) {
          notify((err as Error).message, { type: 'error' });
        }
      }}
    >
      Retry
    </MuiButton>
  );
}

export const DlqList = () => (
  <ConsoleList
    filters={[<TextInput key="source" source="source" alwaysOn />, <SelectInput key="status" source="status" alwaysOn choices={['dead', 'retrying'].map((id) => ({ id, name: id }))} />]}
    actions={false}
    title="Dead letters"
  >
    <Datagrid rowClick={false} bulkActionButtons={false}>
      <DateField source="created_at" showTime sortable={false} />
      <TextField source="source" sortable={false} />
      <TextField source="reference_id" sortable={false} />
      <TextField source="status" sortable={false} />
      <NumberField source="attempts" sortable={false} />
      <TextField source="error" sortable={false} />
      <JsonField source="data" />
      <IfCan scope="*">
        <DlqRetry />
        <DeleteButton label="Discard" mutationMode="pessimistic" redirect={false} />
      </IfCan>
    </Datagrid>
  </ConsoleList>
);
