// The tenant's auth settings (GET/POST /v1/auth-config): sign-in methods, signup, password policy,
// token lifetimes, MFA, passkeys, captcha, redirects; OAuth and SAML providers are listed.
import { useEffect, useState } from 'react';
import { Box, Card, CardContent, Typography } from '@mui/material';
import {
  BooleanInput,
  Datagrid,
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
import { ErrorBox } from '../ui.tsx';

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

function Providers({ title, rows, columns }: { title: string; rows: Config[]; columns: string[] }) {
  const list = useList({ data: rows.map((r) => ({ ...r, id: r.name })) });
  return (
    <Card variant="outlined" sx={{ mt: 2 }}>
      <CardContent>
        <Typography variant="h6">{title}</Typography>
        {rows.length === 0 ? (
          <Typography variant="body2">None configured (set them with POST /v1/auth-config or the CLI).</Typography>
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
          <Providers title="OAuth providers" rows={config.oauth_providers ?? []} columns={['name', 'client_id', 'authorization_url', 'client_secret_set', 'trust_email']} />
          <Providers title="SAML providers" rows={config.saml_providers ?? []} columns={['name', 'entry_point', 'idp_issuer', 'email_attribute', 'allow_idp_initiated']} />
        </>
      ) : null}
    </Box>
  );
}
