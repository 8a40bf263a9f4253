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
import { useEffect, useState, type ReactNode } from 'react';
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
import { dataProvider, MODULE_LISTS } from './dataProvider.ts';
import { LoginPage } from './LoginPage.tsx';
import { loadSession, onSignInOrOut } from './session.ts';
import { EventTail, UsagePage } from './screens/activity.tsx';
import { FileList, FileShow } from './screens/files.tsx';
import { KeyCreate, KeyEdit, KeyList } from './screens/keys.tsx';
import { ModuleList } from './screens/modules.tsx';
import { AuditList, RoleCreate, RoleEdit, RoleList, SessionList, UserCreate, UserEdit, UserList } from './screens/people.tsx';
import { RecordCreate, RecordEdit, RecordList, TrashList } from './screens/records.tsx';
import { TenantCreate, TenantEdit, TenantList, TenantSwitcher } from './screens/tenants.tsx';
import { TypeCreate, TypeList, TypeShow } from './screens/types.tsx';
import { DeliveryList, DlqList, WebhookCreate, WebhookEdit, WebhookList } from './screens/webhooks.tsx';

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
          <Menu.Item to="/files" primaryText="Files" leftIcon={<Folder />} />
          <Section title="Delivery" />
          <Menu.Item to="/webhooks" primaryText="Webhooks" leftIcon={<Webhook />} />
          <Menu.Item to="/webhook-deliveries" primaryText="Deliveries" leftIcon={<History />} />
          <Menu.Item to="/dlq" primaryText="Dead letters" leftIcon={<History />} />
          <Menu.Item to="/events" primaryText="Live events" leftIcon={<Bolt />} />
          <Section title="People" />
          <Menu.Item to="/users" primaryText="Users" leftIcon={<People />} />
          <Menu.Item to="/roles" primaryText="Roles" leftIcon={<Security />} />
          <Menu.Item to="/sessions" primaryText="Sessions" leftIcon={<Security />} />
          <Menu.Item to="/audit-logs" primaryText="Audit log" leftIcon={<History />} />
          <Menu.Item to="/usage" primaryText="Usage" leftIcon={<ShowChart />} />
          <Section title="Modules" />
          {Object.entries(MODULE_LISTS).map(([name, def]) => (
            <Menu.Item key={name} to={`/${name}`} primaryText={def.label} leftIcon={<Extension />} dense />
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
      <TenantSwitcher />
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
        <Tile to="/files" title="Files">Upload, preview and share files by signed link.</Tile>
        <Tile to="/webhooks" title="Webhooks">Endpoints, deliveries, replay and the dead-letter queue.</Tile>
        <Tile to="/users" title="Users">Invite users, give them roles, see sessions.</Tile>
        <Tile to="/usage" title="Usage">Requests, storage and activity over time.</Tile>
        <Tile to="/events" title="Live events">Every event of the tenant as it happens.</Tile>
      </Box>
    </Box>
  );
}

/** The sign-in page while nobody is signed in, the admin once someone is. */
export function App() {
  const [signedIn, setSignedIn] = useState(() => Boolean(loadSession()));
  useEffect(() => onSignInOrOut(() => setSignedIn(Boolean(loadSession()))), []);
  return signedIn ? <Console /> : <LoginPage />;
}

const Console = () => (
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
    {Object.entries(MODULE_LISTS).map(([name, def]) => (
      <Resource key={name} name={name} list={<ModuleList title={def.label} />} />
    ))}
    <CustomRoutes>
      <Route path="/object-types/:id/show" element={<TypeShow />} />
      <Route path="/records/:type" element={<RecordList />} />
      <Route path="/records/:type/create" element={<RecordCreate />} />
      <Route path="/records/:type/:id" element={<RecordEdit />} />
      <Route path="/trash/:type" element={<TrashList />} />
      <Route path="/usage" element={<UsagePage />} />
      <Route path="/events" element={<EventTail />} />
    </CustomRoutes>
  </Admin>
);
