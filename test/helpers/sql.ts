/**
 * The shared PostgreSQL and MariaDB/MySQL servers for the tests, found through environment
 * variables (defaults: PostgreSQL `postgres://postgres@127.0.0.1:5432/test`, MariaDB
 * `mysql://root@127.0.0.1:3306/test`), with a unique table per test file or storage instance,
 * dropped afterwards (other people's tests use the same servers).
 *
 * - `PG_URL` (or `DATABASE_URL`), else `PGHOST` / `PGPORT` / `PGUSER` / `PGDATABASE`.
 * - `MYSQL_URL`.
 */
import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { createPool, type Pool as MysqlPool } from 'mysql2';

/** The PostgreSQL connection string the tests use. */
export function pgUrl(): string {
  const url = process.env['PG_URL'] ?? process.env['DATABASE_URL'];
  if (url) return url;
  const host = process.env['PGHOST'] ?? '127.0.0.1';
  const port = process.env['PGPORT'] ?? '5432';
  const user = process.env['PGUSER'] ?? 'postgres';
  const db = process.env['PGDATABASE'] ?? 'test';
  return `postgres://${encodeURIComponent(user)}@${host}:${port}/${db}`;
}

/** The MariaDB/MySQL connection string the tests use. */
export function mysqlUrl(): string {
  return process.env['MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306/test';
}

/** A table name unique to this run, e.g. `sw_test_4f1c9a2b3c4d`. */
export function uniqueTable(label = 'sw_test'): string {
  return `${label}_${randomBytes(6).toString('hex')}`;
}

/** A pg pool for tests (its idle errors are ignored). */
export function pgPool(max = 10): Pool {
  const pool = new Pool({ connectionString: pgUrl(), max });
  pool.on('error', () => undefined);
  return pool;
}

/** A mysql2 pool for tests. */
export function mysqlPool(connectionLimit = 10): MysqlPool {
  return createPool({ uri: mysqlUrl(), connectionLimit });
}

/** Runs one statement on a mysql2 pool. */
export function mysqlQuery<T = unknown>(pool: MysqlPool, sql: string, values: unknown[] = []): Promise<T> {
  return new Promise((resolve, reject) => pool.query(sql, values, (err, rows) => (err ? reject(err) : resolve(rows as T))));
}

/** Drops `table` on PostgreSQL. */
export async function dropPgTable(pool: Pool, table: string): Promise<void> {
  await pool.query(`DROP TABLE IF EXISTS "${table}"`);
}

/** Drops `table` on MariaDB/MySQL. */
export async function dropMysqlTable(pool: MysqlPool, table: string): Promise<void> {
  await mysqlQuery(pool, `DROP TABLE IF EXISTS \`${table}\``);
}

/** Closes a mysql2 pool. */
export function endMysql(pool: MysqlPool): Promise<void> {
  return new Promise((resolve) => pool.end(() => resolve()));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
