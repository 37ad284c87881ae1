/**
 * `KeyLock`: a mutex per session id, inside one process. Calls for the same id run one after the
 * other, in arrival order; calls for different ids run in parallel.
 * @internal
 * @module
 */

/** Per-id mutexes. An id without waiters holds no memory. @internal */
export class KeyLock {
  /** The promise the last waiter of each id resolves when it releases. */
  readonly #tails = new Map<string, Promise<void>>();

  /**
   * Runs `fn` while holding the locks of every id in `keys` (taken in sorted order, so two calls
   * that need the same ids never deadlock), and releases them however `fn` ends.
   */
  async run<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const releases: Array<() => void> = [];
    try {
      for (const key of sorted) releases.push(await this.#acquire(key));
      return await fn();
    } finally {
      for (const release of releases.reverse()) release();
    }
  }

  /** How many ids have a holder or waiters (for tests and leak checks). */
  get size(): number {
    return this.#tails.size;
  }

  #acquire(key: string): Promise<() => void> {
    const previous = this.#tails.get(key);
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const tail = previous ? previous.then(() => done) : done;
    this.#tails.set(key, tail);
    const unlock = (): void => {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
    return previous ? previous.then(() => unlock) : Promise.resolve(unlock);
  }
}
