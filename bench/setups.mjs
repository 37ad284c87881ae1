// The session setups under test: one small entry each. Shared by the server (bench/server.mjs),
// the heap probe (bench/heap.mjs) and the orchestrator (bench/run.mjs).
//
// Entry fields:
//   name         unique id, used on the command line (BENCH_SETUPS) and in the results
//   label        what the report shows
//   flavor       'sessionware' (async req.session.get/set) or 'express-session' (req.session.x)
//   storage      'memory' | 'file' | 'redis' | 'postgres' | 'mysql' (decides the extra metrics:
//                heap, Redis commands, or SQL statements counted at the pool: see sql-setups.mjs)
//   statsPath    optional: a path the setup's middleware answers with { verb: count } of backend statements
//   available()  false (with a reason) when the module is not there yet, e.g. a storage still
//                being written: the setup is then listed as skipped, not failed
//   create(ctx)  -> { middleware, close() }; ctx = { dir, redisUrl, pgUrl, mysqlUrl, prefix }
//   heapStore()  (memory setups) -> { put(i), close() } storing one idle session per call
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { MEMCACHE_SETUPS } from './setups-memcache.mjs';
import { SQL_SETUPS } from './sql-setups.mjs';
import { COOKIE_SETUPS } from './setups-cookie.mjs';
import { COMPAT_SETUPS } from './setups-compat.mjs';
import { FLOOR_SETUPS } from './floors.mjs';

const require = createRequire(import.meta.url);
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// BENCH_DIST: another build of sessionware (a copy of dist/ from before a change), to compare before and after.
const DIST = process.env.BENCH_DIST ? path.resolve(process.env.BENCH_DIST) : path.join(ROOT, 'dist');
const dist = (p) => path.join(DIST, p);
const SECRET = 'bench-secret-not-for-production';
const DAY = 24 * 60 * 60 * 1000;

/** sessionware's main module, from the build. */
const sw = () => require(dist('index.js'));

/** A module of dist/ if it was built, else undefined. */
function distModule(file) {
  return existsSync(dist(file)) ? require(dist(file)) : undefined;
}

/** Finds an export by name in the listed dist files (a storage may be re-exported from index). */
function findExport(name, files) {
  for (const f of files) {
    const m = distModule(f);
    if (m && typeof m[name] === 'function') return m[name];
  }
  return undefined;
}

const fileStorageClass = () => findExport('FileStorage', ['storage/file/file-storage.js', 'index.js']);
const redisClass = (name) => findExport(name, ['redis.js', 'storage/redis/redis-storage.js']);

async function ioredisClient(redisUrl) {
  const mod = require('ioredis');
  const Redis = mod.Redis ?? mod.default ?? mod;
  const client = new Redis(redisUrl, { lazyConnect: true, enableAutoPipelining: false });
  await client.connect();
  return client;
}

async function nodeRedisClient(redisUrl) {
  const { createClient } = require('redis');
  const client = createClient({ url: redisUrl });
  client.on('error', (err) => console.error('[bench] node-redis:', err.message));
  await client.connect();
  return client;
}

/** express-session configured as its README recommends, with the given store. */
function expressSession(store) {
  const session = require('express-session');
  return session({ secret: SECRET, resave: false, saveUninitialized: false, ...(store && { store }) });
}

/** The session object express-session hands a store for a session holding `n` (default cookie). */
function expressSessionObject(i) {
  const Cookie = require('express-session/session/cookie');
  return { cookie: new Cookie(), n: i };
}

/** Stores one sessionware session per put() through the Storage API, as a request that sets `n` would. */
function sessionwareHeapStore(storage) {
  const { generateId, DEFAULT_TTL } = sw();
  return {
    async put(i) {
      const changes = { set: new Map([['n', JSON.stringify(i)]]), removed: new Set() };
      await storage.setSession(generateId(), changes, DEFAULT_TTL, { create: true });
    },
    close: () => storage.close(),
  };
}

/** express-session's store.set(), as express-session calls it when saving a new session. */
function expressSessionHeapStore(store, close = () => {}) {
  const uid = require('uid-safe');
  return {
    put: (i) =>
      new Promise((resolve, reject) => store.set(uid.sync(24), expressSessionObject(i), (err) => (err ? reject(err) : resolve()))),
    close,
  };
}

export const SETUPS = [
  // ---- sessionware ----
  {
    name: 'sessionware-memory',
    label: 'sessionware + MemoryStorage',
    flavor: 'sessionware',
    storage: 'memory',
    available: () => existsSync(dist('index.js')) || 'dist/index.js not built',
    create() {
      const { session, MemoryStorage } = sw();
      const storage = new MemoryStorage();
      return { middleware: session(storage), close: () => storage.close() };
    },
    heapStore() {
      const { MemoryStorage } = sw();
      return sessionwareHeapStore(new MemoryStorage());
    },
  },
  {
    name: 'sessionware-file',
    label: 'sessionware + FileStorage',
    flavor: 'sessionware',
    storage: 'file',
    available: () => !!fileStorageClass() || 'FileStorage not in dist yet (lib/storage/file.ts)',
    create({ dir }) {
      const { session } = sw();
      const FileStorage = fileStorageClass();
      const storage = new FileStorage(dir, {});
      return { middleware: session(storage), close: () => storage.close?.() };
    },
  },
  sessionwareRedis('sessionware-redis', 'RedisStorage'),
  sessionwareRedis('sessionware-redis-hash', 'RedisHashStorage'),
  // ---- incumbents: express-session 1.x, resave:false, saveUninitialized:false ----
  {
    name: 'express-session-memory',
    label: 'express-session + MemoryStore',
    flavor: 'express-session',
    storage: 'memory',
    available: () => true,
    create() {
      return { middleware: expressSession(), close() {} };
    },
    heapStore() {
      const { MemoryStore } = require('express-session');
      return expressSessionHeapStore(new MemoryStore());
    },
  },
  {
    name: 'express-session-memorystore',
    label: 'express-session + memorystore',
    flavor: 'express-session',
    storage: 'memory',
    available: () => true,
    create() {
      const session = require('express-session');
      const MemoryStore = require('memorystore')(session);
      const store = new MemoryStore({ checkPeriod: DAY }); // as its README shows
      return { middleware: expressSession(store), close: () => store.stopInterval() };
    },
    heapStore() {
      const session = require('express-session');
      const MemoryStore = require('memorystore')(session);
      const store = new MemoryStore({ checkPeriod: DAY });
      return expressSessionHeapStore(store, () => store.stopInterval());
    },
  },
  {
    name: 'express-session-redis',
    label: 'express-session + connect-redis',
    flavor: 'express-session',
    storage: 'redis',
    available: () => true,
    async create({ redisUrl, prefix }) {
      const { RedisStore } = require('connect-redis');
      const client = await nodeRedisClient(redisUrl);
      const store = new RedisStore({ client, prefix });
      return { middleware: expressSession(store), close: () => client.quit() };
    },
  },
  {
    name: 'express-session-file',
    label: 'express-session + session-file-store',
    flavor: 'express-session',
    storage: 'file',
    available: () => true,
    create({ dir }) {
      const session = require('express-session');
      const FileStore = require('session-file-store')(session);
      const store = new FileStore({ path: dir, logFn() {} }); // defaults otherwise (retries: 5)
      return { middleware: expressSession(store), close() {} };
    },
  },
  ...MEMCACHE_SETUPS,
  ...SQL_SETUPS,
  ...COOKIE_SETUPS,
  ...COMPAT_SETUPS,
];

/** The floor servers (bench/floors.mjs): not in SETUPS (no correctness trials), used by bench/full.mjs. */
export { FLOOR_SETUPS };

export function getSetup(name) {
  const setup = SETUPS.find((s) => s.name === name) ?? FLOOR_SETUPS.find((s) => s.name === name);
  if (!setup) throw new Error(`unknown setup ${name}; known: ${SETUPS.map((s) => s.name).join(', ')}`);
  return setup;
}

/** A sessionware setup on one of the two Redis storages (one ioredis client per server). */
function sessionwareRedis(name, className) {
  return {
    name,
    label: `sessionware + ${className}`,
    flavor: 'sessionware',
    storage: 'redis',
    available: () => !!redisClass(className) || `${className} not in dist yet (dist/redis.js)`,
    async create({ redisUrl, prefix }) {
      const { session } = sw();
      const Storage = redisClass(className);
      const client = await ioredisClient(redisUrl);
      const storage = new Storage(client, { prefix });
      return {
        middleware: session(storage),
        close: async () => {
          await storage.close?.();
          client.disconnect();
        },
      };
    },
  };
}
