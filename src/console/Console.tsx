// The admin (react-admin), loaded after sign-in. Each screen group is its own chunk, loaded when a
// screen of the group is first opened; the menu and the dashboard are here.
import { Box, Card, CardContent, Typography } from '@mui/material';
import Key from '@mui/icons-material/Key';
import Schema from '@mui/icons-material/Schema';
import TableRows from '@mui/icons-material/TableRows';
import Folder from '@mui/icons-material/Folder';
import Webhook from '@mui/icons-material/Webhook';
import People from '@mui/icons-material/People';
import Security from '@mui/icons-material/Security';
import History from '@mui/icons-material/History';
import ShowChart from '@mui/icons-material/ShowChart';
import Bolt from '@mui/icons-material/Bolt';
import Domain from '@mui/icons-material/Domain';
import Extension from '@mui/icons-material/Extension';
import Policy from '@mui/icons-material/Policy';
import FactCheck from '@mui/icons-material/FactCheck';
import ImportExport from '@mui/icons-material/ImportExport';
import Lock from '@mui/icons-material/Lock';
import { lazy, Suspense, type ComponentType, type ReactNode } from 'react';
import { Route } from 'react-router-dom';
import {
  Admin,
  AppBar,
  CustomRoutes,
  Layout,
  Link,
  Menu,
  Resource,
  TitlePortal,
  Title,
  memoryStore,
  useGetList,
  type LayoutProps,
} from 'react-admin';
import { authProvider } from './auth.ts';
import { dataProvider, MODULES } from './dataProvider.ts';
import { loadSession } from './session.ts';

/** A named export of a lazily loaded module, as a component React.lazy can suspend on. */
function lazyNamed<M extends Record<string, unknown>>(load: () => Promise<M>, name: keyof M & string): ComponentType<any> {
  return lazy(async () => ({ default: (await load())[name] as ComponentType<any> }));
}

// One chunk per screen group.
const keys = () => import('./screens/keys.tsx');
const types = () => import('./screens/types.tsx');
const records = () => import('./screens/records.tsx');
const files = () => import('./screens/files.tsx');
const webhooks = () => import('./screens/webhooks.tsx');
const people = () => import('./screens/people.tsx');
const activity = () => import('./screens/activity.tsx');
const tenants = () => import('./screens/tenants.tsx');
const modules = () => import('./screens/modules.tsx');
const governance = () => import('./screens/governance.tsx');
const authSettings = () => import('./screens/auth-settings.tsx');
const dataIo = () => import('./screens/data-io.tsx');

const KeyList = lazyNamed(keys, 'KeyList');
const KeyCreate = lazyNamed(keys, 'KeyCreate');
const KeyEdit = lazyNamed(keys, 'KeyEdit');
const TypeList = lazyNamed(types, 'TypeList');
const TypeCreate = lazyNamed(types, 'TypeCreate');
const TypeShow = lazyNamed(types, 'TypeShow');
const RecordList = lazyNamed(records, 'RecordList');
const RecordCreate = lazyNamed(records, 'RecordCreate');
const RecordEdit = lazyNamed(records, 'RecordEdit');
const TrashList = lazyNamed(records, 'TrashList');
const FileList = lazyNamed(files, 'FileList');
const FileShow = lazyNamed(files, 'FileShow');
const FolderList = lazyNamed(files, 'FolderList');
const WebhookList = lazyNamed(webhooks, 'WebhookList');
const WebhookCreate = lazyNamed(webhooks, 'WebhookCreate');
const WebhookEdit = lazyNamed(webhooks, 'WebhookEdit');
const DeliveryList = lazyNamed(webhooks, 'DeliveryList');
const DlqList = lazyNamed(webhooks, 'DlqList');
const UserList = lazyNamed(people, 'UserList');
const UserCreate = lazyNamed(people, 'UserCreate');
const UserEdit = lazyNamed(people, 'UserEdit');
const RoleList = lazyNamed(people, 'RoleList');
const RoleCreate = lazyNamed(people, 'RoleCreate');
const RoleEdit = lazyNamed(people, 'RoleEdit');
const SessionList = lazyNamed(people, 'SessionList');
const AuditList = lazyNamed(people, 'AuditList');
const UsagePage = lazyNamed(activity, 'UsagePage');
const EventTail = lazyNamed(activity, 'EventTail');
const TenantList = lazyNamed(tenants, 'TenantList');
const TenantCreate = lazyNamed(tenants, 'TenantCreate');
const TenantEdit = lazyNamed(tenants, 'TenantEdit');
const TenantSwitcher = lazyNamed(tenants, 'TenantSwitcher');
const ModuleList = lazyNamed(modules, 'ModuleList');
const ModuleShow = lazyNamed(modules, 'ModuleShow');
const ModuleCreate = lazyNamed(modules, 'ModuleCreate');
const ModuleEdit = lazyNamed(modules, 'ModuleEdit');
const AiUsagePage = lazyNamed(modules, 'AiUsagePage');
const TrialBalancePage = lazyNamed(modules, 'TrialBalancePage');
const BillingPage = lazyNamed(modules, 'BillingPage');
const StatusPage = lazyNamed(modules, 'StatusPage');
const PolicyList = lazyNamed(governance, 'PolicyList');
const PolicyCreate = lazyNamed(governance, 'PolicyCreate');
const PolicyEdit = lazyNamed(governance, 'PolicyEdit');
const PolicySimulator = lazyNamed(governance, 'PolicySimulator');
const WorkflowList = lazyNamed(governance, 'WorkflowList');
const WorkflowCreate = lazyNamed(governance, 'WorkflowCreate');
const WorkflowEdit = lazyNamed(governance, 'WorkflowEdit');
const ReviewList = lazyNamed(governance, 'ReviewList');
const AuthSettings = lazyNamed(authSettings, 'AuthSettings');
const OAuthProviderList = lazyNamed(authSettings, 'OAuthProviderList');
const OAuthProviderCreate = lazyNamed(authSettings, 'OAuthProviderCreate');
const OAuthProviderEdit = lazyNamed(authSettings, 'OAuthProviderEdit');
const SamlProviderList = lazyNamed(authSettings, 'SamlProviderList');
const SamlProviderCreate = lazyNamed(authSettings, 'SamlProviderCreate');
const SamlProviderEdit = lazyNamed(authSettings, 'SamlProviderEdit');
const DataImportExport = lazyNamed(dataIo, 'DataImportExport');

const hasTenant = () => Boolean(loadSession()?.token);
const isAdmin = () => loadSession()?.kind === 'admin';

/** One menu entry per object type, under the records. */
function TypeItems() {
  const { data } = useGetList('object-types', { pagination: { page: 1, perPage: 100 }, sort: { field: 'name', order: 'ASC' } }, { enabled: hasTenant() });
  return (
    <>
      {(data ?? []).map((t) => (
        <Menu.Item key={t.id} to={`/records/${t.name}`} primaryText={`  ${t.display_name ?? t.name}`} leftIcon={<TableRows fontSize="small" />} dense />
      ))}
    </>
  );
}

function Section({ title }: { title: string }) {
  return (
    <Typography variant="overline" sx={{ px: 2, pt: 1, display: 'block', color: 'text.secondary' }}>
      {title}
    </Typography>
  );
}

/** Module screens that are pages of their own rather than a resource's list. */
const MODULE_PAGES: { to: string; label: string }[] = [
  { to: '/ai-usage', label: 'AI usage' },
  { to: '/accounting-trial-balance', label: 'Trial balance' },
  { to: '/billing', label: 'Billing' },
  { to: '/status', label: 'Status page' },
];

function ConsoleMenu() {
  return (
    <Menu>
      {isAdmin() ? <Menu.Item to="/tenants" primaryText="Tenants" leftIcon={<Domain />} /> : null}
      {hasTenant() ? (
        <>
          <Menu.DashboardItem />
          <Menu.Item to="/keys" primaryText="API keys" leftIcon={<Key />} />
          <Section title="Data" />
          <Menu.Item to="/object-types" primaryText="Object types" leftIcon={<Schema />} />
          <TypeItems />
          <Menu.Item to="/data-io" primaryText="Import / export" leftIcon={<ImportExport />} />
          <Menu.Item to="/files" primaryText="Files" leftIcon={<Folder />} />
          <Menu.Item to="/folders" primaryText="Folders" leftIcon={<Folder />} />
          <Section title="Governance" />
          <Menu.Item to="/policies" primaryText="Policies" leftIcon={<Policy />} />
          <Menu.Item to="/policy-simulator" primaryText="Policy simulator" leftIcon={<Policy />} />
          <Menu.Item to="/workflows" primaryText="Approval workflows" leftIcon={<FactCheck />} />
          <Menu.Item to="/reviews" primaryText="Pending reviews" leftIcon={<FactCheck />} />
          <Section title="Delivery" />
          <Menu.Item to="/webhooks" primaryText="Webhooks" leftIcon={<Webhook />} />
          <Menu.Item to="/webhook-deliveries" primaryText="Deliveries" leftIcon={<History />} />
          <Menu.Item to="/dlq" primaryText="Dead letters" leftIcon={<History />} />
          <Menu.Item to="/events" primaryText="Live events" leftIcon={<Bolt />} />
          <Section title="People" />
          <Menu.Item to="/users" primaryText="Users" leftIcon={<People />} />
          <Menu.Item to="/roles" primaryText="Roles" leftIcon={<Security />} />
          <Menu.Item to="/sessions" primaryText="Sessions" leftIcon={<Security />} />
          <Menu.Item to="/auth-settings" primaryText="Auth settings" leftIcon={<Lock />} />
          <Menu.Item to="/oauth-providers" primaryText="  OAuth providers" leftIcon={<Lock fontSize="small" />} dense />
          <Menu.Item to="/saml-providers" primaryText="  SAML providers" leftIcon={<Lock fontSize="small" />} dense />
          <Menu.Item to="/audit-logs" primaryText="Audit log" leftIcon={<History />} />
          <Menu.Item to="/usage" primaryText="Usage" leftIcon={<ShowChart />} />
          <Section title="Modules" />
          {Object.entries(MODULES).map(([name, def]) => (
            <Menu.Item key={name} to={`/${name}`} primaryText={def.label} leftIcon={<Extension />} dense />
          ))}
          {MODULE_PAGES.map((p) => (
            <Menu.Item key={p.to} to={p.to} primaryText={p.label} leftIcon={<Extension />} dense />
          ))}
        </>
      ) : null}
    </Menu>
  );
}

function ConsoleAppBar() {
  return (
    <AppBar>
      <TitlePortal />
      <Suspense fallback={null}>
        <TenantSwitcher />
      </Suspense>
    </AppBar>
  );
}

const ConsoleLayout = ({ children }: LayoutProps) => (
  <Layout menu={ConsoleMenu} appBar={ConsoleAppBar}>
    {children}
  </Layout>
);

function Tile({ to, title, children }: { to: string; title: string; children: ReactNode }) {
  return (
    <Card variant="outlined" sx={{ flex: '1 1 240px' }}>
      <CardContent>
        <Link to={to}>
          <Typography variant="h6">{title}</Typography>
        </Link>
        <Typography variant="body2">{children}</Typography>
      </CardContent>
    </Card>
  );
}

function Dashboard() {
  const session = loadSession();
  if (!session?.token) {
    return (
      <Box sx={{ p: 2 }}>
        <Title title="Plinth console" />
        <Typography>
          Signed in with the system admin key. Open a tenant from <Link to="/tenants">Tenants</Link> to see its data.
        </Typography>
      </Box>
    );
  }
  return (
    <Box sx={{ p: 2 }} data-testid="dashboard">
      <Title title="Plinth console" />
      <Typography variant="h5" gutterBottom>
        {session.tenant?.name}
      </Typography>
      <Typography color="text.secondary" gutterBottom>
        {session.label} · scopes {session.scopes.join(', ') || 'none'}
      </Typography>
      <Box sx={{ mt: 2, display: 'flex', flexWrap: 'wrap', gap: 2 }}>
        <Tile to="/keys" title="API keys">Create keys with scopes and expiry, rotate and revoke them.</Tile>
        <Tile to="/object-types" title="Data">Object types, their properties, and their records.</Tile>
        <Tile to="/data-io" title="Import / export">Records in and out as CSV or JSON, with progress.</Tile>
        <Tile to="/files" title="Files">Upload, preview and share files by signed link; folders.</Tile>
        <Tile to="/policies" title="Governance">Access policies with a simulator, approval workflows and pending reviews.</Tile>
        <Tile to="/webhooks" title="Webhooks">Endpoints, deliveries, replay and the dead-letter queue.</Tile>
        <Tile to="/users" title="Users">Invite users, give them roles, see sessions; auth settings.</Tile>
        <Tile to="/usage" title="Usage">Requests, storage and activity over time.</Tile>
        <Tile to="/events" title="Live events">Every event of the tenant as it happens.</Tile>
        <Tile to="/automations" title="Modules">Automations, functions, schedules, AI, reports, accounting, billing, status.</Tile>
      </Box>
    </Box>
  );
}

export default function Console() {
  return (
    <Admin
      title="Plinth console"
      dataProvider={dataProvider}
      authProvider={authProvider}
      loginPage={false}
      layout={ConsoleLayout}
      dashboard={Dashboard}
      store={memoryStore()}
      disableTelemetry
      requireAuth
    >
      <Resource name="keys" list={KeyList} create={KeyCreate} edit={KeyEdit} options={{ label: 'API keys' }} />
      <Resource name="object-types" list={TypeList} create={TypeCreate} options={{ label: 'Object types' }} />
      <Resource name="files" list={FileList} show={FileShow} />
      <Resource name="webhooks" list={WebhookList} create={WebhookCreate} edit={WebhookEdit} />
      <Resource name="webhook-deliveries" list={DeliveryList} />
      <Resource name="dlq" list={DlqList} />
      <Resource name="users" list={UserList} create={UserCreate} edit={UserEdit} />
      <Resource name="roles" list={RoleList} create={RoleCreate} edit={RoleEdit} />
      <Resource name="sessions" list={SessionList} />
      <Resource name="audit-logs" list={AuditList} />
      <Resource name="tenants" list={TenantList} create={TenantCreate} edit={TenantEdit} />
      <Resource name="oauth-providers" list={OAuthProviderList} create={OAuthProviderCreate} edit={OAuthProviderEdit} options={{ label: 'OAuth providers' }} />
      <Resource name="saml-providers" list={SamlProviderList} create={SamlProviderCreate} edit={SamlProviderEdit} options={{ label: 'SAML providers' }} />
      {Object.entries(MODULES).map(([name, def]) => (
        <Resource
          key={name}
          name={name}
          options={{ label: def.label }}
          list={<ModuleList resource={name} />}
          show={def.getOne ? <ModuleShow resource={name} /> : undefined}
          create={def.create ? <ModuleCreate resource={name} /> : undefined}
          edit={def.update ? <ModuleEdit resource={name} /> : undefined}
        />
      ))}
      <CustomRoutes>
        <Route path="/object-types/:id/show" element={<TypeShow />} />
        <Route path="/records/:type" element={<RecordList />} />
        <Route path="/records/:type/create" element={<RecordCreate />} />
        <Route path="/records/:type/:id" element={<RecordEdit />} />
        <Route path="/trash/:type" element={<TrashList />} />
        <Route path="/folders" element={<FolderList />} />
        <Route path="/data-io" element={<DataImportExport />} />
        <Route path="/policies" element={<PolicyList />} />
        <Route path="/policies/:type" element={<PolicyList />} />
        <Route path="/policies/:type/create" element={<PolicyCreate />} />
        <Route path="/policies/:type/:id" element={<PolicyEdit />} />
        <Route path="/policy-simulator" element={<PolicySimulator />} />
        <Route path="/workflows" element={<WorkflowList />} />
        <Route path="/workflows/:type" element={<WorkflowList />} />
        <Route path="/workflows/:type/create" element={<WorkflowCreate />} />
        <Route path="/workflows/:type/:id" element={<WorkflowEdit />} />
        <Route path="/reviews" element={<ReviewList />} />
        <Route path="/reviews/:type" element={<ReviewList />} />
        <Route path="/auth-settings" element={<AuthSettings />} />
        <Route path="/usage" element={<UsagePage />} />
        <Route path="/events" element={<EventTail />} />
        <Route path="/ai-usage" element={<AiUsagePage />} />
        <Route path="/accounting-trial-balance" element={<TrialBalancePage />} />
        <Route path="/billing" element={<BillingPage />} />
        <Route path="/status" element={<StatusPage />} />
      </CustomRoutes>
    </Admin>
  );
}
