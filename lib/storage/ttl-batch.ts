/**
 * `TtlBatch`: collects the TTL refreshes of sessions that closed clean and sends them together, at
 * most once per interval (gsession refreshes every 10 s too, but one at a time). A read-only request
 * then costs its one read and nothing else on the request path. Shared by the Redis and SQL
 * storages; each says how to send through a {@link TtlSink}.
 * @internal
 * @module
 */
import { StorageError, describeCause } from '../errors';

/** The most refreshes one command or statement carries; larger batches are split. @internal */
export const TTL_CHUNK = 1000;

/** How a storage sends TTL refreshes. @internal */
export interface TtlSink {
  /** Sends one refresh now (TTLs too short to wait for the batch). */
  one(key: string, ttl: number): Promise<void>;
  /** Sends queued `[key, ttl]` refreshes; resolves how many failed and the first error. Never rejects. */
  many(entries: ReadonlyArray<readonly [string, number]>): Promise<{ failed: number; first: unknown }>;
}

/** Batches TTL refreshes for one storage. @internal */
export class TtlBatch {
  readonly #sink: TtlSink;
  readonly #storage: string;
  readonly #interval: number;
  readonly #onError: (err: StorageError) => void;
  /** Key -> TTL (ms) to apply; a later refresh of the same key replaces an earlier one. */
  #pending = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(sink: TtlSink, storage: string, interval: number, onError: (err: StorageError) => void) {
    this.#sink = sink;
    this.#storage = storage;
    this.#interval = interval;
    this.#onError = onError;
  }

  /** How many refreshes wait for the next flush. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Queues a refresh. A TTL shorter than two intervals could run out before the batch goes out, so
   * it is sent at once instead (and this resolves when the backend answered).
   */
  add(key: string, ttl: number): Promise<void> {
    if (ttl < 2 * this.#interval) return this.#sink.one(key, ttl);
    this.#pending.set(key, ttl);
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
   * of them failed; those are dropped, not retried (the session's next request refreshes it again).
   */
  async flush(): Promise<void> {
    this.stop();
    if (this.#pending.size === 0) return;
    const entries = [...this.#pending];
    this.#pending = new Map();
    const { failed, first } = await this.#sink.many(entries);
    if (failed > 0) {
      const reason = describeCause(first instanceof StorageError && first.cause !== undefined ? first.cause : first);
      throw new StorageError(this.#storage, 'updateTTL', `${failed} of ${entries.length} batched TTL refreshes failed: ${reason}`, { cause: first });
    }
  }

  /** Stops the timer; pending refreshes stay queued for a final {@link TtlBatch.flush}. */
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
