/**
 * `SqlTtlBatch`: collects the TTL refreshes of sessions that closed clean and sends them as one
 * `UPDATE` per distinct TTL (in chunks), at most once per interval, so a read-only request costs
 * its one `SELECT` and nothing else on the request path.
 * @internal
 * @module
 */
import { StorageError, describeCause } from '../../errors';

/** The most ids one refresh statement carries; larger batches are split. */
const CHUNK = 1000;

/** Sends one refresh statement for `ids` (sorted) with `ttl` ms. */
export type RefreshMany = (ids: readonly string[], ttl: number) => Promise<void>;

/** Batches TTL refreshes for a SQL storage. @internal */
export class SqlTtlBatch {
  readonly #storage: string;
  readonly #interval: number;
  readonly #send: RefreshMany;
  readonly #onError: (err: StorageError) => void;
  /** Session id -> TTL (ms); a later refresh of the same id replaces an earlier one. */
  #pending = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(storage: string, interval: number, send: RefreshMany, onError: (err: StorageError) => void) {
    this.#storage = storage;
    this.#interval = interval;
    this.#send = send;
    this.#onError = onError;
  }

  /** How many refreshes wait for the next flush. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Queues a refresh. A TTL shorter than two intervals could run out before the batch goes out, so
   * it is sent at once instead (and this resolves when the database answered).
   */
  add(id: string, ttl: number): Promise<void> {
    if (ttl < 2 * this.#interval) return this.#send([id], ttl);
    this.#pending.set(id, ttl);
    if (!this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush().catch((err: unknown) => this.#report(err));
      }, this.#interval);
      this.#timer.unref();
    }
    return Promise.resolve();
  }

  /**
   * Sends every queued refresh now. Rejects with a `StorageError` (operation `updateTTL`) when some
   * failed; those are dropped, not retried (the session's next request refreshes it again).
   */
  async flush(): Promise<void> {
    this.stop();
    if (this.#pending.size === 0) return;
    const byTTL = new Map<number, string[]>();
    for (const [id, ttl] of this.#pending) {
      const ids = byTTL.get(ttl);
      if (ids) ids.push(id);
      else byTTL.set(ttl, [id]);
    }
    const total = this.#pending.size;
    this.#pending = new Map();
    let failed = 0;
    let first: unknown;
    for (const [ttl, ids] of byTTL) {
      ids.sort(); // one lock order for every process: no deadlocks between batches
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        try {
          await this.#send(chunk, ttl);
        } catch (err) {
          if (failed === 0) first = err;
          failed += chunk.length;
        }
      }
    }
    if (failed > 0) {
      throw new StorageError(this.#storage, 'updateTTL', `${failed} of ${total} batched TTL refreshes failed: ${describeCause(first instanceof StorageError && first.cause !== undefined ? first.cause : first)}`, { cause: first });
    }
  }

  /** Stops the timer; pending refreshes stay queued for a final {@link SqlTtlBatch.flush}. */
  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #report(err: unknown): void {
    const error = err instanceof StorageError ? err : new StorageError(this.#storage, 'updateTTL', describeCause(err), { cause: err });
    try {
      this.#onError(error);
    } catch (hookErr) {
      console.error('[sessionware] options.onError threw:', hookErr);
    }
  }
}
