/**
 * `Deadlines`: bounds every call a network storage makes with a timeout, checked by one `unref`'d
 * sweep timer rather than a timer per call (a timer per call costs more than the call itself on the
 * hot path). Shared by the Redis and memcache clients.
 * @internal
 * @module
 */

/** A call waiting for its server, with its deadline. */
interface InFlight {
  readonly deadline: number;
  readonly expire: () => void;
}

/** Timeouts for the calls of one client. @internal */
export class Deadlines {
  readonly #timeout: number;
  readonly #inflight = new Set<InFlight>();
  #sweeper: NodeJS.Timeout | undefined;

  /** @param timeout milliseconds a call may take. */
  constructor(timeout: number) {
    this.#timeout = timeout;
  }

  /** Milliseconds a call may take. */
  get timeout(): number {
    return this.#timeout;
  }

  /**
   * Runs `fn`; rejects with `timedOut()` once the timeout passed without an answer, and with
   * `failed(err)` when `fn` fails (or throws). A late answer after the timeout is ignored.
   */
  bound<T>(fn: () => Promise<T>, timedOut: () => Error, failed: (err: unknown) => unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call: InFlight = { deadline: Date.now() + this.#timeout, expire: () => reject(timedOut()) };
      this.#inflight.add(call);
      this.#sweeper ??= setInterval(() => this.#sweep(), Math.min(100, Math.max(1, this.#timeout / 10))).unref();
      let promise: Promise<T>;
      try {
        promise = fn();
      } catch (err) {
        promise = Promise.reject(err);
      }
      promise.then(
        (value) => {
          this.#inflight.delete(call);
          resolve(value);
        },
        (err: unknown) => {
          this.#inflight.delete(call);
          reject(failed(err));
        },
      );
    });
  }

  /** Fails the calls past their deadline; stops itself when nothing is in flight. */
  #sweep(): void {
    const now = Date.now();
    for (const call of this.#inflight) {
      if (call.deadline <= now) {
        this.#inflight.delete(call);
        call.expire();
      }
    }
    if (this.#inflight.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }
}
