// The SQL setups of the bench: sessionware's PostgresStorage and MysqlStorage beside
// express-session + connect-pg-simple and express-session + express-mysql-session.
// Imported by setups.mjs (the entries) and run.mjs (the database servers).
//
// Fairness: each side gets its own pool of POOL_SIZE connections to the same server, its table
// created before the run (the incumbents' own table.sql / schema.sql, as shipped; ours from
// schemaSQL), and no pruning during timed runs (pruneSessionInterval: false, clearExpired: false,
// sweepInterval: false), each pre-filled with BENCH_SQL_PREFILL (20 000) live sessions in its own
// format. Statements are counted at the pool (every query/execute call), served
// at GET /__statements by a small middleware in front of the session middleware, and read by the
// load generator around the measured slices, so statements/request includes batched TTL refreshes.
//
// Servers: BENCH_PG / BENCH_MYSQL (URLs) use existing servers. Otherwise the bench starts a
// private PostgreSQL (initdb + pg_ctl) and a private MariaDB (mariadb-install-db + mariadbd) in a
// temp dir on free ports, pinned with the load generator, with fsync off (the bench measures
// CPU, not the disk; the same for both sides), and removes them afterwards.
import { createRequire } from 'node:module';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => path.join(ROOT, 'dist', p);
const SECRET = 'bench-secret-not-for-production';
const DAY = 24 * 60 * 60 * 1000;
export const POOL_SIZE = 10;
/** Sessions each table holds before the run (BENCH_SQL_PREFILL), so reads and writes hit a real index. */
const PREFILL = Number(process.env.BENCH_SQL_PREFILL ?? 20_000);
/** The rows 1..PREFILL (up to 100 000) on PostgreSQL / MariaDB (no generate_series there: five digit tables crossed). */
const pgSeries = `generate_series(1, ${PREFILL}) AS g(i)`;
const digits = `(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)`;
const mySeries = `(SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 1 AS i FROM ${digits} a, ${digits} b, ${digits} c, ${digits} e, ${digits} f) AS g WHERE g.i <= ${PREFILL}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A table name for this run and setup (letters, digits, _). */
const tableFor = (prefix) => `bench_${prefix.replace(/[^A-Za-z0-9]+/g, '_').slice(0, 50)}`.replace(/_+$/, '');

/** Counts what goes through `methods` of `pool`; the middleware serves the counts at /__statements (and the server's CPU time at /__cpu, for sql-cost.mjs). */
function counter(pool, methods) {
  const counts = {};
  for (const method of methods) {
    const original = pool[method].bind(pool);
    pool[method] = (...args) => {
      const first = args[0];
      // A named statement (sessionware on pg) by its name ('sw2_<hash>_get' -> 'get'), else the SQL verb.
      const text = typeof first === 'string' ? first : (first?.text ?? first?.sql ?? '');
      const verb = first?.name ? first.name.replace(/^sw\d+_[0-9a-f]+_/, '') : (text.trim().split(/\s+/)[0] ?? '?').toLowerCase();
      counts[verb] = (counts[verb] ?? 0) + 1;
      return original(...args);
    };
  }
  return (inner) => (req, res, next) => {
    if (req.path === '/__statements') return res.json(counts);
    if (req.path === '/__cpu') {
      const { user, system } = process.cpuUsage();
      return res.json({ us: user + system });
    }
    return inner(req, res, next);
  };
}

/** What express-session stores for a session holding `n` (its default cookie). */
function sessionObject() {
  const Cookie = require('express-session/session/cookie');
  return { cookie: new Cookie(), n: 1 };
}

function expressSession(store) {
  const session = require('express-session');
  return session({ secret: SECRET, resave: false, saveUninitialized: false, store });
}

// ---------- PostgreSQL ----------
function pgPool(url) {
  const { Pool } = require('pg');
  const pool = new Pool({ connectionString: url, max: POOL_SIZE });
  pool.on('error', (err) => console.error('[bench] pg pool:', err.message));
  return pool;
}

async function dropPg(pool, table) {
  await pool.query(`DROP TABLE IF EXISTS "${table}"`).catch(() => {});
  await pool.end();
}

// ---------- MariaDB / MySQL ----------
function mysqlPool(url) {
  return require('mysql2').createPool({ uri: url, connectionLimit: POOL_SIZE });
}

function mysqlQuery(pool, sql) {
  return new Promise((resolve, reject) => pool.query(sql, (err, rows) => (err ? reject(err) : resolve(rows))));
}

async function dropMysql(pool, table) {
  await mysqlQuery(pool, `DROP TABLE IF EXISTS \`${table}\``).catch(() => {});
  await new Promise((r) => pool.end(() => r()));
}

const distClass = (file, name) => (existsSync(dist(file)) ? require(dist(file))[name] : undefined);

/** express-session + connect-pg-simple; `disableTouch` is its cheapest mode (no UPDATE per read, sessions then expire `maxAge` after the last write). */
function connectPgSimple(name, label, disableTouch) {
  return {
    name,
    label,
    flavor: 'express-session',
    storage: 'postgres',
    statsPath: '/__statements',
    available: () => true,
    async create({ pgUrl, prefix }) {
      const session = require('express-session');
      const PgStore = require('connect-pg-simple')(session);
      const pool = pgPool(pgUrl);
      const table = tableFor(prefix);
      const sql = readFileSync(require.resolve('connect-pg-simple/table.sql'), 'utf8').replaceAll('"session"', `"${table}"`).replaceAll('"session_pkey"', `"${table}_pkey"`).replaceAll('"IDX_session_expire"', `"${table}_expire"`);
      await pool.query(sql);
      await pool.query(`INSERT INTO "${table}" (sid, sess, expire) SELECT 'prefill' || md5(i::text), $1::json, now() + interval '1 day' FROM ${pgSeries}`, [JSON.stringify(sessionObject())]);
      const store = new PgStore({ pool, tableName: table, createTableIfMissing: false, pruneSessionInterval: false, disableTouch });
      const count = counter(pool, ['query']);
      return {
        middleware: count(expressSession(store)),
        close: async () => {
          await store.close();
          await dropPg(pool, table);
        },
      };
    },
  };
}

export const SQL_SETUPS = [
  {
    name: 'sessionware-postgres',
    label: 'sessionware + PostgresStorage',
    flavor: 'sessionware',
    storage: 'postgres',
    statsPath: '/__statements',
    available: () => !!distClass('postgres.js', 'PostgresStorage') || 'dist/postgres.js not built',
    async create({ pgUrl, prefix }) {
      const { session } = require(dist('index.js'));
      const PostgresStorage = distClass('postgres.js', 'PostgresStorage');
      const pool = pgPool(pgUrl);
      const table = tableFor(prefix);
      const storage = new PostgresStorage(pool, { table, createTable: false, sweepInterval: false });
      await pool.query(storage.schemaSQL);
      await pool.query(`INSERT INTO "${table}" (id, data, expires_at) SELECT 'prefill' || md5(i::text), '{"n":"1"}', now() + interval '1 day' FROM ${pgSeries}`);
      const count = counter(pool, ['query']);
      return {
        middleware: count(session(storage)),
        close: async () => {
          await storage.close();
          await dropPg(pool, table);
        },
      };
    },
  },
  connectPgSimple('express-session-pg', 'express-session + connect-pg-simple', false),
  connectPgSimple('express-session-pg-notouch', 'express-session + connect-pg-simple (disableTouch)', true),
  {
    name: 'sessionware-mysql',
    label: 'sessionware + MysqlStorage',
    flavor: 'sessionware',
    storage: 'mysql',
    statsPath: '/__statements',
    available: () => !!distClass('mysql.js', 'MysqlStorage') || 'dist/mysql.js not built',
    async create({ mysqlUrl, prefix }) {
      const { session } = require(dist('index.js'));
      const MysqlStorage = distClass('mysql.js', 'MysqlStorage');
      const pool = mysqlPool(mysqlUrl);
      const table = tableFor(prefix);
      const storage = new MysqlStorage(pool, { table, createTable: false, sweepInterval: false });
      await mysqlQuery(pool, storage.schemaSQL);
      await mysqlQuery(pool, `INSERT INTO \`${table}\` (id, data, expires_at) SELECT CONCAT('prefill', MD5(i)), '{"n":"1"}', UTC_TIMESTAMP(3) + INTERVAL 1 DAY FROM ${mySeries}`);
      const count = counter(pool, ['query', 'execute']);
      return {
        middleware: count(session(storage)),
        close: async () => {
          await storage.close();
          await dropMysql(pool, table);
        },
      };
    },
  },
  {
    name: 'express-session-mysql',
    label: 'express-session + express-mysql-session',
    flavor: 'express-session',
    storage: 'mysql',
    statsPath: '/__statements',
    available: () => true,
    async create({ mysqlUrl, prefix }) {
      const session = require('express-session');
      const MySQLStore = require('express-mysql-session')(session);
      const pool = mysqlPool(mysqlUrl);
      const table = tableFor(prefix);
      // Its schema.sql as shipped (no index on `expires`), under this run's table name.
      const sql = readFileSync(require.resolve('express-mysql-session/schema.sql'), 'utf8').replace('`sessions`', `\`${table}\``);
      await mysqlQuery(pool, sql);
      await mysqlQuery(pool, `INSERT INTO \`${table}\` (session_id, expires, data) SELECT CONCAT('prefill', MD5(i)), UNIX_TIMESTAMP() + 86400, ${pool.escape(JSON.stringify(sessionObject()))} FROM ${mySeries}`);
      const store = new MySQLStore({ clearExpired: false, createDatabaseTable: false, expiration: DAY, schema: { tableName: table } }, pool);
      await store.onReady();
      const count = counter(pool, ['query', 'execute']);
      return {
        middleware: count(expressSession(store)),
        close: async () => {
          await store.close().catch(() => {});
          await dropMysql(pool, table);
        },
      };
    },
  },
];

// ---------- the database servers ----------
async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const isRoot = () => process.getuid?.() === 0;
/** argv running `cmd args` as `user` when we are root (the servers refuse root), else as is. */
function asUser(user, cmd, args) {
  if (!isRoot()) return [cmd, args];
  return ['su', [user, '-s', '/bin/sh', '-c', [cmd, ...args].map((a) => `'${String(a).replace(/'/g, `'\\''`)}'`).join(' ')]];
}
function chownTo(dir, user) {
  if (!isRoot()) return;
  chownSync(dir, Number(execFileSync('id', ['-u', user]).toString().trim()), Number(execFileSync('id', ['-g', user]).toString().trim()));
}

async function privatePostgres(pin) {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort() : [];
  if (!versions.length) return { error: 'no /usr/lib/postgresql/*/bin (set BENCH_PG to a server URL)' };
  const bin = (n) => path.join('/usr/lib/postgresql', versions.at(-1), 'bin', n);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-pg-'));
  chownTo(dir, 'postgres');
  const port = await freePort();
  const data = path.join(dir, 'data');
  const [c1, a1] = asUser('postgres', bin('initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  if (spawnSync(c1, a1, { stdio: 'ignore' }).status !== 0) return { error: 'initdb failed' };
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=100`;
  const [cmd, args] = pin(...asUser('postgres', bin('pg_ctl'), ['-D', data, '-o', opts, '-l', path.join(dir, 'log'), '-w', 'start']));
  if (spawnSync(cmd, args, { stdio: 'ignore' }).status !== 0) return { error: 'pg_ctl start failed' };
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    private: true,
    stop() {
      const [c, a] = asUser('postgres', bin('pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      spawnSync(c, a, { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function privateMariadb(pin) {
  if (spawnSync('mariadbd', ['--version']).status !== 0) return { error: 'no mariadbd (set BENCH_MYSQL to a server URL)' };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-mariadb-'));
  const user = isRoot() ? 'mysql' : os.userInfo().username;
  chownTo(dir, 'mysql');
  const data = path.join(dir, 'data');
  if (spawnSync('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, `--user=${user}`, '--auth-root-authentication-method=normal', '--skip-test-db'], { stdio: 'ignore' }).status !== 0) {
    return { error: 'mariadb-install-db failed' };
  }
  const port = await freePort();
  const [cmd, args] = pin('mariadbd', ['--no-defaults', `--datadir=${data}`, `--port=${port}`, `--socket=${path.join(dir, 'sock')}`, '--bind-address=127.0.0.1', '--skip-log-bin', '--skip-grant-tables', '--innodb-flush-log-at-trx-commit=0', '--innodb-buffer-pool-size=128M', '--max-connections=200', ...(isRoot() ? ['--user=mysql'] : [])]);
  const proc = spawn(cmd, args, { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    if (spawnSync('mysqladmin', ['-uroot', '-h127.0.0.1', `-P${port}`, 'ping'], { stdio: 'ignore' }).status === 0) break;
    await sleep(100);
  }
  spawnSync('mysql', ['-uroot', '-h127.0.0.1', `-P${port}`, '-e', 'CREATE DATABASE IF NOT EXISTS bench']);
  return {
    url: `mysql://root@127.0.0.1:${port}/bench`,
    private: true,
    stop() {
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts (or finds) the servers the selected SQL setups need. Resolves `{ ctx, meta, stop() }`:
 * `ctx` goes into each server's context (pgUrl, mysqlUrl), `meta` into the results.
 * `pin(cmd, args)` pins a command to the load generator's core.
 */
export async function startSqlServers(setups, pin) {
  const need = new Set(setups.filter((s) => s.available() === true).map((s) => s.storage));
  const out = { ctx: {}, meta: {}, errors: {}, stops: [] };
  if (need.has('postgres')) {
    const pg = process.env.BENCH_PG ? { url: process.env.BENCH_PG } : await privatePostgres(pin);
    if (pg.error) out.errors.postgres = pg.error;
    else {
      out.ctx.pgUrl = pg.url;
      out.meta.postgres = `${pg.url}${pg.private ? ' (private, fsync off)' : ''}`;
      if (pg.stop) out.stops.push(pg.stop);
    }
  }
  if (need.has('mysql')) {
    const my = process.env.BENCH_MYSQL ? { url: process.env.BENCH_MYSQL } : await privateMariadb(pin);
    if (my.error) out.errors.mysql = my.error;
    else {
      out.ctx.mysqlUrl = my.url;
      out.meta.mysql = `${my.url}${my.private ? ' (private MariaDB, flush at commit off)' : ''}`;
      if (my.stop) out.stops.push(my.stop);
    }
  }
  return { ...out, stop: () => out.stops.splice(0).forEach((s) => s()) };
}
