/**
 * What the in-memory counters of the request path share: they count per request without touching the
 * database and add their counts every `flushMs` (and once more on stop). At most one flush runs at a
 * time; a flush asked for while one runs gets that one.
 */
export abstract class PeriodicFlush {
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;

  constructor(protected readonly flushMs: number) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.flushMs);
    this.timer.unref();
  }

  flush(): Promise<void> {
    this.flushing ??= this.flushNow().finally(() => {
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
