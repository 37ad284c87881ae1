/**
 * A PostgresStorage or MysqlStorage on its own fresh table of the shared test servers, with what a
 * child process needs to reach the same table, the cleanup, and a recorder of the statements the
 * storage sends (wrapping its pool: for counting statements per request).
 *
 * @example
 * ```ts
 * const sql = await sqlStorage('pg', 'sw_count');
 * const seen = sql.recordStatements();
 * await sql.storage.getSession(id, 60_000);
 * expect(seen).toHaveLength(1);
 * await sql.cleanup();
 * ```
 */
import type { Pool } from 'pg';
import type { Pool as MysqlPool } from 'mysql2';
import type { Storage } from 'sessionware';
import { MysqlStorage } from 'sessionware/mysql';
import { PostgresStorage } from 'sessionware/postgres';
import { dropMysqlTable, dropPgTable, endMysql, mysqlPool, mysqlUrl, pgPool, pgUrl, uniqueTable } from './sql';

/** Which SQL server. */
export type SqlKind = 'pg' | 'mysql';

/** A SQL storage on a fresh table. */
export interface SqlStorageInstance {
  readonly storage: Storage & { close(): Promise<void>; flush(): Promise<void> };
  /** The connection string of its server (for a child process). */
  readonly url: string;
  readonly table: string;
  /** From now on, records the text of every statement the storage sends on its pool; returns the list. */
  recordStatements(): string[];
  /** Closes the storage, drops the table, ends the pool. */
  cleanup(): Promise<void>;
}

/** Records the text of every statement sent on a pg pool. */
function recordPg(pool: Pool): string[] {
  const seen: string[] = [];
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const first = args[0] as string | { text: string };
    seen.push(typeof first === 'string' ? first : first.text);
    return query(...args);
  };
  return seen;
}

/** Same for mysql2 (its pool-level execute/query: the storage sends every statement there). */
function recordMysql(pool: MysqlPool): string[] {
  const seen: string[] = [];
  for (const method of ['query', 'execute'] as const) {
    const original = pool[method].bind(pool) as (...args: unknown[]) => unknown;
    (pool as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      seen.push(String(args[0]));
      return original(...args);
    };
  }
  return seen;
}

/** A `kind` storage on a new table named after `label` (unique to this run). */
export function sqlStorage(kind: SqlKind, label: string): SqlStorageInstance {
  const table = uniqueTable(label);
  if (kind === 'pg') {
    const pool = pgPool();
    const storage = new PostgresStorage(pool, { table });
    return {
      storage,
      url: pgUrl(),
      table,
      recordStatements: () => recordPg(pool),
      async cleanup() {
        await storage.close();
        await dropPgTable(pool, table);
        await pool.end();
      },
    };
  }
  const pool = mysqlPool();
  const storage = new MysqlStorage(pool, { table });
  return {
    storage,
    url: mysqlUrl(),
    table,
    recordStatements: () => recordMysql(pool),
    async cleanup() {
      await storage.close();
      await dropMysqlTable(pool, table);
      await endMysql(pool);
    },
  };
}

/** A SQL storage recording its statements; see {@link countedSqlStorage}. */
export interface CountedSqlStorage extends SqlStorageInstance {
  /** Waits for the statements in flight, then returns (and forgets) those sent since the last call. */
  take(): Promise<string[]>;
}

/**
 * A `kind` storage whose table is created already (not counted), recording its statements:
 * `take()` waits for the statements in flight and returns (and clears) what was sent since the last call.
 */
export async function countedSqlStorage(kind: SqlKind, label: string): Promise<CountedSqlStorage> {
  const sql = sqlStorage(kind, label);
  await sql.storage.count?.(); // creates the table: not part of any request
  const seen = sql.recordStatements();
  return {
    ...sql,
    async take() {
      await new Promise((r) => setTimeout(r, 30));
      return seen.splice(0);
    },
  };
}
