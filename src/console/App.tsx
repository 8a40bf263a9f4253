// The shell: the sign-in page while nobody is signed in, the admin once someone is. Only this, the
// sign-in page and the SDK are in the first load; react-admin and every screen come in later chunks
// (Console.tsx and its screens, each group loaded when first opened).
import { Component, lazy, Suspense, useEffect, useState, type ReactNode } from 'react';
import { LoginPage } from './LoginPage.tsx';
import { loadSession, onSignInOrOut } from './session.ts';

const loadConsole = () => import('./Console.tsx');
const Console = lazy(loadConsole);

const Loading = () => <p style={{ padding: '2rem', color: '#555' }}>Loading the Plinth console…</p>;

/** A chunk that failed to load (the server restarted with a new build, the network dropped) is said, not a blank page. */
class LoadError extends Component<{ children: ReactNode }, { error?: Error }> {
  state: { error?: Error } = {};
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  render() {
    if (!this.state.error) return this.props.children;
    return (
      <div role="alert" style={{ padding: '2rem', fontFamily: 'system-ui, sans-serif' }} data-testid="api-error">
        <p>The console could not load: {this.state.error.message}</p>
        <button type="button" onClick={() => window.location.reload()}>
          Reload
        </button>
      </div>
    );
  }
}

export function App() {
  const [signedIn, setSignedIn] = useState(() => Boolean(loadSession()));
  useEffect(() => onSignInOrOut(() => setSignedIn(Boolean(loadSession()))), []);
  useEffect(() => {
    if (signedIn) return;
    // Fetch the admin in the background once the visitor starts on the form (or after 2 s), so that
    // signing in does not wait for it; not at once, where it would compete with the first paint.
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      void loadConsole().catch(() => {});
    };
    const events = ['pointerdown', 'keydown', 'focusin'] as const;
    for (const e of events) window.addEventListener(e, start, { capture: true, once: true });
    const timer = window.setTimeout(start, 2000);
    return () => {
      window.clearTimeout(timer);
      for (const e of events) window.removeEventListener(e, start, { capture: true });
    };
  }, [signedIn]);
  return signedIn ? (
    <LoadError>
      <Suspense fallback={<Loading />}>
        <Console />
      </Suspense>
    </LoadError>
  ) : (
    <LoginPage />
  );
}
