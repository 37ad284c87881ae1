import { generateId, SessionOptionsError, SessionValueError, type StorageError } from 'sessionware';
import { MysqlStorage } from 'sessionware/mysql';
import { describeStorage } from 'sessionware/testing';
import { createPool as createPromisePool } from 'mysql2/promise';
import { dropMysqlTable, endMysql, mysqlPool, mysqlQuery, mysqlUrl, sleep, uniqueTable } from '../helpers/sql';

const TABLE = uniqueTable('sw_my');
const pool = mysqlPool();
afterAll(async () => {
  await dropMysqlTable(pool, TABLE);
  await endMysql(pool);
});

describeStorage(
  'MysqlStorage',
  async () => {
    const storage = new MysqlStorage(pool, { table: TABLE });
    return { storage, advance: sleep, flush: () => storage.flush() };
  },
  { shortTTL: 300 },
);

const one = (key: string, value: string) => ({ set: new Map([[key, value]]), removed: new Set<string>() });
const CREATE = { create: true } as const;
const UPDATE = { create: false } as const;
const HOUR = 3_600_000;
type Rows = Array<Record<string, unknown>>;
const msLeft = async (table: string, id: string) =>
  Number((await mysqlQuery<Rows>(pool, `SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3), expires_at) / 1000 AS l FROM \`${table}\` WHERE id = ?`, [id]))[0]?.['l']);

describe('MysqlStorage', () => {
  let storage: MysqlStorage;
  beforeEach(() => {
    storage = new MysqlStorage(pool, { table: TABLE });
  });
  afterEach(() => storage.close());

  it('should reject bad options with a SessionOptionsError', () => {
    expect(() => new MysqlStorage(pool, { table: 'x`; drop table y' })).toThrow(SessionOptionsError);
    expect(() => new MysqlStorage(pool, { updateTTLInterval: 0 })).toThrow(SessionOptionsError);
    expect(() => new MysqlStorage(pool, { sweepInterval: -5 })).toThrow(SessionOptionsError);
    expect(() => new MysqlStorage(undefined as unknown as string)).toThrow(/mysql2 pool/);
  });

  it('should store the row on the database clock (UTC), with data as an object of JSON texts', async () => {
    const id = generateId();
    await storage.setSession(id, { set: new Map([['n', '12345678901234567890'], ['o', '{"a": [1]}']]), removed: new Set() }, HOUR, CREATE);
    const rows = await mysqlQuery<Rows>(pool, `SELECT data, forward_to FROM \`${TABLE}\` WHERE id = ?`, [id]);
    const data = rows[0]?.['data'];
    expect(typeof data === 'string' ? JSON.parse(data) : data).toEqual({ n: '12345678901234567890', o: '{"a": [1]}' });
    expect(rows[0]?.['forward_to']).toBeNull();
    const left = await msLeft(TABLE, id);
    expect(left).toBeGreaterThan(HOUR - 5000);
    expect(left).toBeLessThanOrEqual(HOUR);
  });

  it('should keep ids case-sensitive (ascii_bin)', async () => {
    const id = `abcdefgh${generateId().slice(0, 8)}`;
    await storage.setSession(id, one('who', '"lower"'), HOUR, CREATE);
    expect(await storage.getSession(id.toUpperCase())).toBeUndefined();
    expect(await storage.setSession(id.toUpperCase(), one('x', '1'), HOUR, UPDATE)).toBe(false);
    expect(await storage.getSession(id)).toEqual(new Map([['who', '"lower"']]));
  });

  it('should reject keys with a lone surrogate, naming the key', async () => {
    const err = await storage.setSession(generateId(), one('lone\udc00', '1'), HOUR, CREATE).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionValueError);
    expect((err as SessionValueError).key).toBe('lone\udc00');
  });

  it('should store, merge, compare and remove keys holding U+0000 verbatim (MariaDB escapes them in its JSON text), so it vets no keys', async () => {
    expect((storage as { vetKey?: unknown }).vetKey).toBeUndefined();
    const id = generateId();
    const nul = 'a\u0000b';
    await storage.setSession(id, { set: new Map([[nul, '"v"'], ['a', '1']]), removed: new Set() }, HOUR, CREATE);
    expect(await storage.getSession(id)).toEqual(new Map([[nul, '"v"'], ['a', '1']]));
    expect(await storage.compareAndSet(id, nul, '"v"', '"w"', HOUR, UPDATE)).toBe('ok');
    expect(await storage.compareAndSet(id, 'a\u0000', undefined, '1', HOUR, UPDATE)).toBe('ok');
    await storage.setSession(id, { set: new Map(), removed: new Set(['a\u0000']) }, HOUR, UPDATE);
    expect(await storage.getSession(id)).toEqual(new Map([['a', '1'], [nul, '"w"']]));
    const next = generateId();
    await storage.moveSession(id, next, { set: new Map(), removed: new Set() }, HOUR, { keep: new Set([nul]), forwardTTL: 1000 });
    expect(await storage.getSession(next)).toEqual(new Map([[nul, '"w"']]));
  });

  it('should not revive an expired row with an update, and restart it empty on create', async () => {
    const id = generateId();
    await storage.setSession(id, one('old', '1'), 50, CREATE);
    await sleep(100);
    expect(await storage.setSession(id, one('x', '1'), HOUR, UPDATE)).toBe(false);
    await storage.setSession(id, { set: new Map([['new', '2']]), removed: new Set(['old']) }, HOUR, CREATE);
    expect(await storage.getSession(id)).toEqual(new Map([['new', '2']]));
  });

  it('should count live sessions and sweep expired rows in bounded batches', async () => {
    const table = uniqueTable('sw_my_sweep');
    const swept = new MysqlStorage(pool, { table, sweepBatchSize: 7, sweepInterval: false });
    try {
      const live = generateId();
      await swept.setSession(live, one('a', '1'), HOUR, CREATE);
      await Promise.all(Array.from({ length: 20 }, () => swept.setSession(generateId(), one('a', '1'), 20, CREATE)));
      await sleep(60);
      expect(await swept.count()).toBe(1);
      expect(await swept.sweep()).toBe(20);
      const rows = await mysqlQuery<Rows>(pool, `SELECT id FROM \`${table}\``);
      expect(rows.map((r) => r['id'])).toEqual([live]);
    } finally {
      await swept.close();
      await dropMysqlTable(pool, table);
    }
  });

  it('should batch long-TTL refreshes until flush, and send short-TTL refreshes at once', async () => {
    const batched = new MysqlStorage(pool, { table: TABLE, updateTTLInterval: 60_000 });
    const [long, short] = [generateId(), generateId()];
    await batched.setSession(long, one('a', '1'), 200_000, CREATE);
    await batched.setSession(short, one('a', '1'), 5_000, CREATE);
    await batched.updateTTL(long, HOUR);
    await batched.updateTTL(short, 100_000);
    expect(batched.pendingTTLUpdates).toBe(1);
    expect(await msLeft(TABLE, long)).toBeLessThanOrEqual(200_000);
    expect(await msLeft(TABLE, short)).toBeGreaterThan(90_000);
    await batched.close();
    expect(await msLeft(TABLE, long)).toBeGreaterThan(HOUR - 5000);
  });

  it('should accept a mysql2/promise pool, and own and close a pool made from a URL', async () => {
    const promisePool = createPromisePool({ uri: mysqlUrl(), connectionLimit: 2 });
    const wrapped = new MysqlStorage(promisePool, { table: TABLE });
    const id = generateId();
    await wrapped.setSession(id, one('a', '1'), HOUR, CREATE);
    await wrapped.close();
    await promisePool.end();
    const errors: StorageError[] = [];
    const owned = new MysqlStorage(mysqlUrl(), { table: TABLE, onError: (e) => errors.push(e) });
    expect(await owned.getSession(id)).toEqual(new Map([['a', '1']]));
    owned.pool.emit('error', new Error('boom'));
    expect(errors[0]?.operation).toBe('pool');
    await owned.close();
  });
  it('should say what to do when the table is missing and createTable is false', async () => {
    const missing = new MysqlStorage(pool, { table: uniqueTable('sw_missing'), createTable: false });
    const err = await missing.getSession(generateId()).catch((e: unknown) => e);
    expect((err as StorageError).operation).toBe('getSession');
    expect((err as Error).message).toMatch(/create the table \(storage\.schemaSQL.*or set createTable: true/);
    await missing.close();
  });

  it('should keep two tables apart on one pool (statement names carry the table)', async () => {
    const other = uniqueTable('sw_other');
    const second = new MysqlStorage(pool, { table: other });
    try {
      const id = generateId();
      await storage.setSession(id, one('t', '"first"'), HOUR, CREATE);
      await second.setSession(id, one('t', '"second"'), HOUR, CREATE);
      expect(await storage.getSession(id)).toEqual(new Map([['t', '"first"']]));
      expect(await second.getSession(id)).toEqual(new Map([['t', '"second"']]));
    } finally {
      await second.close();
      await dropMysqlTable(pool, other);
    }
  });
});
