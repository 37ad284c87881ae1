/**
 * Real express-session stores for the StoreAdapter tests: express-session's own MemoryStore,
 * connect-redis on the shared Redis (unique key prefix, removed after), connect-pg-simple on the
 * real PostgreSQL (a table of its own, dropped after) and better-sqlite3-session-store on a SQLite
 * file in a temp dir (removed after).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { RequestHandler } from 'express';
import { RedisStore } from 'connect-redis';
import { Pool } from 'pg';
import { createClient } from 'redis';
import type { ExpressStore, StoreAdapterOptions } from 'sessionware/express-session-store';
import { memcachedHosts, stopMemcached } from './memcached';
import { cleanupPrefix, sharedRedisUrl, stopSharedRedis, testClient, uniquePrefix } from './redis';

/**
 * express-session, typed here: `@types/express-session` would re-declare `req.session` for the
 * whole test program, over sessionware's own declaration.
 */
export interface ExpressSessionModule {
  (options: Record<string, unknown>): RequestHandler;
  readonly MemoryStore: new () => Store;
  readonly Store: new () => object;
}

/** An express-session store as the tests use it. */
export type Store = ExpressStore & { clear?(callback?: (err?: unknown) => void): void; emit(event: string, ...args: unknown[]): boolean };

/* eslint-disable @typescript-eslint/no-require-imports */
export const expressSession = require('express-session') as ExpressSessionModule;
const connectPgSimple = require('connect-pg-simple') as (s: ExpressSessionModule) => new (options: Record<string, unknown>) => Store;
const Database = require('better-sqlite3') as new (file: string) => SqliteDatabase;
const memorystore = require('memorystore') as (s: ExpressSessionModule) => new (options?: Record<string, unknown>) => Store;
const connectMemcached = require('connect-memcached') as (s: ExpressSessionModule) => new (options: Record<string, unknown>) => Store & { client: MemcachedClient };
const sqliteStoreFactory = require('better-sqlite3-session-store') as (s: ExpressSessionModule) => new (options: { client: SqliteDatabase }) => Store;
/* eslint-enable @typescript-eslint/no-require-imports */

interface MemcachedClient {
  get(key: string, cb: (err: unknown, data: unknown) => void): void;
  end(): void;
}

interface SqliteDatabase {
  prepare(sql: string): { get(...args: unknown[]): unknown; run(...args: unknown[]): unknown };
  close(): void;
}

/** PostgreSQL for the tests: `POSTGRES_URL`, by default the local server's `test` database. */
export const POSTGRES_URL = process.env['POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** One express-session store, empty, and how to read what it keeps and remove it all. */
export interface StoreFixture {
  readonly store: Store;
  /** The raw stored session object of `id`, as the store's backend holds it (no expiry check). */
  raw(id: string): Promise<Record<string, unknown> | undefined>;
  /** Removes every key, row and file the fixture created. */
  cleanup(): Promise<void>;
}

/** How to make one kind of express-session store. */
export interface StoreSetup {
  readonly name: string;
  /** A TTL (ms) long enough for the store's expiry granularity (seconds for Redis, PostgreSQL, SQLite). */
  readonly shortTTL: number;
  create(): Promise<StoreFixture>;
  /** Adapter options the store needs (see each). */
  readonly adapterOptions?: StoreAdapterOptions;
  /** Releases what all fixtures share; optional. */
  teardown?(): Promise<void>;
}

export const memoryStoreSetup: StoreSetup = {
  name: 'express-session MemoryStore',
  shortTTL: 400,
  async create() {
    const store = new expressSession.MemoryStore();
    const sessions = (store as unknown as { sessions: Record<string, string> }).sessions;
    return {
      store,
      async raw(id) {
        const text = sessions[id];
        return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
      },
      async cleanup() {
        store.clear?.();
      },
    };
  },
};

const LruMemoryStore = memorystore(expressSession);

/** memorystore (an LRU with a TTL per entry), the third most used store. */
export const memorystoreSetup: StoreSetup = {
  name: 'memorystore',
  shortTTL: 400,
  // Its length() is the LRU's item count, expired entries included until they are next touched.
  adapterOptions: { count: false },
  async create() {
    const store = new LruMemoryStore();
    const lru = (store as unknown as { store: { get(key: string): string | undefined; reset(): void } }).store;
    return {
      store,
      async raw(id) {
        const text = lru.get(id);
        return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
      },
      async cleanup() {
        lru.reset();
      },
    };
  },
};

/** connect-redis on its own node-redis client; `prefix` given to share sessions between two stores. */
export async function createRedisFixture(prefix = uniquePrefix('sw-es-redis')): Promise<StoreFixture & { prefix: string }> {
  const url = await sharedRedisUrl();
  const client = createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  const store = new RedisStore({ client, prefix }) as unknown as Store;
  const admin = testClient(url);
  return {
    store,
    prefix,
    async raw(id) {
      const text = await admin.get(prefix + id);
      return text === null ? undefined : (JSON.parse(text) as Record<string, unknown>);
    },
    async cleanup() {
      await cleanupPrefix(admin, prefix);
      admin.disconnect();
      await client.quit().catch(() => undefined);
    },
  };
}

export const redisStoreSetup: StoreSetup = {
  name: 'connect-redis',
  shortTTL: 1000,
  create: () => createRedisFixture(),
  teardown: stopSharedRedis,
};

const PGStore = connectPgSimple(expressSession);

/** connect-pg-simple on a table of its own (created by the store, dropped by `cleanup`). */
export async function createPgFixture(): Promise<StoreFixture & { table: string }> {
  const table = `sw_es_${randomBytes(6).toString('hex')}`;
  const pool = new Pool({ connectionString: POSTGRES_URL, max: 4 });
  pool.on('error', () => undefined);
  const store = new PGStore({ pool, tableName: table, createTableIfMissing: true, pruneSessionInterval: false });
  // The store creates its table on its first query.
  await new Promise<void>((resolve, reject) => store.get('create-the-table', (err) => (err ? reject(err as Error) : resolve())));
  return {
    store,
    table,
    async raw(id) {
      const { rows } = await pool.query<{ sess: Record<string, unknown> }>(`SELECT sess FROM "${table}" WHERE sid = $1`, [id]);
      return rows[0]?.sess;
    },
    async cleanup() {
      await pool.query(`DROP TABLE IF EXISTS "${table}"`);
      await pool.end();
    },
  };
}

export const pgStoreSetup: StoreSetup = {
  name: 'connect-pg-simple',
  shortTTL: 1000,
  create: () => createPgFixture(),
};

const BaseSqliteStore = sqliteStoreFactory(expressSession);

/** better-sqlite3-session-store on a database file in a fresh temp dir. */
export async function createSqliteFixture(): Promise<StoreFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'sessionware-sqlite-'));
  const db = new Database(join(dir, 'sessions.db'));
  let timer: NodeJS.Timeout | undefined;
  // The store starts a prune timer it never clears; keep it from holding the test process open.
  class SqliteStore extends BaseSqliteStore {
    startInterval(): void {
      const self = this as unknown as { clearExpiredSessions(): void };
      timer = setInterval(() => self.clearExpiredSessions(), 900_000).unref();
    }
  }
  const store = new SqliteStore({ client: db });
  return {
    store,
    async raw(id) {
      const row = db.prepare('SELECT sess FROM sessions WHERE sid = ?').get(id) as { sess: string } | undefined;
      return row && (JSON.parse(row.sess) as Record<string, unknown>);
    },
    async cleanup() {
      clearInterval(timer);
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const sqliteStoreSetup: StoreSetup = {
  name: 'better-sqlite3-session-store',
  shortTTL: 3000,
  // Its length() counts expired rows until its 15-minute prune: a count would be wrong.
  adapterOptions: { count: false },
  create: () => createSqliteFixture(),
};

const MemcachedStore = connectMemcached(expressSession);

/**
 * connect-memcached on a memcached spawned for the test file, under a prefix of its own. Its
 * `touch` writes the session it is given over the stored one, and its `length` answers memcached's
 * item statistics rather than a number: the adapter must rewrite, and offer no count.
 */
export async function createMemcachedFixture(): Promise<StoreFixture> {
  const prefix = uniquePrefix('sw-es-mc');
  const store = new MemcachedStore({ hosts: await memcachedHosts(), prefix, retries: 0, timeout: 2000 });
  return {
    store,
    // The memcached client stores objects as JSON and hands them back parsed.
    raw: (id) => new Promise((resolve, reject) => store.client.get(prefix + id, (err, data) => (err ? reject(err as Error) : resolve(parsed(data))))),
    async cleanup() {
      store.client.end();
    },
  };
}

function parsed(data: unknown): Record<string, unknown> | undefined {
  if (typeof data === 'string') return JSON.parse(data) as Record<string, unknown>;
  return typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : undefined;
}

export const memcachedStoreSetup: StoreSetup = {
  name: 'connect-memcached',
  shortTTL: 4000, // memcached expires in whole seconds, and may do so up to one second early
  adapterOptions: { count: false },
  create: () => createMemcachedFixture(),
  teardown: stopMemcached,
};

/** Every real store the adapter is tested with. */
export const EXPRESS_STORES: readonly StoreSetup[] = [memoryStoreSetup, redisStoreSetup, pgStoreSetup, sqliteStoreSetup, memcachedStoreSetup];
