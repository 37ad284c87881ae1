import { generateId, SessionOptionsError, SessionValueError, type StorageError } from 'sessionware';
import { PostgresStorage } from 'sessionware/postgres';
import { describeStorage } from 'sessionware/testing';
import { dropPgTable, pgPool, pgUrl, sleep, uniqueTable } from '../helpers/sql';

const TABLE = uniqueTable('sw_pg');
const pool = pgPool();
afterAll(async () => {
  await dropPgTable(pool, TABLE);
  await pool.end();
});

describeStorage(
  'PostgresStorage',
  async () => {
    const storage = new PostgresStorage(pool, { table: TABLE });
    return { storage, advance: sleep, flush: () => storage.flush() };
  },
  { shortTTL: 300 },
);

const one = (key: string, value: string) => ({ set: new Map([[key, value]]), removed: new Set<string>() });
const CREATE = { create: true } as const;
const UPDATE = { create: false } as const;
const HOUR = 3_600_000;

describe('PostgresStorage', () => {
  let storage: PostgresStorage;
  beforeEach(() => {
    storage = new PostgresStorage(pool, { table: TABLE });
  });
  afterEach(() => storage.close());

  it('should reject bad options with a SessionOptionsError', () => {
    expect(() => new PostgresStorage(pool, { table: 'x; drop table y' })).toThrow(SessionOptionsError);
    expect(() => new PostgresStorage(pool, { updateTTLInterval: 0 })).toThrow(SessionOptionsError);
    expect(() => new PostgresStorage(pool, { queryTimeout: -1 })).toThrow(SessionOptionsError);
    expect(() => new PostgresStorage(pool, { sweepBatchSize: 1.5 })).toThrow(SessionOptionsError);
    expect(() => new PostgresStorage(null as unknown as string)).toThrow(/pg Pool/);
  });

  it('should store the row on the database clock, with data as an object of JSON texts', async () => {
    const id = generateId();
    await storage.setSession(id, { set: new Map([['n', '12345678901234567890'], ['o', '{"a": [1]}']]), removed: new Set() }, HOUR, CREATE);
    const { rows } = await pool.query(`SELECT data, extract(epoch from expires_at - now()) * 1000 AS left_ms, forward_to FROM "${TABLE}" WHERE id = $1`, [id]);
    expect(rows[0].data).toEqual({ n: '12345678901234567890', o: '{"a": [1]}' });
    expect(Number(rows[0].left_ms)).toBeGreaterThan(HOUR - 5000);
    expect(Number(rows[0].left_ms)).toBeLessThanOrEqual(HOUR);
    expect(rows[0].forward_to).toBeNull();
  });

  it('should reject keys PostgreSQL cannot hold, naming the key, before sending anything', async () => {
    const id = generateId();
    await storage.setSession(id, one('a', '1'), HOUR, CREATE);
    for (const key of ['bad\u0000key', 'lone\ud800']) {
      const err = await storage.setSession(id, one(key, '1'), HOUR, UPDATE).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SessionValueError);
      expect((err as SessionValueError).key).toBe(key);
      expect((err as Error).message).toMatch(/cannot store/);
    }
    // U+0000 inside a value's JSON text is fine.
    await storage.setSession(id, one('v', JSON.stringify('nul\u0000here')), HOUR, UPDATE);
    expect((await storage.getSession(id))?.get('v')).toBe(JSON.stringify('nul\u0000here'));
  });

  it('should keep the id case-sensitive (C collation)', async () => {
    const [lower, upper] = ['abcdefgh', 'ABCDEFGH'].map((p) => p + generateId().slice(0, 8));
    await storage.setSession(lower as string, one('who', '"lower"'), HOUR, CREATE);
    expect(await storage.getSession((lower as string).toUpperCase())).toBeUndefined();
    expect(upper).toBeDefined();
  });

  it('should restart an expired leftover row empty on create', async () => {
    const id = generateId();
    await storage.setSession(id, one('old', '1'), 50, CREATE);
    await sleep(100);
    await storage.setSession(id, one('new', '2'), HOUR, CREATE);
    expect(await storage.getSession(id)).toEqual(new Map([['new', '2']]));
  });

  it('should count live sessions only (not expired rows, not forwards)', async () => {
    const table = uniqueTable('sw_pg_count');
    const counted = new PostgresStorage(pool, { table });
    try {
      expect(await counted.count()).toBe(0);
      const [a, b, c] = [generateId(), generateId(), generateId()];
      await counted.setSession(a, one('a', '1'), HOUR, CREATE);
      await counted.setSession(b, one('a', '1'), HOUR, CREATE);
      await counted.setSession(c, one('a', '1'), 30, CREATE);
      await sleep(80);
      expect(await counted.count()).toBe(2);
      await counted.moveSession(a, generateId(), { set: new Map(), removed: new Set() }, HOUR, { keep: undefined, forwardTTL: 60_000 });
      expect(await counted.count()).toBe(2);
      expect(await counted.sweep()).toBe(1);
    } finally {
      await counted.close();
      await dropPgTable(pool, table);
    }
  });

  it('should sweep expired rows in bounded batches, leaving live ones', async () => {
    const table = uniqueTable('sw_pg_sweep');
    const swept = new PostgresStorage(pool, { table, sweepBatchSize: 7, sweepInterval: false });
    try {
      const live = generateId();
      await swept.setSession(live, one('a', '1'), HOUR, CREATE);
      await Promise.all(Array.from({ length: 20 }, () => swept.setSession(generateId(), one('a', '1'), 20, CREATE)));
      await sleep(60);
      expect(await swept.sweep()).toBe(20);
      const { rows } = await pool.query(`SELECT id FROM "${table}"`);
      expect(rows.map((r: { id: string }) => r.id)).toEqual([live]);
    } finally {
      await swept.close();
      await dropPgTable(pool, table);
    }
  });

  it('should batch long-TTL refreshes until flush, and send short-TTL refreshes at once', async () => {
    const batched = new PostgresStorage(pool, { table: TABLE, updateTTLInterval: 60_000 });
    const [long, short] = [generateId(), generateId()];
    await batched.setSession(long, one('a', '1'), 200_000, CREATE);
    await batched.setSession(short, one('a', '1'), 5_000, CREATE);
    await batched.updateTTL(long, HOUR);
    await batched.updateTTL(short, 100_000);
    expect(batched.pendingTTLUpdates).toBe(1);
    const left = async (id: string) => Number((await pool.query(`SELECT extract(epoch from expires_at - now()) * 1000 AS l FROM "${TABLE}" WHERE id = $1`, [id])).rows[0].l);
    expect(await left(long)).toBeLessThanOrEqual(200_000);
    expect(await left(short)).toBeGreaterThan(90_000);
    await batched.close(); // flushes
    expect(await left(long)).toBeGreaterThan(HOUR - 5000);
  });

  it('should connect through libpq environment variables when given no connection', async () => {
    const url = new URL(pgUrl());
    const saved = { ...process.env };
    Object.assign(process.env, { PGHOST: url.hostname, PGPORT: url.port || '5432', PGUSER: decodeURIComponent(url.username), PGDATABASE: url.pathname.slice(1) });
    try {
      const fromEnv = new PostgresStorage(undefined, { table: TABLE });
      await expect(fromEnv.count()).resolves.toBeGreaterThanOrEqual(0);
      await fromEnv.close();
    } finally {
      for (const k of ['PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });

  it('should create, own and close its pool when given a connection string, and report idle pool errors', async () => {
    const errors: StorageError[] = [];
    const owned = new PostgresStorage(pgUrl(), { table: TABLE, onError: (e) => errors.push(e) });
    const id = generateId();
    await owned.setSession(id, one('a', '1'), HOUR, CREATE);
    expect(await owned.getSession(id)).toEqual(new Map([['a', '1']]));
    owned.pool.emit('error', new Error('terminating connection due to administrator command'));
    expect(errors[0]?.operation).toBe('pool');
    await owned.close();
    expect(owned.pool.ended).toBe(true);
    expect(pool.ended).toBe(false);
  });
  it('should say what to do when the table is missing and createTable is false', async () => {
    const missing = new PostgresStorage(pool, { table: uniqueTable('sw_missing'), createTable: false });
    const err = await missing.getSession(generateId()).catch((e: unknown) => e);
    expect((err as StorageError).operation).toBe('getSession');
    expect((err as Error).message).toMatch(/create the table \(storage\.schemaSQL.*or set createTable: true/);
    await missing.close();
  });

  it('should keep two tables apart on one pool (statement names carry the table)', async () => {
    const other = uniqueTable('sw_other');
    const second = new PostgresStorage(pool, { table: other });
    try {
      const id = generateId();
      await storage.setSession(id, one('t', '"first"'), HOUR, CREATE);
      await second.setSession(id, one('t', '"second"'), HOUR, CREATE);
      expect(await storage.getSession(id)).toEqual(new Map([['t', '"first"']]));
      expect(await second.getSession(id)).toEqual(new Map([['t', '"second"']]));
    } finally {
      await second.close();
      await dropPgTable(pool, other);
    }
  });
});
