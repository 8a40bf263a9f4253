import { useState } from 'react';
import { Alert, Box, Button, Card, CardContent, Stack, Tab, Tabs, TextField, Typography } from '@mui/material';
import { completeMfa, signInAsUser, signInWithKey } from './auth.ts';
import { errorMessage, saveSession, type Session } from './session.ts';

const REMEMBERED_PK = 'plinth.console.publishable-key';

/** Sign in with an API key (a tenant's or the system admin key), or as a tenant user with MFA when asked. */
export function LoginPage() {
  const [tab, setTab] = useState<'key' | 'user'>('key');
  const [key, setKey] = useState('');
  const [pk, setPk] = useState(() => localStorage.getItem(REMEMBERED_PK) ?? '');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [mfa, setMfa] = useState<{ ticket: string; factorId: string }>();
  const [code, setCode] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const finish = async (session: Session) => {
    window.location.hash = session.kind === 'admin' ? '#/tenants' : '#/';
    saveSession(session);
  };
  const run = (fn: () => Promise<void>) => async (e: React.FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setBusy(true);
    try {
      await fn();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Box sx={{ minHeight: '100vh', display: 'flex', alignItems: 'center', justifyContent: 'center', bgcolor: '#eef1f5' }}>
      <Card sx={{ width: 420 }}>
        <CardContent>
          <Typography variant="h5" gutterBottom>
            Plinth console
          </Typography>
          <Tabs value={tab} onChange={(_e, v) => (setTab(v), setError(undefined))} sx={{ mb: 2 }}>
            <Tab value="key" label="API key" />
            <Tab value="user" label="User" />
          </Tabs>
          {error ? (
            <Alert severity="error" sx={{ mb: 2 }} data-testid="login-error">
              {error}
            </Alert>
          ) : null}
          {tab === 'key' ? (
            <form onSubmit={run(async () => finish(await signInWithKey(key.trim())))}>
              <Stack spacing={2}>
                <TextField label="API key" type="password" value={key} onChange={(e) => setKey(e.target.value)} autoFocus required name="api-key" helperText="A tenant key (sk_...) or the system admin key (PLINTH_ADMIN_KEY)" />
                <Button type="submit" variant="contained" disabled={busy}>
                  Sign in
                </Button>
              </Stack>
            </form>
          ) : mfa ? (
            <form onSubmit={run(async () => finish(await completeMfa(pk.trim(), mfa.ticket, mfa.factorId, code.trim())))}>
              <Stack spacing={2}>
                <Typography>Enter the code from your authenticator app.</Typography>
                <TextField label="MFA code" value={code} onChange={(e) => setCode(e.target.value)} autoFocus required name="mfa-code" slotProps={{ htmlInput: { inputMode: 'numeric', autoComplete: 'one-time-code' } }} />
                <Button type="submit" variant="contained" disabled={busy}>
                  Verify
                </Button>
                <Button onClick={() => setMfa(undefined)}>Back</Button>
              </Stack>
            </form>
          ) : (
            <form
              onSubmit={run(async () => {
                localStorage.setItem(REMEMBERED_PK, pk.trim());
                const step = await signInAsUser(pk.trim(), email.trim(), password);
                if ('mfa' in step) setMfa(step.mfa);
                else await finish(step.done);
              })}
            >
              <Stack spacing={2}>
                <TextField label="Publishable key" value={pk} onChange={(e) => setPk(e.target.value)} required name="publishable-key" helperText="The tenant's pk_... key (scope auth): which tenant you sign in to" />
                <TextField label="Email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} required name="email" autoComplete="username" />
                <TextField label="Password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} required name="password" autoComplete="current-password" />
                <Button type="submit" variant="contained" disabled={busy}>
                  Sign in
                </Button>
              </Stack>
            </form>
          )}
        </CardContent>
      </Card>
    </Box>
  );
}
