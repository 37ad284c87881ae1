/**
 * `TtlBatch`: collects the TTL refreshes of sessions that closed clean and sends them together, at
 * most once per interval (gsession refreshes every 10 s too, but one `EXPIRE` at a time). A
 * read-only request then costs its one read and nothing else on the request path.
 * @internal
 * @module
 */
import { StorageError, describeCause } from '../../errors';
import type { RedisClient } from './redis-client';

/** The most `PEXPIRE`s sent in one pipeline; larger batches are split. */
const CHUNK = 1000;

/** Batches `PEXPIRE`s for a Redis storage. @internal */
export class TtlBatch {
  readonly #client: RedisClient;
  readonly #storage: string;
  readonly #interval: number;
  readonly #onError: (err: StorageError) => void;
  /** Session key -> TTL (ms) to apply; a later refresh of the same key replaces an earlier one. */
  #pending = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(client: RedisClient, storage: string, interval: number, onError: (err: StorageError) => void) {
    this.#client = client;
    this.#storage = storage;
    this.#interval = interval;
    this.#onError = onError;
  }

  /** How many refreshes wait for the next flush. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Queues `PEXPIRE key ttl`. A TTL shorter than two intervals could run out before the batch goes
   * out, so it is sent at once instead (and this resolves when Redis answered).
   */
  add(key: string, ttl: number): Promise<void> {
    if (ttl < 2 * this.#interval) return this.#client.call('updateTTL', 'PEXPIRE', key, ttl).then(() => undefined);
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
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size === 0) return;
    const entries = [...this.#pending];
    this.#pending = new Map();
    let failed = 0;
    let first: unknown;
    for (let i = 0; i < entries.length; i += CHUNK) {
      const result = await this.#client.pexpireMany('updateTTL', entries.slice(i, i + CHUNK));
      if (result.failed > 0 && failed === 0) first = result.first;
      failed += result.failed;
    }
    if (failed > 0) {
      throw new StorageError(this.#storage, 'updateTTL', `${failed} of ${entries.length} batched TTL refreshes failed: ${describeCause(first)}`, { cause: first });
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
