/**
 * What the in-memory counters of the request path share: they count per request without touching the
 * database and add their counts every `flushMs` (and once more on stop). At most one flush runs at a
 * time. A flush asked for while one runs gets one more after it (shared by every caller meanwhile):
 * the running one took its batch before the caller's counts, and `flush()` promises those written.
 */
export abstract class PeriodicFlush {
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private queued?: Promise<void>;

  constructor(protected readonly flushMs: number) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.flushMs);
    this.timer.unref();
  }

  flush(): Promise<void> {
    if (this.flushing) {
      this.queued ??= this.flushing.catch(() => {}).then(() => {
        this.queued = undefined;
        return this.flush();
      });
      return this.queued;
    }
    this.flushing = this.flushNow().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  protected abstract flushNow(): Promise<void>;

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
