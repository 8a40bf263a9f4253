/**
 * Where scheduling code reads the time. Retry schedules, leases and secret grace periods are computed
 * from `kernel.clock`, never from Date.now() directly, so tests can move time forward by hours without
 * waiting (database timestamps such as created_at still come from the database).
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Real time plus an offset that tests advance; time keeps flowing between advances unless paused. */
export class FakeClock implements Clock {
  private offset = 0;
  private paused: number | null = null;

  now(): number {
    return this.paused ?? Date.now() + this.offset;
  }

  /** Stops the flow: only `advance` moves the time until `resume` (a schedule no slow machine can overtake). */
  pause(): void {
    this.paused = this.now();
  }

  resume(): void {
    if (this.paused === null) return;
    this.offset = this.paused - Date.now();
    this.paused = null;
  }

  advance(ms: number): void {
    this.offset += ms;
    if (this.paused !== null) this.paused += ms;
  }
}
