/**
 * `SqlStorageBase`: what `PostgresStorage` and `MysqlStorage` share: options, the one-time table
 * check, bounded queries (a deadline per call), batched TTL refreshes, the expiry sweep, key
 * validation and shutdown. Each subclass supplies the SQL of its server.
 * @internal
 * @module
 */
import { SessionOptionsError, SessionValueError, StorageError, describeCause } from '../../errors';
import { SqlTtlBatch } from './sql-ttl-batch';
import type { CompareAndSetResult, MoveOptions, SessionChanges, SessionRecord, Storage, WriteOptions } from '../storage';

/**
 * Options shared by `PostgresStorage` and `MysqlStorage`.
 * @example
 * ```ts
 * new PostgresStorage(pool, { table: 'app.sessions', createTable: false, sweepInterval: 3_600_000, queryTimeout: 1_000 });
 * ```
 */
export interface SqlStorageOptions {
  /**
   * The table holding the sessions: a plain identifier, optionally qualified by a schema
   * (`'app.sessions'`), letters, digits and `_` only. Give each application its own table when
   * they share a database.
   * @default 'sessionware_sessions'
   */
  readonly table?: string;
  /**
   * Creates the table and its index on first use when they are missing (`IF NOT EXISTS`; safe with
   * several processes). Turn it off when you manage the schema yourself (the README shows the SQL).
   * @default true
   */
  readonly createTable?: boolean;
  /**
   * How often the TTL refreshes of sessions that closed clean (read, not changed) are sent, in
   * milliseconds, as one `UPDATE` per distinct TTL. A refresh waits at most this long; sessions
   * whose TTL is shorter than twice this interval are refreshed at once. The `UPDATE` only touches
   * live rows, so a batched refresh cannot bring back a removed session.
   * @default 10_000
   */
  readonly updateTTLInterval?: number;
  /**
   * How often expired rows are deleted, in milliseconds, in batches of `sweepBatchSize` on an
   * `unref`'d timer (it never keeps the process alive); `false` turns the sweep off (expired rows
   * are never read either way: every statement checks `expires_at` on the database clock).
   * With several processes each sweeps; batches skip rows another sweep holds.
   * @default 600_000 (10 minutes)
   */
  readonly sweepInterval?: number | false;
  /**
   * The most rows one sweep statement deletes; a sweep repeats while batches come back full, up
   * to 100 batches.
   * @default 1_000
   */
  readonly sweepBatchSize?: number;
  /**
   * The most milliseconds one call (including waiting for a pool connection) may take before it
   * fails with a `StorageError` naming the operation, so requests fail fast while the database is
   * down. A call that timed out may still be carried out by the database later.
   * @default 2_000
   */
  readonly queryTimeout?: number;
  /**
   * Receives failures outside any request: batched TTL refreshes, sweeps, and `error` events of a
   * pool the storage created (or of your pool, when it has no `error` listener of its own).
   * Failures of calls made for a request reject that call instead.
   * @default logs the error with `console.error`
   */
  readonly onError?: (err: StorageError) => void;
}

/** The settled options. @internal */
export interface SqlSettings {
  readonly table: string;
  readonly createTable: boolean;
  readonly updateTTLInterval: number;
  readonly sweepInterval: number | false;
  readonly sweepBatchSize: number;
  readonly queryTimeout: number;
  readonly onError: (err: StorageError) => void;
}

const TABLE = /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/;
const MAX_SWEEP_BATCHES = 100;

/** Validates and settles the shared options; throws a `SessionOptionsError` naming the bad one. @internal */
export function sqlSettings(name: string, options: SqlStorageOptions): SqlSettings {
  const {
    table = 'sessionware_sessions',
    createTable = true,
    updateTTLInterval = 10_000,
    sweepInterval = 600_000,
    sweepBatchSize = 1_000,
    queryTimeout = 2_000,
    onError = logError,
  } = options;
  if (typeof table !== 'string' || !TABLE.test(table)) {
    throw new SessionOptionsError(`${name}: options.table must be an identifier such as 'sessionware_sessions' or 'app.sessions' (letters, digits, _).`);
  }
  if (typeof createTable !== 'boolean') throw new SessionOptionsError(`${name}: options.createTable must be true or false.`);
  positive(name, 'updateTTLInterval', updateTTLInterval);
  if (sweepInterval !== false) positive(name, 'sweepInterval', sweepInterval);
  if (!Number.isInteger(sweepBatchSize) || sweepBatchSize < 1) throw new SessionOptionsError(`${name}: options.sweepBatchSize must be a positive integer.`);
  positive(name, 'queryTimeout', queryTimeout);
  if (typeof onError !== 'function') throw new SessionOptionsError(`${name}: options.onError must be a function.`);
  return { table, createTable, updateTTLInterval, sweepInterval, sweepBatchSize, queryTimeout, onError };
}

function positive(name: string, option: string, value: unknown): void {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new SessionOptionsError(`${name}: options.${option} must be a positive, finite number of milliseconds.`);
  }
}

/** Shared implementation of the SQL storages. @internal */
export abstract class SqlStorageBase implements Storage {
  protected readonly settings: SqlSettings;
  readonly #name: string;
  readonly #batch: SqlTtlBatch;
  readonly #inflight = new Set<InFlight>();
  #deadlines: NodeJS.Timeout | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #sweeping = false;
  #ready: Promise<void> | undefined;
  #schemaDone = false;
  #closed = false;

  protected constructor(name: string, settings: SqlSettings) {
    this.#name = name;
    this.settings = settings;
    this.#batch = new SqlTtlBatch(name, settings.updateTTLInterval, (ids, ttl) => this.run('updateTTL', () => this.refreshMany(ids, ttl)), settings.onError);
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
    return new Promise<T>((resolve, reject) => {
      const call: InFlight = {
        deadline: Date.now() + this.settings.queryTimeout,
        expire: () => reject(new StorageError(this.#name, operation, `the database did not answer within ${this.settings.queryTimeout} ms (queryTimeout); is it reachable?`)),
      };
      this.#inflight.add(call);
      this.#deadlines ??= setInterval(() => this.#expire(), Math.min(100, Math.max(1, this.settings.queryTimeout / 10))).unref();
      const ready = this.#ensureSchema();
      const promise = ready ? ready.then(fn) : invoke(fn);
      promise.then(
        (value) => {
          this.#inflight.delete(call);
          resolve(value);
        },
        (err: unknown) => {
          this.#inflight.delete(call);
          reject(err instanceof StorageError || err instanceof SessionValueError ? err : new StorageError(this.#name, operation, this.explain(err), { cause: err }));
        },
      );
    });
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

  #expire(): void {
    const now = Date.now();
    for (const call of this.#inflight) {
      if (call.deadline <= now) {
        this.#inflight.delete(call);
        call.expire();
      }
    }
    if (this.#inflight.size === 0) {
      clearInterval(this.#deadlines);
      this.#deadlines = undefined;
    }
  }
}

/** A call waiting for the database, with its deadline. */
interface InFlight {
  readonly deadline: number;
  readonly expire: () => void;
}

function invoke<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Whole, positive milliseconds. @internal */
export function toTTL(ttl: number): number {
  return Math.max(1, Math.ceil(ttl));
}

/** Matches a lone UTF-16 surrogate, which UTF-8 cannot carry. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Rejects keys the database cannot hold verbatim: a lone surrogate (UTF-8 would replace it) and,
 * with `nul`, U+0000 (PostgreSQL text and jsonb cannot contain it).
 * @throws {SessionValueError} naming the key (escaped).
 * @internal
 */
export function checkKeys(storage: string, keys: Iterable<string>, nul: boolean): void {
  for (const key of keys) {
    if ((nul && key.includes('\u0000')) || LONE_SURROGATE.test(key)) {
      const what = nul && key.includes('\u0000') ? 'U+0000 (NUL)' : 'a lone UTF-16 surrogate';
      throw new SessionValueError(key, `${storage}: session key ${JSON.stringify(key)} contains ${what}, which the database cannot store; use another key name.`);
    }
  }
}

/** Applies `keep` to a record (after changes): only the kept keys survive. @internal */
export function keepOnly(record: Map<string, string>, keep: ReadonlySet<string> | undefined): Map<string, string> {
  if (!keep) return record;
  for (const key of record.keys()) if (!keep.has(key)) record.delete(key);
  return record;
}

/** Turns a stored `{key: jsonText}` object into a record; throws on anything else. @internal */
export function toRecord(data: unknown): Map<string, string> {
  const object = typeof data === 'string' ? (JSON.parse(data) as unknown) : data;
  if (object === null || typeof object !== 'object' || Array.isArray(object)) throw new TypeError('stored session is not a JSON object');
  const record = new Map<string, string>();
  for (const [key, value] of Object.entries(object as Record<string, unknown>)) {
    if (typeof value !== 'string') throw new TypeError('stored session value is not JSON text');
    record.set(key, value);
  }
  return record;
}

function logError(err: StorageError): void {
  console.error(`[sessionware] ${err.name} (${err.code}): ${err.message}`);
}
