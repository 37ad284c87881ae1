/**
 * `PostgresStorage`: each session is one row (`id`, `data jsonb`, `expires_at timestamptz`,
 * `forward_to`) in a PostgreSQL table. A read-only request costs one `SELECT`; every other
 * operation is one statement too.
 * @module
 */
import { Pool, type PoolConfig, type QueryResultRow } from 'pg';
import { CorruptSessionError, SessionOptionsError, StorageError, describeCause } from '../../errors';
import { SqlStorageBase } from '../sql/sql-base';
import { sqlSettings, type SqlStorageOptions } from '../sql/sql-options';
import { checkKeys, toRecord, toTTL } from '../sql/sql-values';
import { ownerChange, ownerChangeOfKey, ownerDigest } from '../sql/sql-owner';
import { postgresStatements, type PostgresStatements, type Statement } from './postgres-sql';
import type { CompareAndSetResult, MoveOptions, OwnedSession, SessionChanges, SessionRecord, WriteOptions } from '../storage';

/**
 * Options of {@link PostgresStorage}: `table` (default `'sessionware_sessions'`), `createTable`
 * (default `true`), `updateTTLInterval` (default `10_000`), `sweepInterval` (default `600_000`),
 * `sweepBatchSize` (default `1_000`), `queryTimeout` (default `2_000`) and `onError` (default:
 * `console.error`). See {@link SqlStorageOptions} for each.
 */
export interface PostgresStorageOptions extends SqlStorageOptions {}

/**
 * What a `PostgresStorage` connects with: your `pg.Pool` (left open by `close()`), `pg` pool
 * options, or a `postgres://` connection string (the storage then creates the pool, with
 * `connectionTimeoutMillis` = `queryTimeout` unless you set it, and closes it).
 * @default `{}`: a pool configured by libpq's environment variables (`PGHOST`, `PGDATABASE`, ...)
 */
export type PostgresConnection = Pool | PoolConfig | string;

/** The most forwards a write follows (see `moveSession`). */
const HOPS = 4;
/** How often a write is retried when its row changed between its snapshot and its lock. */
const RACES = 3;
/** Deadlock / serialization failure: the statement is safe to run again. */
const RETRYABLE = new Set(['40P01', '40001']);

/**
 * Keeps sessions in a PostgreSQL table, on the database clock.
 *
 * - **Read** (`getSession`): one `SELECT` by primary key.
 * - **Dirty close** (`setSession`): one statement that merges only the changed keys onto the
 *   stored row (`(data || $set) - $removed`) and resets the TTL; with `create: false` it is an
 *   `UPDATE … WHERE` live, so it never revives a removed or expired session.
 * - **Clean close** (`updateTTL`): batched into one `UPDATE … FOR UPDATE SKIP LOCKED` per
 *   interval (the plain form deadlocks under contention).
 * - **Logout** (`removeAll`): one `DELETE`. **Regenerate** (`moveSession`), **`compareAndSet`**
 *   and **`count`**: one statement each.
 * - Expired rows are deleted in bounded batches on an `unref`'d timer.
 * - **Owner index** (`setOwner`, `sessionsOf`, `revoke`): an `owner` column (a SHA-256 digest
 *   of the owner) with a partial index, written by the same statement that writes `$sw:owner`
 *   and moved with the session; `addOwner` costs nothing, `ownerSessions` and `forgetOwner` one
 *   statement each; reads are unchanged. `createTable` adds the column to an older table.
 *
 * Keys containing U+0000 cannot be stored by PostgreSQL: `session.set()`, `setMap()`, `update()`
 * and `remove()` of such a key reject at once with a `SessionValueError` naming it (`vetKey`),
 * and a direct storage call with one rejects the same way before anything is sent.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { Pool } from 'pg';
 * import { session } from 'sessionware';
 * import { PostgresStorage } from 'sessionware/postgres';
 *
 * const storage = new PostgresStorage(new Pool({ connectionString: process.env.DATABASE_URL }));
 * const app = express();
 * app.use(session(storage));
 * process.on('SIGTERM', () => void storage.close()); // flushes pending TTL refreshes
 * ```
 * @example Let the storage create (and close) its pool
 * ```ts
 * const storage = new PostgresStorage('postgres://app@db/app', { table: 'web_sessions' });
 * ```
 */
export class PostgresStorage extends SqlStorageBase {
  /** The pool in use (yours, or the one the storage created). */
  readonly pool: Pool;
  readonly #owned: boolean;
  readonly #sql: PostgresStatements;
  readonly #onPoolError: ((err: Error) => void) | undefined;

  /**
   * @param connection a `pg.Pool`, pool options or a connection string (see {@link PostgresConnection}).
   *   Omitted, the storage creates a pool from libpq's environment variables (`PGHOST`, `PGPORT`,
   *   `PGUSER`, `PGPASSWORD`, `PGDATABASE`), as `new pg.Pool()` does.
   * @throws {SessionOptionsError} on an invalid option.
   */
  constructor(connection: PostgresConnection = {}, options: PostgresStorageOptions = {}) {
    const settings = sqlSettings('PostgresStorage', options);
    super('PostgresStorage', settings);
    this.#sql = postgresStatements(settings.table);
    if (isPool(connection)) {
      this.pool = connection;
      this.#owned = false;
    } else if (typeof connection === 'string' || (typeof connection === 'object' && connection !== null)) {
      const config = typeof connection === 'string' ? { connectionString: connection } : connection;
      this.pool = new Pool({ connectionTimeoutMillis: settings.queryTimeout, ...config });
      this.#owned = true;
    } else {
      throw new SessionOptionsError('PostgresStorage: pass a pg Pool, pg pool options or a postgres:// connection string.');
    }
    // An idle client that loses its connection makes the pool emit 'error'; unhandled, that would
    // crash the process. Listen on pools we own, and on yours when you have no listener yourself.
    if (this.#owned || this.pool.listenerCount('error') === 0) {
      this.#onPoolError = (err: Error) => this.report(new StorageError('PostgresStorage', 'pool', `an idle connection failed: ${describeCause(err)}`, { cause: err }));
      this.pool.on('error', this.#onPoolError);
    }
  }

  /** The SQL that creates the table and its index (what `createTable: true` runs). */
  get schemaSQL(): string {
    return this.#sql.schema;
  }

  /**
   * Refuses keys containing U+0000 (NUL), which PostgreSQL `text` and `jsonb` cannot hold, so
   * `session.set()` and the like reject at once (see `Storage.vetKey`).
   */
  vetKey(key: string): string | undefined {
    return key.includes('\u0000') ? 'it contains U+0000 (NUL), which PostgreSQL text and jsonb cannot hold' : undefined;
  }

  /** One `SELECT`: the live session, or `undefined` when it is missing, expired or only a forward. */
  async getSession(id: string, _ttl?: number): Promise<SessionRecord | undefined> {
    const { rows } = await this.run('getSession', () => this.#query<{ data: unknown }>(this.#sql.get, [id]));
    const row = rows[0];
    if (!row) return undefined;
    try {
      return toRecord(row.data);
    } catch (err) {
      this.report(new CorruptSessionError('PostgresStorage', 'getSession', 'the stored session is not a JSON object of JSON texts; treating it as missing', { cause: err }));
      return undefined;
    }
  }

  /** One statement: merges `changes` onto the stored row and resets its TTL (see the class doc). */
  setSession(id: string, changes: SessionChanges, ttl: number, { create }: WriteOptions): Promise<boolean> {
    return this.run('setSession', async () => {
      checkKeys('PostgresStorage', changes.set.keys(), true);
      checkKeys('PostgresStorage', changes.removed, true);
      const set = JSON.stringify(Object.fromEntries(changes.set));
      const removed = [...changes.removed];
      const owner = ownerChange(changes.set, changes.removed);
      if (create) {
        await this.#query(this.#sql.upsert, [id, set, removed, toTTL(ttl), owner]);
        return true;
      }
      const outcome = await this.#follow(id, (target) => this.#query<WriteRow>(this.#sql.update, [target, set, removed, toTTL(ttl), owner]));
      return outcome !== undefined;
    });
  }

  /**
   * One `DELETE`; a forward left by `moveSession` is followed, so the session it points to goes
   * too. Resolves whether a live session was deleted.
   */
  removeAll(id: string): Promise<boolean> {
    return this.run('removeAll', async () => {
      let deleted = false;
      let target: string | null | undefined = id;
      for (let hop = 0; target && hop <= HOPS; hop++) {
        const result: { rows: Array<{ fwd: string | null; live: boolean }> } = await this.#query<{ fwd: string | null; live: boolean }>(this.#sql.remove, [target]);
        const row: { fwd: string | null; live: boolean } | undefined = result.rows[0];
        if (!row) break;
        if (row.live && row.fwd === null) deleted = true;
        target = row.live ? row.fwd : undefined;
      }
      return deleted;
    });
  }

  /**
   * One statement: locks the live session `oldId`, stores its record (with `changes`, filtered by
   * `keep`) under `newId` and turns `oldId` into a forward to it for `forwardTTL`.
   */
  moveSession(oldId: string, newId: string, changes: SessionChanges, ttl: number, options: MoveOptions): Promise<SessionRecord | undefined> {
    return this.run('moveSession', async () => {
      checkKeys('PostgresStorage', changes.set.keys(), true);
      checkKeys('PostgresStorage', changes.removed, true);
      const keep = options.keep ? [...options.keep] : null;
      if (keep) checkKeys('PostgresStorage', keep, true);
      const values = [oldId, newId, JSON.stringify(Object.fromEntries(changes.set)), [...changes.removed], toTTL(ttl), toTTL(options.forwardTTL), keep, ownerChange(changes.set, changes.removed)];
      const { rows } = await this.#query<{ data: unknown }>(this.#sql.move, values);
      return rows[0] ? toRecord(rows[0].data) : undefined;
    });
  }

  /** One statement: writes `key` only if it still holds `expected`, and resets the TTL. */
  compareAndSet(id: string, key: string, expected: string | undefined, next: string | undefined, ttl: number, { create }: WriteOptions): Promise<CompareAndSetResult> {
    return this.run('compareAndSet', async () => {
      checkKeys('PostgresStorage', [key], true);
      const values = (target: string) => [target, key, expected ?? null, next ?? null, toTTL(ttl), ownerChangeOfKey(key, next)];
      if (create) {
        const { rowCount } = await this.#query(this.#sql.casCreate, values(id));
        return rowCount === 1 ? 'ok' : 'conflict';
      }
      const outcome = await this.#follow(id, (target) => this.#query<WriteRow & { matched: boolean | null }>(this.#sql.cas, values(target)));
      if (outcome === undefined) return 'gone';
      return outcome.n === 1 ? 'ok' : 'conflict';
    });
  }

  /** One `SELECT count(*)` of live sessions (forwards excluded): an index range scan on `expires_at`. */
  count(): Promise<number> {
    return this.run('count', async () => {
      const { rows } = await this.#query<{ n: string }>(this.#sql.count, []);
      return Number(rows[0]?.n ?? 0);
    });
  }

  /**
   * Nothing to do: the indexed `owner` column (a SHA-256 digest of the owner) is written by the
   * statement that writes the session's `$sw:owner` key, so it always follows it.
   */
  async addOwner(_owner: string, _id: string, _ttl: number): Promise<void> {}

  /**
   * One `SELECT` on the `owner` index: the owner's live sessions (forwards excluded) with their
   * expiry on the database clock. Expired rows are never listed; the sweep deletes them.
   */
  ownerSessions(owner: string): Promise<readonly OwnedSession[]> {
    return this.run('ownerSessions', async () => {
      const { rows } = await this.#query<{ id: string; exp: string }>(this.#sql.owned, [ownerDigest(owner)]);
      return rows.map((r) => ({ id: r.id, expiresAt: Number(r.exp) }));
    });
  }

  /** One `UPDATE` setting `owner` to `NULL` on those of `ids` that have this owner; the sessions are not touched. */
  forgetOwner(owner: string, ids: readonly string[]): Promise<void> {
    return this.run('forgetOwner', async () => {
      if (ids.length > 0) await this.#query(this.#sql.forget, [ownerDigest(owner), [...ids]]);
    });
  }

  protected override explain(err: unknown): string {
    const reason = describeCause(err);
    if ((err as { code?: string }).code === '42P01') return `${reason}: create the table (storage.schemaSQL, shown in the README) or set createTable: true`;
    if ((err as { code?: string }).code === '42703' && /"owner"/.test(reason)) return `${reason}: the owner index needs the owner column; add it as the README shows (ALTER TABLE … ADD COLUMN owner …) or set createTable: true`;
    return reason;
  }

  /**
   * Runs {@link PostgresStorage.schemaSQL}. A table created by an earlier version has no `owner`
   * column (the owner index's `CREATE INDEX` then fails): it is added (`ADD COLUMN IF NOT EXISTS`,
   * a catalog-only change) and the schema is run again.
   */
  protected async createSchema(): Promise<void> {
    const { rows } = await this.#query<{ present: boolean; owned: boolean }>(this.#sql.hasOwner, [this.#sql.table]);
    if (rows[0]?.present === true && rows[0].owned !== true) await this.#tolerate(() => this.pool.query(this.#sql.addOwner));
    await this.#tolerate(() => this.pool.query(this.#sql.schema));
  }

  /** Runs a schema change; the errors of another process making the same change at once are not failures. */
  async #tolerate(change: () => Promise<unknown>): Promise<void> {
    try {
      await change();
    } catch (err) {
      // Two processes creating the table (or adding the column) at once: the loser's IF NOT EXISTS can still collide.
      if (!['23505', '42P07', '42710', '42701'].includes((err as { code?: string }).code ?? '')) throw err;
    }
  }

  protected async refreshMany(ids: readonly string[], ttl: number): Promise<void> {
    await this.#query(this.#sql.refresh, [ids, ttl]);
  }

  protected async sweepBatch(limit: number): Promise<number> {
    return (await this.#query(this.#sql.sweep, [limit])).rowCount ?? 0;
  }

  protected async closePool(): Promise<void> {
    if (!this.#owned) {
      if (this.#onPoolError) this.pool.off('error', this.#onPoolError);
      return;
    }
    await this.pool.end();
  }

  /**
   * Runs a write on `id`, following forwards: resolves the row of the write that matched a live
   * session (`n` 1, or `n` 0 with `matched` false: a compare-and-set conflict), or `undefined`
   * when the session is gone. A row that changed between the statement's snapshot and its lock
   * (a concurrent move or logout) is retried, so the write lands where the session now is.
   */
  async #follow<R extends WriteRow & { matched?: boolean | null }>(id: string, write: (target: string) => Promise<{ rows: R[] }>): Promise<R | undefined> {
    let target = id;
    for (let hop = 0, race = 0; hop <= HOPS && race <= RACES; ) {
      const row = (await write(target)).rows[0];
      if (!row) return undefined;
      if (row.n === 1) return row;
      if (row.fwd) {
        target = row.fwd;
        hop++;
      } else if (!row.seen) {
        return undefined;
      } else if (row.matched === false) {
        return row; // compare-and-set: the key holds something else
      } else {
        race++;
      }
    }
    return undefined;
  }

  /** One statement on the pool; deadlocks and serialization failures are retried (three times, after a short random pause). */
  async #query<R extends QueryResultRow = QueryResultRow>(statement: Statement, values: unknown[]): Promise<{ rows: R[]; rowCount: number | null }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.pool.query<R>({ name: statement.name, text: statement.text, values });
      } catch (err) {
        if (attempt >= 3 || !RETRYABLE.has((err as { code?: string }).code ?? '')) throw err;
        await new Promise((resolve) => setTimeout(resolve, (1 + Math.random() * 9) * (attempt + 1)));
      }
    }
  }
}

/** What a following write statement returns. */
interface WriteRow extends QueryResultRow {
  readonly n: number;
  readonly fwd: string | null;
  readonly seen: boolean;
}

/** Tells a `pg.Pool` (of any installed copy of pg) from pool options. */
function isPool(connection: PostgresConnection): connection is Pool {
  return typeof connection === 'object' && connection !== null && typeof (connection as { query?: unknown }).query === 'function' && typeof (connection as { connect?: unknown }).connect === 'function';
}
