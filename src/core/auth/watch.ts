import type { Kernel } from '../kernel.ts';
import { AUTH_INVALIDATE_CHANNEL, IDENTITY_INVALIDATE_CHANNEL } from './principal.ts';

type Revoke = () => void;

/**
 * Long-lived connections (SSE streams, WebSockets) authenticate once, when they open. When a key or
 * tenant changes (AUTH_INVALIDATE_CHANNEL), or a user's sessions, status or roles or the tenant's
 * governance change (IDENTITY_INVALIDATE_CHANNEL: logout, ban, deletion, session revocation), every
 * connection of that tenant has its token resolved again, once per distinct token, and those whose
 * credential no longer works are closed.
 */
class CredentialWatch {
  private readonly tenants = new Map<string, Map<string, Set<Revoke>>>();
  private readonly unsubscribe: () => void;

  constructor(private readonly kernel: Kernel) {
    // Rechecked on the next turn, so that the resolvers' own handlers of the same message have dropped
    // their caches first, whatever the order of subscription.
    const onMessage = (message: string) => void setImmediate(() => void this.recheck(message));
    const unsubscribers = [kernel.bus.subscribe(AUTH_INVALIDATE_CHANNEL, onMessage), kernel.bus.subscribe(IDENTITY_INVALIDATE_CHANNEL, onMessage)];
    this.unsubscribe = () => unsubscribers.forEach((u) => u());
  }

  watch(tenantId: string, token: string, onRevoked: Revoke): () => void {
    let tokens = this.tenants.get(tenantId);
    if (!tokens) this.tenants.set(tenantId, (tokens = new Map()));
    let revokes = tokens.get(token);
    if (!revokes) tokens.set(token, (revokes = new Set()));
    revokes.add(onRevoked);
    return () => {
      const set = this.tenants.get(tenantId)?.get(token);
      set?.delete(onRevoked);
      if (set?.size === 0) this.tenants.get(tenantId)!.delete(token);
      if (this.tenants.get(tenantId)?.size === 0) this.tenants.delete(tenantId);
    };
  }

  private async recheck(message: string): Promise<void> {
    // Messages name a tenant; one this process does not know may be about any connection.
    const tenantIds = this.tenants.has(message) ? [message] : [...this.tenants.keys()];
    for (const tenantId of tenantIds) {
      for (const [token, revokes] of [...(this.tenants.get(tenantId) ?? [])]) {
        if (!(await this.stillValid(tenantId, token))) for (const revoke of [...revokes]) revoke();
      }
    }
  }

  private async stillValid(tenantId: string, token: string): Promise<boolean> {
    try {
      const principal = await this.kernel.principals.resolve(token);
      if (!principal || principal.kind === 'admin' || principal.tenant.id !== tenantId) return false;
      if (principal.tenant.status !== 'active') return false;
      if (principal.kind === 'api_key' && principal.expiresAt && principal.expiresAt.getTime() <= this.kernel.clock.now()) return false;
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    this.unsubscribe();
    this.tenants.clear();
  }
}

const watches = new WeakMap<Kernel, CredentialWatch>();

/** Calls `onRevoked` when the token stops being a valid credential of the tenant; returns the un-watch. */
export function watchCredential(kernel: Kernel, tenantId: string, token: string, onRevoked: Revoke): () => void {
  let watch = watches.get(kernel);
  if (!watch) {
    const created = new CredentialWatch(kernel);
    watches.set(kernel, (watch = created));
    kernel.onClose(() => created.close());
  }
  return watch.watch(tenantId, token, onRevoked);
}
