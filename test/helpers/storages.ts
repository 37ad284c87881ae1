/**
 * Every server-side storage of the project, for the guarantee tests that must hold "on every
 * storage" over real HTTP. A storage that lands adds one entry to {@link STORAGES}.
 *
 * @example
 * ```ts
 * describeEachStorage((name, current) => {
 *   it(`keeps both writes on ${name}`, async () => {
 *     const app = buildApp(express, current());
 *     ...
 *   });
 * });
 * ```
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStorage, MemoryStorage, type Storage } from 'sessionware';
import { RedisHashStorage, RedisStorage } from 'sessionware/redis';
import { MemcacheStorage } from 'sessionware/memcache';
import { StoreAdapter } from 'sessionware/express-session-store';
import { memoryStoreSetup } from './express-stores';
import { sharedMemcached, stopSharedMemcached } from './memcached';
import { cleanupPrefix, sharedRedisUrl, stopSharedRedis, testClient, uniquePrefix } from './redis';
import { sqlStorage } from './sql-storage';

/** A fresh, empty storage and the way to remove everything it created. */
export interface StorageInstance {
  readonly storage: Storage;
  /** Closes the storage and removes its data (temp dirs, keys, rows). */
  cleanup(): Promise<void>;
}

/** How to make one kind of storage for a test. */
export interface StorageSetup {
  readonly name: string;
  create(): Promise<StorageInstance>;
  /** Releases what all instances share (a server spawned for the file); optional. */
  teardown?(): Promise<void>;
}

const redisSetup = (name: string, Kind: typeof RedisStorage | typeof RedisHashStorage): StorageSetup => ({
  name,
  async create() {
    const client = testClient(await sharedRedisUrl());
    const prefix = uniquePrefix(`sw-http-${name}`);
    const storage = new Kind(client, { prefix });
    return {
      storage,
      async cleanup() {
        await storage.close();
        await cleanupPrefix(client, prefix);
        client.disconnect();
      },
    };
  },
  teardown: stopSharedRedis,
});

/** Every server-side storage on main. */
export const STORAGES: readonly StorageSetup[] = [
  {
    name: 'MemoryStorage',
    async create() {
      const storage = new MemoryStorage();
      return { storage, cleanup: () => storage.close() };
    },
  },
  {
    name: 'FileStorage',
    async create() {
      const dir = await mkdtemp(join(tmpdir(), 'sessionware-http-'));
      const storage = new FileStorage(dir);
      return {
        storage,
        async cleanup() {
          await storage.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  },
  redisSetup('RedisStorage', RedisStorage),
  redisSetup('RedisHashStorage', RedisHashStorage),
  {
    // A memcached spawned for the test file (and killed after it): nothing to clean up per test.
    name: 'MemcacheStorage',
    async create() {
      const storage = new MemcacheStorage((await sharedMemcached()).address, { prefix: uniquePrefix('sw-http-mc') });
      return { storage, cleanup: () => storage.close() };
    },
    teardown: stopSharedMemcached,
  },
  {
    // Its guarantees hold within one process, which is where these tests run.
    name: 'StoreAdapter(express-session MemoryStore)',
    async create() {
      const fixture = await memoryStoreSetup.create();
      const storage = new StoreAdapter(fixture.store);
      return {
        storage,
        async cleanup() {
          await storage.close();
          await fixture.cleanup();
        },
      };
    },
  },
  { name: 'PostgresStorage', create: async () => sqlStorage('pg', 'sw_http_pg') },
  { name: 'MysqlStorage', create: async () => sqlStorage('mysql', 'sw_http_my') },
];

/**
 * Runs `body` once per storage inside a `describe` named after it; `current()` is a fresh storage
 * made before each test and cleaned up after it.
 */
export function describeEachStorage(body: (name: string, current: () => Storage) => void): void {
  for (const setup of STORAGES) {
    describe(`on ${setup.name}`, () => {
      let instance: StorageInstance | undefined;
      beforeEach(async () => {
        instance = await setup.create();
      });
      afterEach(async () => {
        await instance?.cleanup();
        instance = undefined;
      });
      if (setup.teardown) afterAll(setup.teardown);
      body(setup.name, () => {
        if (!instance) throw new Error('storage used outside a test');
        return instance.storage;
      });
    });
  }
}
