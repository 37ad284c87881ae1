/** A clock to inject into storages instead of sleeping. */
export class TestClock {
  #now: number;

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  /** The current time in ms; pass `clock.now` as a storage's `now` option. */
  readonly now = (): number => this.#now;

  /** Moves time forward. */
  advance(ms: number): void {
    this.#now += ms;
  }
}
