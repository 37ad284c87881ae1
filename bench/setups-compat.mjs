// sessionware/express-session (the drop-in with express-session's req.session) beside
// express-session on the same kind of store: MemoryStorage vs MemoryStore, RedisStorage vs
// connect-redis. Same options as the incumbents (saveUninitialized: false), same handlers
// (flavor 'express-session'). Imported by setups.mjs.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
// BENCH_COMPAT_DIST: another build of sessionware (e.g. a copy of dist/ from before a change), to compare.
const DIST = process.env.BENCH_COMPAT_DIST ?? process.env.BENCH_DIST ? path.resolve(process.env.BENCH_COMPAT_DIST ?? process.env.BENCH_DIST) : path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'), 'dist');
const SECRET = 'bench-secret-not-for-production';
const built = () => existsSync(path.join(DIST, 'express-session.js')) || 'dist/express-session.js not built';
const compat = (store) => require(path.join(DIST, 'express-session.js')).session({ secret: SECRET, resave: false, saveUninitialized: false, store });

export const COMPAT_SETUPS = [
  {
    name: 'compat-memory',
    label: 'sessionware/express-session + MemoryStorage',
    flavor: 'express-session',
    storage: 'memory',
    available: built,
    create() {
      const { MemoryStorage } = require(path.join(DIST, 'index.js'));
      const storage = new MemoryStorage();
      return { middleware: compat(storage), close: () => storage.close() };
    },
  },
  {
    name: 'compat-redis',
    label: 'sessionware/express-session + RedisStorage',
    flavor: 'express-session',
    storage: 'redis',
    available: built,
    async create({ redisUrl, prefix }) {
      const { RedisStorage } = require(path.join(DIST, 'redis.js'));
      const mod = require('ioredis');
      const Redis = mod.Redis ?? mod.default ?? mod;
      const client = new Redis(redisUrl, { lazyConnect: true, enableAutoPipelining: false });
      await client.connect();
      const storage = new RedisStorage(client, { prefix });
      return {
        middleware: compat(storage),
        close: async () => {
          await storage.close();
          client.disconnect();
        },
      };
    },
  },
];
