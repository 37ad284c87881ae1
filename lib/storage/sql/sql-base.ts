/**
 * `SqlStorageBase`: what `PostgresStorage` and `MysqlStorage` share: the one-time table check,
 * bounded queries (a deadline per call), batched TTL refreshes, the expiry sweep and shutdown.
 * Each subclass supplies the SQL of its server.
 * @internal
 * @module
 */
import { SessionValueError, StorageError, describeCause } from '../../errors';
import { Deadlines } from '../deadlines';
import { TtlBatch } from '../ttl-batch';
import { sqlTtlSink } from './sql-ttl-batch';
import { toTTL } from './sql-values';
import type { SqlSettings } from './sql-options';
import type { CompareAndSetResult, MoveOptions, SessionChanges, SessionRecord, Storage, WriteOptions } from '../storage';

const MAX_SWEEP_BATCHES = 100;

/** Shared implementation of the SQL storages. @internal */
export abstract class SqlStorageBase implements Storage {
  protected readonly settings: SqlSettings;
  readonly #name: string;
  readonly #batch: TtlBatch;
  readonly #deadlines: Deadlines;
  #sweeper: NodeJS.Timeout | undefined;
  #sweeping = false;
  #ready: Promise<void> | undefined;
  #schemaDone = false;
  #closed = false;

  protected constructor(name: string, settings: SqlSettings) {
    this.#name = name;
    this.settings = settings;
    this.#deadlines = new Deadlines(settings.queryTimeout);
    this.#batch = new TtlBatch(sqlTtlSink((ids, ttl) => this.run('updateTTL', () => this.refreshMany(ids, ttl))), name, settings.updateTTLInterval, settings.onError);
    if (settings.sweepInterval !== false) {
      this.#sweeper = setInterval(() => void this.#sweepQuietly(), settings.sweepInterval);
      this.#sweeper.unref();
    }
  }

  abstract getSession(id: string, ttl?: number): Promise<SessionRecord | undefined>;
  abstract setSession(id: string, changes: SessionChanges, ttl: number, options: WriteOptions): Promise<boolean>;
  abstract removeAll(id: string): Promise<boolean>;
  abstract moveSession(oldId: string, newId: string, changes: SessionChanges, ttl: number, options: MoveOptions): Promise<SessionRecord | undefined>;
  abstract compareAndSet(id: string, key: string, expected: string | undefined, next: string | undefined, ttl: number, options: WriteOptions): Promise<CompareAndSetResult>;
  abstract count(): Promise<number>;

  /** Creates the table and index if missing (`IF NOT EXISTS`). */
  protected abstract createSchema(): Promise<void>;
  /** Extends the TTL of the live, non-forward rows among `ids` (one statement). */
  protected abstract refreshMany(ids: readonly string[], ttl: number): Promise<void>;
  /** Deletes up to `limit` expired rows; resolves how many it deleted. */
  protected abstract sweepBatch(limit: number): Promise<number>;
  /** Closes the pool if the storage created it. */
  protected abstract closePool(): Promise<void>;

  /** How many TTL refreshes wait for the next batch. */
  get pendingTTLUpdates(): number {
    return this.#batch.size;
  }

  /** Queues the refresh for the next batch (sent at once for short TTLs); never creates a session. */
  updateTTL(id: string, ttl: number): Promise<void> {
    return this.#batch.add(id, toTTL(ttl));
  }

  /**
   * Sends the queued TTL refreshes now instead of waiting for the interval.
   * @throws {StorageError} (operation `updateTTL`) when some of them failed.
   */
  flush(): Promise<void> {
    return this.#batch.flush();
  }

  /**
   * Deletes expired rows now, in batches of `sweepBatchSize` (what the timer does). Resolves how
   * many rows were deleted.
   * @throws {StorageError} (operation `sweep`) when the database fails.
   */
  async sweep(): Promise<number> {
    let total = 0;
    for (let i = 0; i < MAX_SWEEP_BATCHES; i++) {
      const n = await this.run('sweep', () => this.sweepBatch(this.settings.sweepBatchSize));
      total += n;
      if (n < this.settings.sweepBatchSize) break;
    }
    return total;
  }

  /**
   * Stops the timers, flushes queued TTL refreshes (a failure goes to `onError`) and closes the
   * pool if the storage created it. A pool you passed in stays open.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#batch.stop();
    try {
      await this.#batch.flush();
    } catch (err) {
      this.report(err instanceof StorageError ? err : new StorageError(this.#name, 'updateTTL', describeCause(err), { cause: err }));
    }
    await this.closePool();
  }

  /**
   * Runs one storage call: waits for the table check (first call only), bounds it by
   * `queryTimeout` and turns every failure into a `StorageError` naming `operation`.
   */
  protected run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    return this.#deadlines.bound(
      () => {
        const ready = this.#ensureSchema();
        return ready ? ready.then(fn) : fn();
      },
      () => new StorageError(this.#name, operation, `the database did not answer within ${this.settings.queryTimeout} ms (queryTimeout); is it reachable?`),
      (err) => (err instanceof StorageError || err instanceof SessionValueError ? err : new StorageError(this.#name, operation, this.explain(err), { cause: err })),
    );
  }

  /** A one-line reason for a database error, safe to log; subclasses add what to do about known ones. */
  protected explain(err: unknown): string {
    return describeCause(err);
  }

  /** Hands a background failure to `onError` (a throwing hook is logged, never rethrown). */
  protected report(err: StorageError): void {
    try {
      this.settings.onError(err);
    } catch (hookErr) {
      console.error('[sessionware] options.onError threw:', hookErr);
    }
  }

  /** The table check, once per storage; a failed check is retried by the next call. */
  #ensureSchema(): Promise<void> | undefined {
    if (!this.settings.createTable || this.#schemaDone) return undefined;
    this.#ready ??= this.createSchema().then(
      () => {
        this.#schemaDone = true; // later calls skip the await
      },
      (err: unknown) => {
        this.#ready = undefined;
        throw err;
      },
    );
    return this.#ready;
  }

  async #sweepQuietly(): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    try {
      await this.sweep();
    } catch (err) {
      this.report(err as StorageError);
    } finally {
      this.#sweeping = false;
    }
  }
}
