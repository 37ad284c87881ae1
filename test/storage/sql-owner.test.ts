/**
 * The owner index of both SQL storages, beyond the contract suite: the `owner` column holds a
 * digest and follows `$sw:owner` through every write (set, remove, move with and without it,
 * compare-and-set), `createTable` adds the column and index to a table of the previous version
 * (also with two storages at once), expired rows leave the index with the sweep, expiries are on
 * the database clock, and the statements each call costs (a read still costs one, unchanged).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateId, type OwnedSession, type Storage } from 'sessionware';
import { MysqlStorage } from 'sessionware/mysql';
import { PostgresStorage } from 'sessionware/postgres';
import type { Pool } from 'pg';
import type { Pool as MysqlPool } from 'mysql2';
import { movedOwner } from '../../lib/storage/sql/sql-owner'; // internal to the SQL storages
import { dropMysqlTable, dropPgTable, endMysql, mysqlPool, mysqlQuery, pgPool, sleep, uniqueTable } from '../helpers/sql';

const OWNER_KEY = '$sw:owner';
const HOUR = 3_600_000;
const CREATE = { create: true } as const;
const UPDATE = { create: false } as const;
const NONE = { set: new Map<string, string>(), removed: new Set<string>() };
const digest = (owner: string) => createHash('sha256').update(owner).digest('base64url');
const ownerSet = (owner: string) => ({ set: new Map([[OWNER_KEY, JSON.stringify(owner)], ['user', '"u"']]), removed: new Set<string>() });
const ids = (listed: readonly OwnedSession[]) => listed.map((o) => o.id).sort();

type SqlStorage = (PostgresStorage | MysqlStorage) & Required<Pick<Storage, 'addOwner' | 'ownerSessions' | 'forgetOwner'>>;

/** What each server needs: a pool, its storage, raw queries, the previous version's schema, a statement counter. */
interface Server {
  make(table: string, options?: { createTable?: boolean }): SqlStorage;
  rows(sql: string, values?: unknown[]): Promise<Array<Record<string, unknown>>>;
  quote(table: string): string;
  /** The `CREATE TABLE` of the version before the owner index. */
  oldSchema(table: string): string[];
  /** The names of the table's indexes. */
  indexes(table: string): Promise<string[]>;
  drop(table: string): Promise<void>;
  /** Records every statement sent on the pool from now on (call the result to stop). */
  count(): { seen: string[]; stop(): void };
  end(): Promise<void>;
}

function postgres(): Server {
  const pool: Pool = pgPool();
  return {
    make: (table, options = {}) => new PostgresStorage(pool, { table, ...options }) as SqlStorage,
    rows: async (sql, values = []) => (await pool.query(sql, values)).rows as Array<Record<string, unknown>>,
    quote: (t) => `"${t}"`,
    oldSchema: (t) => [
      `CREATE TABLE "${t}" (id varchar(128) COLLATE "C" PRIMARY KEY, data jsonb NOT NULL, expires_at timestamptz NOT NULL, forward_to varchar(128) COLLATE "C")`,
      `CREATE INDEX "${t}_expires_at" ON "${t}" (expires_at)`,
    ],
    indexes: async (t) => (await pool.query<{ n: string }>('SELECT indexname AS n FROM pg_indexes WHERE tablename = $1', [t])).rows.map((r) => r.n).sort(),
    drop: (t) => dropPgTable(pool, t),
    count() {
      const seen: string[] = [];
      const query = pool.query;
      (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        const first = args[0] as string | { name?: string; text: string };
        seen.push(typeof first === 'string' ? first : first.text);
        return (query as (...a: unknown[]) => unknown).apply(pool, args);
      };
      return { seen, stop: () => void (pool.query = query) };
    },
    end: () => pool.end(),
  };
}

function mysql(): Server {
  const pool: MysqlPool = mysqlPool();
  return {
    make: (table, options = {}) => new MysqlStorage(pool, { table, ...options }) as SqlStorage,
    rows: (sql, values = []) => mysqlQuery<Array<Record<string, unknown>>>(pool, sql, values),
    quote: (t) => `\`${t}\``,
    oldSchema: (t) => [
      `CREATE TABLE \`${t}\` (id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, data JSON NOT NULL, expires_at DATETIME(3) NOT NULL,
  forward_to VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL, PRIMARY KEY (id), KEY \`${t}_expires_at\` (expires_at)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    ],
    indexes: async (t) =>
      [...new Set((await mysqlQuery<Array<{ n: string }>>(pool, 'SELECT INDEX_NAME AS n FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?', [t])).map((r) => r.n))].sort(),
    drop: (t) => dropMysqlTable(pool, t),
    count() {
      const seen: string[] = [];
      const originals = { query: pool.query, execute: pool.execute };
      for (const method of ['query', 'execute'] as const) {
        const original = originals[method] as (...a: unknown[]) => unknown;
        (pool as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
          seen.push(String(args[0]));
          return original.apply(pool, args);
        };
      }
      return { seen, stop: () => Object.assign(pool, originals) };
    },
    end: () => endMysql(pool),
  };
}

describe.each([
  ['PostgresStorage', postgres],
  ['MysqlStorage', mysql],
] as const)('%s owner index', (_name, connect) => {
  const server = connect();
  const TABLE = uniqueTable('sw_owner');
  const tables = [TABLE];
  let storage: SqlStorage;
  const owner = (name: string) => `${name}:${generateId()}`;
  const column = async (id: string) => (await server.rows(`SELECT owner FROM ${server.quote(TABLE)} WHERE id = ${_name === 'PostgresStorage' ? '$1' : '?'}`, [id]))[0]?.['owner'];

  beforeEach(() => {
    storage = server.make(TABLE);
  });
  afterEach(() => storage.close());
  afterAll(async () => {
    for (const t of tables) await server.drop(t);
    await server.end();
  });

  it('should store a digest of the owner, follow $sw:owner through set and remove, and leave it alone otherwise', async () => {
    const [alice, bob] = [owner('alice'), owner('bob')];
    const id = generateId();
    await storage.setSession(id, ownerSet(alice), HOUR, CREATE);
    expect(await column(id)).toBe(digest(alice));
    await storage.setSession(id, { set: new Map([['n', '1']]), removed: new Set(['user']) }, HOUR, UPDATE);
    expect(await column(id)).toBe(digest(alice));
    await storage.setSession(id, ownerSet(bob), HOUR, UPDATE);
    expect(ids(await storage.ownerSessions(alice))).toEqual([]);
    expect(ids(await storage.ownerSessions(bob))).toEqual([id]);
    await storage.setSession(id, { set: new Map(), removed: new Set([OWNER_KEY]) }, HOUR, UPDATE);
    expect(await column(id)).toBeNull();
    expect(await storage.ownerSessions(bob)).toEqual([]);
    // create: true on a stored session (upsert) that leaves $sw:owner alone keeps the column
    await storage.setSession(id, ownerSet(bob), HOUR, UPDATE);
    await storage.setSession(id, { set: new Map([['m', '2']]), removed: new Set() }, HOUR, CREATE);
    expect(await column(id)).toBe(digest(bob));
  });

  it('should move the owner with the session, drop it when keep leaves $sw:owner out, and never list the forward', async () => {
    const alice = owner('alice');
    const [a, b, c] = [generateId(), generateId(), generateId()];
    await storage.setSession(a, ownerSet(alice), HOUR, CREATE);
    await storage.moveSession(a, b, NONE, HOUR, { keep: new Set([OWNER_KEY]), forwardTTL: 60_000 });
    expect(await column(a)).toBeNull();
    expect(await column(b)).toBe(digest(alice));
    expect(ids(await storage.ownerSessions(alice))).toEqual([b]);
    await storage.moveSession(b, c, NONE, HOUR, { keep: new Set(['user']), forwardTTL: 60_000 });
    expect(await column(c)).toBeNull();
    expect(await storage.ownerSessions(alice)).toEqual([]);
  });

  it('should follow a compare-and-set of $sw:owner', async () => {
    const [alice, bob] = [owner('alice'), owner('bob')];
    const id = generateId();
    await expect(storage.compareAndSet(id, OWNER_KEY, undefined, JSON.stringify(alice), HOUR, CREATE)).resolves.toBe('ok');
    expect(await column(id)).toBe(digest(alice));
    await expect(storage.compareAndSet(id, OWNER_KEY, JSON.stringify(alice), JSON.stringify(bob), HOUR, UPDATE)).resolves.toBe('ok');
    expect(ids(await storage.ownerSessions(bob))).toEqual([id]);
    await expect(storage.compareAndSet(id, 'n', undefined, '1', HOUR, UPDATE)).resolves.toBe('ok');
    expect(await column(id)).toBe(digest(bob));
    await expect(storage.compareAndSet(id, OWNER_KEY, JSON.stringify(bob), undefined, HOUR, UPDATE)).resolves.toBe('ok');
    expect(await column(id)).toBeNull();
  });

  it('should give expiries on the database clock, and lose expired rows from the index with the sweep', async () => {
    const alice = owner('alice');
    const [short, long] = [generateId(), generateId()];
    await storage.setSession(short, ownerSet(alice), 300, CREATE);
    await storage.setSession(long, ownerSet(alice), HOUR, CREATE);
    const listed = await storage.ownerSessions(alice);
    expect(ids(listed)).toEqual([short, long].sort());
    const at = (id: string) => listed.find((o) => o.id === id)?.expiresAt ?? 0;
    expect(Math.abs(at(long) - (Date.now() + HOUR))).toBeLessThan(5_000); // the database runs on this machine
    await sleep(450); // the database's clock: nothing to inject
    expect(ids(await storage.ownerSessions(alice))).toEqual([long]);
    await storage.sweep();
    const left = await server.rows(`SELECT id FROM ${server.quote(TABLE)} WHERE owner = ${_name === 'PostgresStorage' ? '$1' : '?'}`, [digest(alice)]);
    expect(left.map((r) => r['id'])).toEqual([long]);
  });

  it('should add the column and its index to a table of the previous version (two storages at once), keeping its sessions', async () => {
    const table = uniqueTable('sw_owner_old');
    tables.push(table);
    for (const sql of server.oldSchema(table)) await server.rows(sql);
    const id = generateId();
    // a session the previous version wrote
    const insert = _name === 'PostgresStorage'
      ? `INSERT INTO "${table}" (id, data, expires_at) VALUES ($1, $2, now() + interval '1 hour')`
      : `INSERT INTO \`${table}\` (id, data, expires_at) VALUES (?, ?, UTC_TIMESTAMP(3) + INTERVAL 1 HOUR)`;
    await server.rows(insert, [id, JSON.stringify({ user: '"old"' })]);
    // createTable: false on such a table: writes say what to do
    const unmigrated = server.make(table, { createTable: false });
    await expect(unmigrated.setSession(id, ownerSet('x'), HOUR, UPDATE)).rejects.toThrow(/owner.*(README|createTable: true)/);
    await unmigrated.close();
    const [one, two] = [server.make(table), server.make(table)];
    await Promise.all([one.count(), two.count()]);
    expect(await server.indexes(table)).toEqual(expect.arrayContaining([`${table}_expires_at`, `${table}_owner`]));
    await expect(one.getSession(id)).resolves.toEqual(new Map([['user', '"old"']]));
    const alice = owner('alice');
    await two.setSession(id, ownerSet(alice), HOUR, UPDATE);
    expect(ids(await one.ownerSessions(alice))).toEqual([id]);
    await Promise.all([one.close(), two.close()]);
    const again = server.make(table); // a table that has it all: nothing more is changed
    await again.count();
    await again.close();
  });

  it("should show the schema it creates (owner column and index included) in the README", () => {
    const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
    const schema = server.make('sessionware_sessions', { createTable: false });
    expect(readme).toContain(schema.schemaSQL);
    expect(schema.schemaSQL).toMatch(/\bowner\b.*COLLATE/);
    void schema.close();
  });

  it('should cost no statement for addOwner, one per ownerSessions and forgetOwner, and still one per read of an owned session', async () => {
    const alice = owner('alice');
    const id = generateId();
    await storage.setSession(id, ownerSet(alice), HOUR, CREATE); // creates the table: outside the count
    const counter = server.count();
    try {
      await storage.addOwner(alice, id, HOUR);
      expect(counter.seen.splice(0)).toEqual([]);
      await storage.getSession(id);
      const read = counter.seen.splice(0);
      expect(read).toHaveLength(1);
      expect(read[0]).not.toMatch(/\bowner\b/);
      await storage.setSession(id, { set: new Map([['n', '1']]), removed: new Set() }, HOUR, UPDATE);
      expect(counter.seen.splice(0)).toHaveLength(1);
      await storage.setSession(id, ownerSet(alice), HOUR, UPDATE);
      expect(counter.seen.splice(0)).toHaveLength(1);
      await storage.ownerSessions(alice);
      expect(counter.seen.splice(0)).toHaveLength(1);
      await storage.forgetOwner(alice, [id]);
      expect(counter.seen.splice(0)).toHaveLength(1);
      expect(await storage.ownerSessions(alice)).toEqual([]);
      await storage.forgetOwner(alice, []);
      counter.seen.splice(0);
      await storage.forgetOwner(alice, []);
      expect(counter.seen).toEqual([]);
    } finally {
      counter.stop();
    }
  });
});

describe('movedOwner (the owner column of a move done in SQL)', () => {
  const text = JSON.stringify('ada');
  it('should copy the old column unless the move sets, removes or drops $sw:owner', () => {
    expect(movedOwner(NONE, undefined)).toEqual({ copy: true, value: null });
    expect(movedOwner(NONE, new Set([OWNER_KEY, 'cart']))).toEqual({ copy: true, value: null });
    expect(movedOwner(NONE, new Set(['cart']))).toEqual({ copy: false, value: null });
    expect(movedOwner({ set: new Map([[OWNER_KEY, text]]), removed: new Set() }, undefined)).toEqual({ copy: false, value: digest('ada') });
    expect(movedOwner({ set: new Map([[OWNER_KEY, text]]), removed: new Set() }, new Set(['cart']))).toEqual({ copy: false, value: null });
    expect(movedOwner({ set: new Map(), removed: new Set([OWNER_KEY]) }, undefined)).toEqual({ copy: false, value: null });
  });
});
