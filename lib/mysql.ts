/**
 * `sessionware/mysql`: the MariaDB / MySQL storage. A separate entry point, so `mysql2` (an
 * optional peer dependency) is loaded only by applications that use it.
 *
 * @example
 * ```ts
 * import mysql from 'mysql2';
 * import { session } from 'sessionware';
 * import { MysqlStorage } from 'sessionware/mysql';
 *
 * app.use(session(new MysqlStorage(mysql.createPool(process.env.MYSQL_URL!))));
 * ```
 * @module
 */
export { MysqlStorage, type MysqlStorageOptions, type MysqlConnection } from './storage/mysql/mysql-storage';
export { mysqlSchema } from './storage/mysql/mysql-sql';
export type { SqlStorageOptions } from './storage/sql/sql-options';
