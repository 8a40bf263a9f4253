/**
 * Writes that arrive while earlier ones are in flight go out together: the items added in one turn of
 * the event loop, or while `maxInFlight` groups are being written, are split by tenant and handed to
 * `write` as one group per tenant (one transaction bound to that tenant). A transaction per item cost a
 * BEGIN, a COMMIT and a WAL flush each; grouped, one commit carries hundreds. Nothing waits for a timer:
 * an item on an idle server goes out at once. Each item settles its own caller (`write` resolves or
 * rejects it), so a caller is answered only once the transaction holding its item has committed.
 */
export class TenantGroups<T> {
  private queue: T[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly options: {
      /** Items in one group at most. */
      maxGroup: number;
      /** Groups being written at once; items that arrive meanwhile wait for the next. */
      maxInFlight: number;
      tenantOf: (item: T) => string;
      write: (tenantId: string, items: T[]) => Promise<void>;
    },
  ) {}

  add(item: T): void {
    this.queue.push(item);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxGroup);
        this.inFlight += 1;
        void this.flush(batch).finally(() => {
          this.inFlight -= 1;
          if (this.queue.length > 0) this.schedule();
        });
      }
    });
  }

  private async flush(batch: T[]): Promise<void> {
    const byTenant = new Map<string, T[]>();
    for (const item of batch) {
      const tenantId = this.options.tenantOf(item);
      const list = byTenant.get(tenantId);
      if (list) list.push(item);
      else byTenant.set(tenantId, [item]);
    }
    await Promise.all([...byTenant].map(([tenantId, group]) => this.options.write(tenantId, group)));
  }
}
