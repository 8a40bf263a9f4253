import { useState } from 'react';
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

  // Plain elements styled by index.html: the sign-in page is the first paint, and needs no UI library.
  const field = (label: string, input: React.InputHTMLAttributes<HTMLInputElement>, help?: string) => (
    <label className="field">
      <span>
        {label}
        {input.required ? ' *' : ''}
      </span>
      <input {...input} />
      {help ? <small>{help}</small> : null}
    </label>
  );
  const tabButton = (value: 'key' | 'user', label: string) => (
    <button type="button" role="tab" aria-selected={tab === value} className={tab === value ? 'tab on' : 'tab'} onClick={() => (setTab(value), setError(undefined))}>
      {label}
    </button>
  );

  return (
    <main className="login">
      <section className="login-card">
        <h1>Plinth console</h1>
        <div role="tablist" className="tabs">
          {tabButton('key', 'API key')}
          {tabButton('user', 'User')}
        </div>
        {error ? (
          <div role="alert" className="login-error" data-testid="login-error">
            {error}
          </div>
        ) : null}
        {tab === 'key' ? (
          <form onSubmit={run(async () => finish(await signInWithKey(key.trim())))}>
            {field('API key', { type: 'password', value: key, onChange: (e) => setKey(e.target.value), autoFocus: true, required: true, name: 'api-key' }, 'A tenant key (sk_...) or the system admin key (PLINTH_ADMIN_KEY)')}
            <button type="submit" className="primary" disabled={busy}>
              Sign in
            </button>
          </form>
        ) : mfa ? (
          <form onSubmit={run(async () => finish(await completeMfa(pk.trim(), mfa.ticket, mfa.factorId, code.trim())))}>
            <p>Enter the code from your authenticator app.</p>
            {field('MFA code', { value: code, onChange: (e) => setCode(e.target.value), autoFocus: true, required: true, name: 'mfa-code', inputMode: 'numeric', autoComplete: 'one-time-code' })}
            <button type="submit" className="primary" disabled={busy}>
              Verify
            </button>
            <button type="button" className="plain" onClick={() => setMfa(undefined)}>
              Back
            </button>
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
            {field('Publishable key', { value: pk, onChange: (e) => setPk(e.target.value), required: true, name: 'publishable-key' }, "The tenant's pk_... key (scope auth): which tenant you sign in to")}
            {field('Email', { type: 'email', value: email, onChange: (e) => setEmail(e.target.value), required: true, name: 'email', autoComplete: 'username' })}
            {field('Password', { type: 'password', value: password, onChange: (e) => setPassword(e.target.value), required: true, name: 'password', autoComplete: 'current-password' })}
            <button type="submit" className="primary" disabled={busy}>
              Sign in
            </button>
          </form>
        )}
      </section>
    </main>
  );
}
