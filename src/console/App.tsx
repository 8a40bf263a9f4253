// The shell: the sign-in page while nobody is signed in, the admin once someone is. Only this, the
// sign-in page and the SDK are in the first load; react-admin and every screen come in later chunks
// (Console.tsx and its screens, each group loaded when first opened).
import { lazy, Suspense, useEffect, useState } from 'react';
import { LoginPage } from './LoginPage.tsx';
import { loadSession, onSignInOrOut } from './session.ts';

const loadConsole = () => import('./Console.tsx');
const Console = lazy(loadConsole);

const Loading = () => <p style={{ padding: '2rem', color: '#555' }}>Loading the Plinth console…</p>;

export function App() {
  const [signedIn, setSignedIn] = useState(() => Boolean(loadSession()));
  useEffect(() => onSignInOrOut(() => setSignedIn(Boolean(loadSession()))), []);
  useEffect(() => {
    if (signedIn) return;
    // While the visitor types a credential, fetch the admin in the background so signing in does not wait for it.
    const idle = window.requestIdleCallback ?? ((fn: () => void) => window.setTimeout(fn, 300));
    idle(() => void loadConsole().catch(() => {}));
  }, [signedIn]);
  return signedIn ? (
    <Suspense fallback={<Loading />}>
      <Console />
    </Suspense>
  ) : (
    <LoginPage />
  );
}
