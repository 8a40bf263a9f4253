// The tenant's auth settings (GET/POST /v1/auth-config): sign-in methods, signup, password policy,
// token lifetimes, MFA, passkeys, captcha, redirects; OAuth and SAML providers are listed here and
// created, edited and deleted on their own screens (resources `oauth-providers`, `saml-providers`).
import { useEffect, useState } from 'react';
import { Box, Card, CardContent, Typography } from '@mui/material';
import {
  BooleanInput,
  CreateButton,
  Datagrid,
  DeleteButton,
  EditButton,
  Link,
  TopToolbar,
  required,
  useRecordContext,
  ListContextProvider,
  NumberInput,
  SaveButton,
  SelectInput,
  SimpleForm,
  TextField,
  TextInput,
  Title,
  Toolbar,
  BooleanField,
  useList,
  useNotify,
} from 'react-admin';
import { api, can } from '../session.ts';
import { ConsoleCreate, ConsoleEdit, ConsoleList, ErrorBox, IfCan } from '../ui.tsx';

type Config = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const lines = { format: (v: unknown) => (Array.isArray(v) ? v.join('\n') : (v as string) ?? ''), parse: (v: string) => v.split(/\n+/).map((s) => s.trim()).filter(Boolean) };

/** What the form sends back: the settings it edits, never the read-only `*_set` markers; a secret only when one was typed. */
function changes(form: Config): Config {
  const body: Config = {
    methods: form.methods,
    signup_enabled: form.signup_enabled,
    require_email_verification: form.require_email_verification,
    default_role: form.default_role || null,
    password_policy: form.password_policy,
    access_token_ttl: form.access_token_ttl,
    refresh_token_ttl: form.refresh_token_ttl,
    mfa: { required: form.mfa?.required, issuer: form.mfa?.issuer || undefined },
    passkeys: { rp_id: form.passkeys?.rp_id || null, rp_name: form.passkeys?.rp_name || null, origins: form.passkeys?.origins ?? [] },
    captcha: { enabled: Boolean(form.captcha?.enabled), provider: 'turnstile', site_key: form.captcha?.site_key || null, ...(form.captcha?.secret_key ? { secret_key: form.captcha.secret_key } : {}) },
    site_url: form.site_url || null,
    redirect_urls: form.redirect_urls ?? [],
  };
  return JSON.parse(JSON.stringify(body));
}

function Providers({ title, rows, columns, to }: { title: string; rows: Config[]; columns: string[]; to: string }) {
  const list = useList({ data: rows.map((r) => ({ ...r, id: r.name })) });
  return (
    <Card variant="outlined" sx={{ mt: 2 }}>
      <CardContent>
        <Typography variant="h6">{title}</Typography>
        <Link to={to}>{can('*') ? 'Add, edit or delete' : 'Open the list'}</Link>
        {rows.length === 0 ? (
          <Typography variant="body2">None configured.</Typography>
        ) : (
          <ListContextProvider value={list}>
            <Datagrid resource="console-rows" bulkActionButtons={false} rowClick={false}>
              {columns.map((c) => (c.endsWith('_set') || c.startsWith('allow') || c.startsWith('trust') ? <BooleanField key={c} source={c} /> : <TextField key={c} source={c} />))}
            </Datagrid>
          </ListContextProvider>
        )}
      </CardContent>
    </Card>
  );
}

export function AuthSettings() {
  const [config, setConfig] = useState<Config>();
  const [error, setError] = useState<unknown>();
  const [saveError, setSaveError] = useState<unknown>();
  const notify = useNotify();
  useEffect(() => {
    api((c) => c.authConfig.authConfigList()).then((d) => setConfig(d as Config), setError);
  }, []);
  const writable = can('*');
  return (
    <Box sx={{ p: 2 }} data-testid="auth-settings">
      <Title title="Auth settings" />
      <ErrorBox error={error} title="The API refused the auth settings" />
      {config ? (
        <>
          <Card variant="outlined">
            <SimpleForm
              record={{ ...config, id: 'auth-config' }}
              toolbar={writable ? <Toolbar><SaveButton /></Toolbar> : false}
              onSubmit={async (form: Record<string, any>) => {
                setSaveError(undefined);
                try {
                  setConfig((await api((c) => c.authConfig.authConfigCreate(changes(form) as never))) as Config);
                  notify('Auth settings saved');
                } catch (err) {
                  setSaveError(err);
                }
              }}
            >
              <Typography variant="h6">Sign-in methods</Typography>
              <Box sx={{ display: 'flex', flexWrap: 'wrap', columnGap: 3 }}>
                <BooleanInput source="methods.email_password" label="Email and password" />
                <BooleanInput source="methods.magic_link" label="Magic link" />
                <BooleanInput source="methods.phone_otp" label="Phone OTP" />
                <BooleanInput source="methods.passkeys" label="Passkeys" />
                <BooleanInput source="methods.anonymous" label="Anonymous" />
              </Box>
              <Typography variant="h6">Signup</Typography>
              <Box sx={{ display: 'flex', flexWrap: 'wrap', columnGap: 3, alignItems: 'center' }}>
                <BooleanInput source="signup_enabled" label="Signup open" />
                <BooleanInput source="require_email_verification" label="Verify email first" />
                <TextInput source="default_role" label="Default role" />
              </Box>
              <Typography variant="h6">Password policy</Typography>
              <Box sx={{ display: 'flex', flexWrap: 'wrap', columnGap: 3, alignItems: 'center' }}>
                <NumberInput source="password_policy.min_length" label="Minimum length" />
                <BooleanInput source="password_policy.require_uppercase" label="Uppercase" />
                <BooleanInput source="password_policy.require_lowercase" label="Lowercase" />
                <BooleanInput source="password_policy.require_number" label="Number" />
                <BooleanInput source="password_policy.require_symbol" label="Symbol" />
              </Box>
              <Typography variant="h6">Sessions</Typography>
              <Box sx={{ display: 'flex', flexWrap: 'wrap', columnGap: 3 }}>
                <NumberInput source="access_token_ttl" label="Access token TTL (s)" />
                <NumberInput source="refresh_token_ttl" label="Refresh token TTL (s)" />
              </Box>
              <Typography variant="h6">MFA</Typography>
              <Box sx={{ display: 'flex', flexWrap: 'wrap', columnGap: 3, alignItems: 'center' }}>
                <BooleanInput source="mfa.required" label="Required for every user" />
                <TextInput source="mfa.issuer" label="TOTP issuer" />
              </Box>
              <Typography variant="h6">Passkeys</Typography>
              <Box sx={{ display: 'flex', flexWrap: 'wrap', columnGap: 3 }}>
                <TextInput source="passkeys.rp_id" label="Relying party id" />
                <TextInput source="passkeys.rp_name" label="Relying party name" />
                <TextInput source="passkeys.origins" label="Origins (one a line)" {...lines} multiline />
              </Box>
              <Typography variant="h6">Captcha</Typography>
              <Box sx={{ display: 'flex', flexWrap: 'wrap', columnGap: 3, alignItems: 'center' }}>
                <BooleanInput source="captcha.enabled" label="Captcha on signup" />
                <SelectInput source="captcha.provider" label="Provider" choices={[{ id: 'turnstile', name: 'Turnstile' }]} defaultValue="turnstile" />
                <TextInput source="captcha.site_key" label="Site key" />
                <TextInput source="captcha.secret_key" label={config.captcha?.secret_key_set ? 'Secret key (set; type to replace)' : 'Secret key'} type="password" />
              </Box>
              <Typography variant="h6">Redirects</Typography>
              <TextInput source="site_url" label="Site URL" fullWidth />
              <TextInput source="redirect_urls" label="Allowed redirect URLs (one a line)" {...lines} multiline fullWidth />
            </SimpleForm>
          </Card>
          <ErrorBox error={saveError} title="The API refused the settings" />
          <Providers title="OAuth providers" rows={config.oauth_providers ?? []} columns={['name', 'client_id', 'authorization_url', 'client_secret_set', 'trust_email']} to="/oauth-providers" />
          <Providers title="SAML providers" rows={config.saml_providers ?? []} columns={['name', 'entry_point', 'idp_issuer', 'email_attribute', 'allow_idp_initiated']} to="/saml-providers" />
        </>
      ) : null}
    </Box>
  );
}

// ------------------------------------------------------------------ OAuth and SAML providers

const NAME_HELP = 'Lower-case letters, digits, _ and - (max 40); the sign-in URL names it. Fixed once created.';
const words = { format: (v: unknown) => (Array.isArray(v) ? v.join(' ') : ((v as string) ?? '')), parse: (v: string) => v };

/** Edit and delete on a provider's row, for a caller with scope `*` (the server refuses anyone else anyway). */
function ProviderRowActions() {
  return (
    <IfCan scope="*">
      <EditButton />
      <DeleteButton mutationMode="pessimistic" redirect={false} />
    </IfCan>
  );
}

const listActions = (
  <IfCan scope="*">
    <TopToolbar>
      <CreateButton />
    </TopToolbar>
  </IfCan>
);

export const OAuthProviderList = () => (
  <ConsoleList resource="oauth-providers" title="OAuth providers" actions={can('*') ? listActions : false} sort={{ field: 'name', order: 'ASC' }} empty={false}>
    <Datagrid bulkActionButtons={false} rowClick={can('*') ? 'edit' : false}>
      <TextField source="name" />
      <TextField source="client_id" />
      <TextField source="authorization_url" />
      <BooleanField source="client_secret_set" label="Secret set" />
      <BooleanField source="trust_email" />
      <ProviderRowActions />
    </Datagrid>
  </ConsoleList>
);

function OAuthFields({ edit = false }: { edit?: boolean }) {
  const record = useRecordContext();
  return (
    <>
      <TextInput source="name" validate={required()} disabled={edit} helperText={NAME_HELP} />
      <TextInput source="client_id" label="Client id" validate={required()} fullWidth />
      {/* Write-only: the API never answers the secret; left empty on edit, the stored one is kept. */}
      <TextInput
        source="client_secret"
        label={edit ? (record?.client_secret_set ? 'Client secret (set; type to replace)' : 'Client secret (not set)') : 'Client secret'}
        type="password"
        autoComplete="new-password"
        helperText="Write-only: stored encrypted and never shown again"
        fullWidth
      />
      <TextInput source="authorization_url" label="Authorization URL" validate={required()} fullWidth helperText="Where browsers are sent to sign in" />
      <TextInput source="token_url" label="Token URL" validate={required()} fullWidth />
      <TextInput source="userinfo_url" label="Userinfo URL" fullWidth helperText="OAuth 2.0: where the profile is read" />
      <TextInput source="jwks_uri" label="JWKS URI" fullWidth helperText="OIDC: verifies the id_token" />
      <TextInput source="issuer" label="Issuer" fullWidth helperText="OIDC: the id_token's expected iss" />
      <TextInput source="scopes" label="Scopes (space separated)" {...words} fullWidth />
      <BooleanInput source="trust_email" label="Trust the provider's email as verified" />
    </>
  );
}

export const OAuthProviderCreate = () => (
  <ConsoleCreate resource="oauth-providers" title="New OAuth provider" redirect="list">
    <SimpleForm defaultValues={{ scopes: 'openid email profile', trust_email: true }}>
      <OAuthFields />
    </SimpleForm>
  </ConsoleCreate>
);

export const OAuthProviderEdit = () => (
  <ConsoleEdit resource="oauth-providers" title="Edit OAuth provider" redirect="list" actions={false}>
    <SimpleForm>
      <OAuthFields edit />
    </SimpleForm>
  </ConsoleEdit>
);

export const SamlProviderList = () => (
  <ConsoleList resource="saml-providers" title="SAML providers" actions={can('*') ? listActions : false} sort={{ field: 'name', order: 'ASC' }} empty={false}>
    <Datagrid bulkActionButtons={false} rowClick={can('*') ? 'edit' : false}>
      <TextField source="name" />
      <TextField source="entry_point" />
      <TextField source="idp_issuer" />
      <TextField source="email_attribute" />
      <BooleanField source="allow_idp_initiated" />
      <ProviderRowActions />
    </Datagrid>
  </ConsoleList>
);

function SamlFields({ edit = false }: { edit?: boolean }) {
  return (
    <>
      <TextInput source="name" validate={required()} disabled={edit} helperText={NAME_HELP} />
      <TextInput source="entry_point" label="IdP SSO URL (entry point)" validate={required()} fullWidth />
      <TextInput source="idp_issuer" label="IdP issuer" fullWidth />
      <TextInput source="idp_cert" label="IdP signing certificate (PEM or base64 DER)" validate={required()} multiline minRows={4} fullWidth sx={{ '& textarea': { fontFamily: 'monospace', fontSize: 12 } }} />
      <TextInput source="email_attribute" label="Email attribute" helperText="NameID is used when the attribute is absent" />
      <BooleanInput source="allow_idp_initiated" label="Accept IdP-initiated sign-in" />
    </>
  );
}

export const SamlProviderCreate = () => (
  <ConsoleCreate resource="saml-providers" title="New SAML provider" redirect="list">
    <SimpleForm defaultValues={{ email_attribute: 'email', allow_idp_initiated: false }}>
      <SamlFields />
    </SimpleForm>
  </ConsoleCreate>
);

export const SamlProviderEdit = () => (
  <ConsoleEdit resource="saml-providers" title="Edit SAML provider" redirect="list" actions={false}>
    <SimpleForm>
      <SamlFields edit />
    </SimpleForm>
  </ConsoleEdit>
);
