/**
 * The database stopped and restarted under a live storage (private servers started for this
 * file): calls fail fast with a StorageError naming the operation, requests that don't touch the
 * session are served, no pool `error` event goes unhandled, and the same storage recovers by
 * itself once the database is back.
 */
import request from 'supertest';
import { Pool } from 'pg';
import { createPool, type Pool as MysqlPool } from 'mysql2';
import { generateId, StorageError } from 'sessionware';
import { MysqlStorage } from 'sessionware/mysql';
import { PostgresStorage } from 'sessionware/postgres';
import { PrivateMariadb, PrivatePostgres } from '../helpers/sql-servers';
import { endMysql, sleep } from '../helpers/sql';
import { appFor, failure, retrying } from '../helpers/outage';

const TIMEOUT = 500;
const ONE = { set: new Map([['a', '1']]), removed: new Set<string>() };
const NONE = { set: new Map<string, string>(), removed: new Set<string>() };
const HOUR = 3_600_000;

const eventually = retrying(20_000);

type SqlStorage = PostgresStorage | MysqlStorage;
interface Server {
  readonly url: string;
  stop(): Promise<void>;
  resume(): Promise<void>;
  destroy(): Promise<void>;
}
interface Kind {
  readonly name: string;
  start(): Promise<Server>;
  /** Your pool, with your own `error` listener, or none (`undefined`: the storage owns one). */
  userPool(url: string): { pool: Pool | MysqlPool; end(): Promise<void> };
  make(connection: string | Pool | MysqlPool, options: ConstructorParameters<typeof PostgresStorage>[1]): SqlStorage;
}

const KINDS: Kind[] = [
  {
    name: 'PostgresStorage',
    start: () => PrivatePostgres.start(),
    userPool(url) {
      const pool = new Pool({ connectionString: url, connectionTimeoutMillis: 1000 });
      pool.on('error', () => undefined);
      return { pool, end: () => pool.end() };
    },
    make: (connection, options) => new PostgresStorage(connection as string | Pool, options),
  },
  {
    name: 'MysqlStorage',
    start: () => PrivateMariadb.start(),
    userPool(url) {
      const pool = createPool({ uri: url, connectTimeout: 1000 });
      return { pool, end: () => endMysql(pool) };
    },
    make: (connection, options) => new MysqlStorage(connection as string | MysqlPool, options),
  },
];

describe.each(KINDS)('$name while the database goes down and comes back', (kind) => {
  let server: Server;
  beforeAll(async () => {
    server = await kind.start();
  }, 60_000);
  afterAll(() => server.destroy());

  it.each(['owned pool (URL)', 'pool passed in'])(
    'should fail fast and recover by itself (%s)',
    async (how) => {
      const backgroundErrors: StorageError[] = [];
      const unhandled: unknown[] = [];
      const onUnhandled = (e: unknown) => unhandled.push(e);
      process.on('unhandledRejection', onUnhandled);
      process.on('uncaughtException', onUnhandled);
      const user = how === 'pool passed in' ? kind.userPool(server.url) : undefined;
      const storage = kind.make(user?.pool ?? server.url, { table: 'sw_outage', queryTimeout: TIMEOUT, updateTTLInterval: 60_000, onError: (e) => backgroundErrors.push(e) });
      try {
        const app = appFor(storage);
        const id = generateId();
        await storage.setSession(id, ONE, HOUR, { create: true });
        await expect(storage.getSession(id, HOUR)).resolves.toEqual(new Map([['a', '1']]));

        await server.stop();

        for (const [operation, call] of [
          ['getSession', () => storage.getSession(id, HOUR)],
          ['setSession', () => storage.setSession(id, ONE, HOUR, { create: false })],
          ['removeAll', () => storage.removeAll(id)],
          ['moveSession', () => storage.moveSession(id, generateId(), NONE, HOUR, { keep: undefined, forwardTTL: 1000 })],
          ['compareAndSet', () => storage.compareAndSet(id, 'a', '1', '2', HOUR, { create: false })],
          ['count', () => storage.count()],
        ] as const) {
          const { err, ms } = await failure(call());
          expect(err.operation).toBe(operation);
          expect(err.message).toContain(`.${operation}`);
          expect(err.message).not.toContain(id);
          expect(ms).toBeLessThan(TIMEOUT + 1000);
        }
        await storage.updateTTL(id, HOUR);
        expect((await failure(storage.flush())).err.operation).toBe('updateTTL');
        expect((await failure(storage.sweep())).err.operation).toBe('sweep');

        const start = Date.now();
        await request(app).get('/untouched').expect(200, 'ok');
        const res = await request(app).get('/set').expect(503);
        expect(res.body).toEqual({ code: 'ERR_SESSION_STORAGE', operation: 'setSession' });
        expect(Date.now() - start).toBeLessThan(TIMEOUT + 1500);

        await server.resume();

        await eventually(() => storage.getSession(id, HOUR));
        await expect(storage.getSession(id, HOUR)).resolves.toEqual(new Map([['a', '1']])); // the data survived the crash
        const fresh = generateId();
        await eventually(() => storage.setSession(fresh, ONE, HOUR, { create: true }));
        await eventually(async () => {
          await request(app).get('/set').expect(200);
        });

        await storage.updateTTL(fresh, HOUR);
        await server.stop();
        await storage.close(); // the failed final flush goes to onError; close still resolves
        expect(backgroundErrors.some((e) => e.operation === 'updateTTL')).toBe(true);
        await sleep(200); // let idle connections notice the crash
        expect(unhandled).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
        process.off('uncaughtException', onUnhandled);
        await storage.close();
        await user?.end().catch(() => undefined);
        await server.resume();
      }
    },
    60_000,
  );

  it('should fail fast while the database is down at startup, then work once it is up', async () => {
    await server.stop();
    const storage = kind.make(server.url, { table: 'sw_outage_start', queryTimeout: TIMEOUT });
    try {
      const { err, ms } = await failure(storage.getSession(generateId(), HOUR));
      expect(err.operation).toBe('getSession');
      expect(ms).toBeLessThan(TIMEOUT + 1000);
      await server.resume();
      const id = generateId();
      await eventually(() => storage.setSession(id, ONE, HOUR, { create: true }));
      await expect(storage.getSession(id, HOUR)).resolves.toBeDefined();
    } finally {
      await storage.close();
    }
  }, 60_000);
});

describe.each([
  ['PostgresStorage', () => PrivatePostgres.start(), (url: string) => new PostgresStorage(url, { table: 'sw_hang', queryTimeout: TIMEOUT })],
  ['MysqlStorage', () => PrivateMariadb.start(), (url: string) => new MysqlStorage(url, { table: 'sw_hang', queryTimeout: TIMEOUT })],
] as const)('%s while the database hangs (SIGSTOP)', (_name, start, make) => {
  it('should fail within queryTimeout, and answer again once the database does', async () => {
    const server = await start();
    const storage = make(server.url);
    try {
      const id = generateId();
      await storage.setSession(id, ONE, HOUR, { create: true });
      await server.pause(true);
      const { err, ms } = await failure(storage.getSession(id, HOUR));
      expect(err.operation).toBe('getSession');
      expect(err.message).toMatch(/did not answer within 500 ms/);
      expect(ms).toBeLessThan(TIMEOUT + 300);
      const write = await failure(storage.setSession(id, ONE, HOUR, { create: false }));
      expect(write.err.operation).toBe('setSession');
      await server.pause(false);
      await expect(eventually(() => storage.getSession(id, HOUR))).resolves.toEqual(new Map([['a', '1']]));
    } finally {
      await server.pause(false);
      await storage.close();
      await server.destroy();
    }
  }, 60_000);
});
