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

/** Real time plus an offset that tests advance; time keeps flowing between advances. */
export class FakeClock implements Clock {
  private offset = 0;

  now(): number {
    return Date.now() + this.offset;
  }

  advance(ms: number): void {
    this.offset += ms;
  }
}
