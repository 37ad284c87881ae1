/**
 * `MysqlStorage`: each session is one row (`id`, `data JSON`, `expires_at DATETIME(3)` UTC,
 * `forward_to`) in a MariaDB or MySQL 8 table. A read-only request costs one `SELECT`.
 * @module
 */
import { createPool, type Pool, type PoolOptions, type ResultSetHeader, type RowDataPacket } from 'mysql2';
import { CorruptSessionError, SessionOptionsError, StorageError, describeCause } from '../../errors';
import { SqlStorageBase } from '../sql/sql-base';
import { sqlSettings, type SqlStorageOptions } from '../sql/sql-options';
import { checkKeys, keepOnly, toRecord, toTTL } from '../sql/sql-values';
import { MysqlStatements, keyPath, quoteMysqlTable } from './mysql-sql';
import { MysqlOwnerStatements } from './mysql-owner';
import { movedOwner, ownerChange, ownerChangeOfKey, ownerDigest } from '../sql/sql-owner';
import type { CompareAndSetResult, MoveOptions, OwnedSession, SessionChanges, SessionRecord, WriteOptions } from '../storage';

/**
 * Options of {@link MysqlStorage}: `table` (default `'sessionware_sessions'`), `createTable`
 * (default `true`), `updateTTLInterval` (default `10_000`), `sweepInterval` (default `600_000`),
 * `sweepBatchSize` (default `1_000`), `queryTimeout` (default `2_000`) and `onError` (default:
 * `console.error`). See {@link SqlStorageOptions} for each.
 */
export interface MysqlStorageOptions extends SqlStorageOptions {}

/**
 * What a `MysqlStorage` connects with: your mysql2 pool (from `mysql2` or `mysql2/promise`; left
 * open by `close()`), mysql2 pool options, or a `mysql://` URL (the storage then creates the pool,
 * with `connectTimeout` = `queryTimeout` unless you set it, and closes it).
 */
export type MysqlConnection = Pool | { readonly pool: Pool } | PoolOptions | string;

/** The most forwards a write follows (see `moveSession`). */
const HOPS = 4;
/** How often a compare-and-set is retried when its row changed between its check and its lock. */
const RACES = 3;
/** `ER_LOCK_DEADLOCK`: InnoDB rolled the statement back; it is safe to run again. */
const DEADLOCK = 1213;

type Row = RowDataPacket & Record<string, unknown>;

/**
 * Keeps sessions in a MariaDB (≥ 10.4.5) or MySQL 8 table, on the database clock, through mysql2.
 *
 * - **Read** (`getSession`): one `SELECT` by primary key.
 * - **Dirty close** (`setSession`): one statement: nested single-path `JSON_REMOVE`s for the
 *   removed keys, then a null-free `JSON_MERGE_PATCH` of the set ones (the forms that MariaDB
 *   gets right); with `create: false` an `UPDATE … WHERE` live that never revives a removed or
 *   expired session, with `create: true` an `INSERT … ON DUPLICATE KEY UPDATE`.
 * - **Clean close** (`updateTTL`): batched into one `UPDATE … WHERE id IN (…)` (ids sorted) per interval.
 * - **Logout** (`removeAll`): one `DELETE`. **`compareAndSet`** and **`count`**: one statement.
 *   **Regenerate** (`moveSession`): one two-row `INSERT … SELECT … ON DUPLICATE KEY UPDATE`
 *   (resolving only the keys it wrote: MySQL has no `RETURNING`). A write to an id that matched
 *   no live session costs one more `SELECT` to find out whether the id forwards to a new one.
 * - Expired rows are deleted in bounded batches on an `unref`'d timer.
 * - **Owner index** (`setOwner`, `sessionsOf`, `revoke`): an indexed `owner` column (a SHA-256
 *   digest of the owner) written by the same statement that writes `$sw:owner` and moved with the
 *   session; `addOwner` costs nothing, `ownerSessions` and `forgetOwner` one statement each;
 *   reads are unchanged. `createTable` adds the column and index to an older table.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import mysql from 'mysql2';
 * import { session } from 'sessionware';
 * import { MysqlStorage } from 'sessionware/mysql';
 *
 * const storage = new MysqlStorage(mysql.createPool(process.env.MYSQL_URL!));
 * const app = express();
 * app.use(session(storage));
 * process.on('SIGTERM', () => void storage.close());
 * ```
 * @example Let the storage create (and close) its pool
 * ```ts
 * const storage = new MysqlStorage('mysql://app@db/app', { table: 'web_sessions' });
 * ```
 */
export class MysqlStorage extends SqlStorageBase {
  /** The mysql2 (callback) pool in use: yours (unwrapped from a `mysql2/promise` pool), or the storage's. */
  readonly pool: Pool;
  readonly #owned: boolean;
  readonly #sql: MysqlStatements;
  readonly #owners: MysqlOwnerStatements;
  readonly #onPoolError: ((err: Error) => void) | undefined;

  /**
   * @param connection a mysql2 pool, pool options or a `mysql://` URL (see {@link MysqlConnection}).
   * @throws {SessionOptionsError} on an invalid option.
   */
  constructor(connection: MysqlConnection, options: MysqlStorageOptions = {}) {
    const settings = sqlSettings('MysqlStorage', options);
    super('MysqlStorage', settings);
    this.#sql = new MysqlStatements(settings.table);
    this.#owners = new MysqlOwnerStatements(settings.table, quoteMysqlTable(settings.table));
    const pool = corePool(connection);
    if (pool) {
      this.pool = pool;
      this.#owned = false;
    } else if (typeof connection === 'string') {
      this.pool = createPool({ uri: connection, connectTimeout: settings.queryTimeout });
      this.#owned = true;
    } else if (typeof connection === 'object' && connection !== null) {
      this.pool = createPool({ connectTimeout: settings.queryTimeout, ...(connection as PoolOptions) });
      this.#owned = true;
    } else {
      throw new SessionOptionsError('MysqlStorage: pass a mysql2 pool, mysql2 pool options or a mysql:// URL.');
    }
    if (this.#owned || this.pool.listenerCount('error') === 0) {
      this.#onPoolError = (err: Error) => this.report(new StorageError('MysqlStorage', 'pool', describeCause(err), { cause: err }));
      this.pool.on('error', this.#onPoolError);
    }
  }

  /** The SQL that creates the table and its index (what `createTable: true` runs). */
  get schemaSQL(): string {
    return this.#sql.schema;
  }

  /** One `SELECT`: the live session, or `undefined` when it is missing, expired or only a forward. */
  async getSession(id: string, _ttl?: number): Promise<SessionRecord | undefined> {
    const rows = await this.run('getSession', () => this.#rows(this.#sql.get, [id]));
    const row = rows[0];
    if (!row) return undefined;
    try {
      return toRecord(row['data']);
    } catch (err) {
      this.report(new CorruptSessionError('MysqlStorage', 'getSession', 'the stored session is not a JSON object of JSON texts; treating it as missing', { cause: err }));
      return undefined;
    }
  }

  /** One statement: merges `changes` onto the stored row and resets its TTL (see the class doc). */
  setSession(id: string, changes: SessionChanges, ttl: number, { create }: WriteOptions): Promise<boolean> {
    return this.run('setSession', async () => {
      checkKeys('MysqlStorage', changes.set.keys(), false);
      checkKeys('MysqlStorage', changes.removed, false);
      const patch = JSON.stringify(Object.fromEntries(changes.set));
      const paths = [...changes.removed].map(keyPath);
      const us = toTTL(ttl) * 1000;
      const change = ownerChange(changes.set, changes.removed);
      const owner = change === null ? [] : [change || null];
      if (create) {
        await this.#write(this.#sql.upsert(paths.length, change !== null), [id, patch, us, change || null, ...paths, patch, us]);
        return true;
      }
      const text = this.#sql.update(paths.length, change !== null);
      return this.#follow(id, async (target) => (await this.#write(text, [...paths, patch, us, ...owner, target])).affectedRows === 1);
    });
  }

  /**
   * One `DELETE` of the live session; when it matched nothing, a forward left by `moveSession` is
   * followed, so the session it points to goes too. Resolves whether a live session was deleted.
   */
  removeAll(id: string): Promise<boolean> {
    return this.run('removeAll', async () => {
      let target: string | undefined = id;
      for (let hop = 0; target !== undefined && hop <= HOPS; hop++) {
        if ((await this.#write(this.#sql.removeLive, [target])).affectedRows === 1) return true;
        const fwd = await this.#forwardOf(target);
        if (fwd !== undefined) await this.#write(this.#sql.removeAny, [target]);
        target = fwd;
      }
      return false;
    });
  }

  /**
   * One statement (see `MysqlStatements.move`): stores the live session `oldId` (with `changes`,
   * filtered by `keep`) under `newId` and turns `oldId` into a forward to it for `forwardTTL`.
   * MySQL has no `RETURNING`, so it resolves only the keys it wrote (`changes.set`, filtered by
   * `keep`): the session takes the others from its own view (see `Storage.moveSession`).
   */
  moveSession(oldId: string, newId: string, changes: SessionChanges, ttl: number, options: MoveOptions): Promise<SessionRecord | undefined> {
    return this.run('moveSession', async () => {
      const { keep } = options;
      for (const keys of [changes.set.keys(), changes.removed, keep ?? []]) checkKeys('MysqlStorage', keys, false);
      const written = keepOnly(new Map(changes.set), keep);
      const patch = JSON.stringify(Object.fromEntries(written));
      // With `keep`: the old keys kept and not replaced or removed by `changes`, copied one by one.
      const copied = keep ? [...keep].filter((key) => !changes.set.has(key) && !changes.removed.has(key)) : [];
      const data = keep ? copied.flatMap((key) => [keyPath(key), key, keyPath(key)]) : [...changes.removed].map(keyPath);
      const text = this.#sql.move(keep !== undefined, keep ? copied.length : changes.removed.size);
      const owner = movedOwner(changes, keep);
      const values = [newId, ...data, patch, toTTL(ttl) * 1000, toTTL(options.forwardTTL) * 1000, newId, owner.copy ? 1 : 0, owner.value, oldId];
      return (await this.#write(text, values)).affectedRows > 0 ? written : undefined;
    });
  }

  /** One statement: writes `key` only if it still holds `expected`, and resets the TTL. */
  compareAndSet(id: string, key: string, expected: string | undefined, next: string | undefined, ttl: number, { create }: WriteOptions): Promise<CompareAndSetResult> {
    return this.run('compareAndSet', async () => {
      checkKeys('MysqlStorage', [key], false);
      const path = keyPath(key);
      const us = toTTL(ttl) * 1000;
      const change = ownerChangeOfKey(key, next);
      if (create && expected === undefined) {
        const data = JSON.stringify(next === undefined ? {} : { [key]: next });
        if ((await this.#write(this.#sql.casCreate(), [id, data, us, change || null, id])).affectedRows > 0) return 'ok';
      }
      const absent = expected === undefined;
      const check = absent ? [path] : [path, expected];
      const update = this.#sql.cas(next === undefined, absent, change !== null);
      const owner = change === null ? [] : [change || null];
      const why = this.#sql.casFollow(absent);
      let target = id;
      for (let hop = 0, race = 0; hop <= HOPS && race <= RACES; ) {
        const values = [...(next === undefined ? [path] : [path, next]), us, ...owner, target, ...check];
        if ((await this.#write(update, values)).affectedRows === 1) return 'ok';
        const row = (await this.#rows(why, [...check, target]))[0];
        if (!row) break;
        if (typeof row['fwd'] === 'string') {
          target = row['fwd'];
          hop++;
        } else if (Number(row['matched']) !== 1) {
          return 'conflict';
        } else {
          race++;
        }
      }
      return create ? 'conflict' : 'gone';
    });
  }

  /** One `SELECT COUNT(*)` of live sessions (forwards excluded): an index range scan on `expires_at`. */
  count(): Promise<number> {
    return this.run('count', async () => Number((await this.#rows(this.#sql.count, []))[0]?.['n'] ?? 0));
  }

  /**
   * Nothing to do: the indexed `owner` column (a SHA-256 digest of the owner) is written by the
   * statement that writes the session's `$sw:owner` key, so it always follows it.
   */
  async addOwner(_owner: string, _id: string, _ttl: number): Promise<void> {}

  /**
   * One `SELECT` on the `owner` index: the owner's live sessions (forwards excluded) with their
   * expiry on the database clock (UTC). Expired rows are never listed; the sweep deletes them.
   */
  ownerSessions(owner: string): Promise<readonly OwnedSession[]> {
    return this.run('ownerSessions', async () => {
      const rows = await this.#rows(this.#owners.owned, [ownerDigest(owner)]);
      return rows.map((r) => ({ id: String(r['id']), expiresAt: Number(r['exp']) }));
    });
  }

  /** One `UPDATE` setting `owner` to `NULL` on those of `ids` that have this owner; the sessions are not touched. */
  forgetOwner(owner: string, ids: readonly string[]): Promise<void> {
    return this.run('forgetOwner', async () => {
      if (ids.length > 0) await this.#retry(() => call(this.pool, 'query', this.#owners.forget(ids.length), [ownerDigest(owner), ...ids]));
    });
  }

  protected override explain(err: unknown): string {
    const reason = describeCause(err);
    if ((err as { errno?: number }).errno === 1146) return `${reason}: create the table (storage.schemaSQL, shown in the README) or set createTable: true`;
    if ((err as { errno?: number }).errno === 1054 && /'owner'/.test(reason)) return `${reason}: the owner index needs the owner column; add it as the README shows (ALTER TABLE … ADD COLUMN owner …) or set createTable: true`;
    return reason;
  }

  /**
   * Runs {@link MysqlStorage.schemaSQL}, then adds the owner index's column and index to a table
   * created by an earlier version (MySQL 8 has no `ADD COLUMN IF NOT EXISTS`: `information_schema`
   * tells; another process adding them at the same moment is not a failure).
   */
  protected async createSchema(): Promise<void> {
    await call(this.pool, 'query', this.#sql.schema, []);
    await this.#owners.upgrade((sql, values) => call<Row[]>(this.pool, 'query', sql, values));
  }


  protected async refreshMany(ids: readonly string[], ttl: number): Promise<void> {
    await this.#retry(() => call(this.pool, 'query', this.#sql.refresh(ids.length), [ttl * 1000, ...ids]));
  }

  /** Two statements: the expired ids (a plain read), then a `DELETE` of them by primary key, in id order. */
  protected async sweepBatch(limit: number): Promise<number> {
    const rows = await this.#retry(() => call<Row[]>(this.pool, 'query', this.#sql.expired(limit), []));
    const ids = rows.map((r) => String(r['id'])).sort();
    if (ids.length === 0) return 0;
    // Rows refreshed between the two statements are not expired any more: they stay.
    return (await this.#retry(() => call<ResultSetHeader>(this.pool, 'query', this.#sql.sweep(ids.length), ids))).affectedRows;
  }

  protected async closePool(): Promise<void> {
    if (!this.#owned) {
      if (this.#onPoolError) this.pool.off('error', this.#onPoolError);
      return;
    }
    await new Promise<void>((resolve) => this.pool.end(() => resolve()));
  }

  /** Runs a `create: false` write on `id`, following forwards while it matches nothing. */
  async #follow(id: string, write: (target: string) => Promise<boolean>): Promise<boolean> {
    let target: string | undefined = id;
    for (let hop = 0; target !== undefined && hop <= HOPS; hop++) {
      if (await write(target)) return true;
      target = await this.#forwardOf(target);
    }
    return false;
  }

  /** The id a live forward `id` points to, or `undefined`. */
  async #forwardOf(id: string): Promise<string | undefined> {
    const fwd = (await this.#rows(this.#sql.follow, [id]))[0]?.['fwd'];
    return typeof fwd === 'string' ? fwd : undefined;
  }

  #rows(sql: string, values: unknown[]): Promise<Row[]> {
    return this.#retry(() => call<Row[]>(this.pool, 'execute', sql, values));
  }

  #write(sql: string, values: unknown[]): Promise<ResultSetHeader> {
    return this.#retry(() => call<ResultSetHeader>(this.pool, 'execute', sql, values));
  }

  /** Runs `fn` again (three times at most, after a short random pause) when InnoDB chose it as a deadlock victim. */
  async #retry<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (attempt >= 3 || (err as { errno?: number }).errno !== DEADLOCK) throw err;
        await pause(attempt);
      }
    }
  }
}

/** A random 1-10 ms pause (longer with each attempt), so deadlock victims do not collide again at once. */
function pause(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, (1 + Math.random() * 9) * (attempt + 1)));
}

/** One `execute` (prepared) or `query` (text) call on the pool. */
function call<T = unknown>(on: Pool, method: 'execute' | 'query', sql: string, values: unknown[]): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fn = on[method] as unknown as (sql: string, values: unknown[], cb: (err: Error | null, result: unknown) => void) => void;
    fn.call(on, sql, values, (err, result) => (err ? reject(err) : resolve(result as T)));
  });
}

/** The callback pool behind a mysql2 pool (a `mysql2/promise` pool wraps one in `.pool`), or `undefined` for options. */
function corePool(connection: MysqlConnection): Pool | undefined {
  if (typeof connection !== 'object' || connection === null) return undefined;
  const isPool = (p: unknown): p is Pool => typeof p === 'object' && p !== null && typeof (p as Pool).getConnection === 'function' && typeof (p as Pool).execute === 'function';
  const inner = (connection as { pool?: unknown }).pool;
  if (isPool(inner)) return inner;
  return isPool(connection) ? connection : undefined;
}
