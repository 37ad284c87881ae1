/**
 * The contract suite on MysqlStorage with every connection at READ COMMITTED (many MySQL
 * deployments lower the default REPEATABLE READ): plain `INSERT … SELECT` reads a snapshot there,
 * so the statements that read and write in one go must lock what they read.
 */
import { MysqlStorage } from 'sessionware/mysql';
import { describeStorage } from 'sessionware/testing';
import { dropMysqlTable, endMysql, mysqlPool, sleep, uniqueTable } from '../helpers/sql';

const TABLE = uniqueTable('sw_my_rc');
const pool = mysqlPool();
pool.on('connection', (conn) => conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED'));
afterAll(async () => {
  await dropMysqlTable(pool, TABLE);
  await endMysql(pool);
});

describeStorage(
  'MysqlStorage (READ COMMITTED)',
  async () => {
    const storage = new MysqlStorage(pool, { table: TABLE });
    return { storage, advance: sleep, flush: () => storage.flush() };
  },
  { shortTTL: 300 },
);
