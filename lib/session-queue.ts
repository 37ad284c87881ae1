/**
 * `OperationQueue`: runs one session's operations one after another, in call order, and counts
 * those in flight (a session closes at once only when none is).
 * @module
 */

/** @internal */
export class OperationQueue {
  /** Settles after the last queued operation; `undefined` until the first one. */
  #tail: Promise<unknown> | undefined;
  #active = 0;
  readonly #settled: () => void;

  /** @param onSettled called after each operation settles, fulfilled or rejected. */
  constructor(onSettled: () => void) {
    this.#settled = () => {
      this.#active--;
      onSettled();
    };
  }

  /** Whether an operation was ever queued (the session was used). */
  get used(): boolean {
    return this.#tail !== undefined;
  }

  /** Whether no operation is in flight. */
  get idle(): boolean {
    return this.#active === 0;
  }

  /** Runs `op` now when idle (no extra microtask), else after the operations queued before it. */
  run<T>(op: () => Promise<T>): Promise<T> {
    const result = this.#active === 0 ? op() : (this.#tail as Promise<unknown>).then(op);
    this.#active++;
    this.#tail = result.then(this.#settled, this.#settled);
    return result;
  }
}
