/**
 * The options `PostgresStorage` and `MysqlStorage` share, and their validation.
 * @module
 */
import { SessionOptionsError, type StorageError } from '../../errors';

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

function logError(err: StorageError): void {
  console.error(`[sessionware] ${err.name} (${err.code}): ${err.message}`);
}
