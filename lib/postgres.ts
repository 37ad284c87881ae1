/**
 * `sessionware/postgres`: the PostgreSQL storage. A separate entry point, so `pg` (an optional
 * peer dependency) is loaded only by applications that use PostgreSQL.
 *
 * @example
 * ```ts
 * import { Pool } from 'pg';
 * import { session } from 'sessionware';
 * import { PostgresStorage } from 'sessionware/postgres';
 *
 * app.use(session(new PostgresStorage(new Pool({ connectionString: process.env.DATABASE_URL }))));
 * ```
 * @module
 */
export { PostgresStorage, type PostgresStorageOptions, type PostgresConnection } from './storage/postgres/postgres-storage';
export { postgresSchema } from './storage/postgres/postgres-sql';
export type { SqlStorageOptions } from './storage/sql/sql-options';
