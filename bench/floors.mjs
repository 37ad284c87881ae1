// The floor servers' handlers: the cheapest Express handler that can do what a route does, with no
// session library: the cookie, then the storage's minimum. One place for every bench script
// (bench/full.mjs through the `floor-*` setups below, cost.mjs, redis-cost.mjs, file-cost.mjs).
//
//   memory   /read: the cookie + one Map lookup; /write: Map read + write; /new: an id + one Map write
//   redis    /read: one GET; /write: GET + EVALSHA (mode 'get') or one EVALSHA doing the
//            read-modify-write in Lua (mode 'evalsha'); /set: one EVALSHA writing onto the session
//   file     /read: one readFile; /write: a cross-process lock (mkdir) + readFile + durable write
//            (temp file, fsync, rename) (mode 'rmw'), or the durable write only (mode 'durable')
//
// Each floor is { read, write, new, set?, seed(), close() }: handlers (req, res) -> JSON body. A
// request without a known id gets a new one (a Set-Cookie), so `GET /write` without a cookie seeds
// a session as it does on the session setups. Sessions are { n } objects stored as JSON.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rmdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const DAY = 86_400_000;

/** The session id from the `sessionid` cookie, if it is well formed. */
export const cookieId = (req) => {
  const id = /(?:^|;\s*)sessionid=([A-Za-z0-9_-]{8,128})(?:;|$)/.exec(req.headers.cookie ?? '')?.[1];
  return id;
};
const newId = () => randomBytes(24).toString('base64url');
const giveId = (res, id) => res?.setHeader('set-cookie', `sessionid=${id}; Path=/; HttpOnly; SameSite=Lax`);

/** The memory floor; `seed` is [id, { n }] pairs stored before the first request. */
export function memoryFloor(seed = []) {
  const map = new Map(seed.map(([id, value]) => [id, JSON.stringify(value)]));
  return {
    read: (req) => ({ n: JSON.parse(map.get(cookieId(req)) ?? '{}').n }),
    write(req, res) {
      let id = cookieId(req);
      const text = id === undefined ? undefined : map.get(id);
      if (text === undefined) giveId(res, (id = newId()));
      const n = (JSON.parse(text ?? '{}').n ?? 0) + 1;
      map.set(id, JSON.stringify({ n }));
      return { n };
    },
    new(_req, res) {
      const id = newId();
      map.set(id, JSON.stringify({ n: 1 }));
      giveId(res, id);
      return { n: 1 };
    },
    close() {},
  };
}

/** The Redis floor on its own ioredis client; mode 'get' (GET + EVALSHA writes) or 'evalsha' (one EVALSHA). */
export async function redisFloor(redisUrl, prefix, mode = 'get') {
  const mod = require('ioredis');
  const Redis = mod.Redis ?? mod.default ?? mod;
  const redis = new Redis(redisUrl);
  const put = await redis.script('LOAD', `redis.call('SET', KEYS[1], ARGV[1], 'PX', ${DAY}) return 1`);
  const rmw = await redis.script('LOAD', `local v = cjson.decode(redis.call('GET', KEYS[1]) or '{}') v.n = (v.n or 0) + 1 redis.call('SET', KEYS[1], cjson.encode(v), 'PX', ${DAY}) return v.n`);
  const fresh = async (res) => {
    const id = newId();
    await redis.evalsha(put, 1, prefix + id, JSON.stringify({ n: 1 }));
    giveId(res, id);
    return { n: 1 };
  };
  return {
    async read(req) {
      const id = cookieId(req);
      return { n: id === undefined ? undefined : JSON.parse((await redis.get(prefix + id)) ?? '{}').n };
    },
    async write(req, res) {
      const id = cookieId(req);
      if (id === undefined) return fresh(res);
      if (mode === 'evalsha') return { n: await redis.evalsha(rmw, 1, prefix + id) };
      const text = await redis.get(prefix + id);
      if (text === null) return fresh(res);
      const n = (JSON.parse(text).n ?? 0) + 1;
      await redis.evalsha(put, 1, prefix + id, JSON.stringify({ n }));
      return { n };
    },
    async set(req, res) {
      const id = cookieId(req);
      return id === undefined ? fresh(res) : { n: await redis.evalsha(rmw, 1, prefix + id) };
    },
    new: (_req, res) => fresh(res),
    async seed(id, value) {
      await redis.set(prefix + id, JSON.stringify(value), 'PX', DAY);
    },
    close: () => redis.quit(),
  };
}

/** The file floor in `dir` (one file per session); mode 'rmw' (lock + read + durable write) or 'durable' (the write only). */
export function fileFloor(dir, mode = 'rmw') {
  const file = (id) => path.join(dir, id);
  const durable = async (id, data) => {
    const temp = `${file(id)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const h = await open(temp, 'wx', 0o600);
    try {
      await h.writeFile(data);
      await h.sync();
    } finally {
      await h.close();
    }
    await rename(temp, file(id));
  };
  // One writer per session at a time in this process (as any storage must), and a lock across processes.
  const queues = new Map();
  const locked = (id, fn) => {
    const run = (queues.get(id) ?? Promise.resolve()).then(async () => {
      for (;;) {
        try {
          await mkdir(`${file(id)}.lock`);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 1));
        }
      }
      try {
        return await fn();
      } finally {
        await rmdir(`${file(id)}.lock`);
      }
    });
    const tail = run.catch(() => {});
    queues.set(id, tail);
    tail.then(() => queues.get(id) === tail && queues.delete(id));
    return run;
  };
  const fresh = async (res) => {
    const id = newId();
    await durable(id, JSON.stringify({ n: 1 }));
    giveId(res, id);
    return { n: 1 };
  };
  return {
    async read(req) {
      const id = cookieId(req);
      return { n: id === undefined ? undefined : JSON.parse(await readFile(file(id), 'utf8')).n };
    },
    async write(req, res) {
      const id = cookieId(req);
      if (id === undefined) return fresh(res);
      if (mode === 'durable') {
        await durable(id, JSON.stringify({ n: 1 }));
        return { n: 1 };
      }
      return locked(id, async () => {
        const n = JSON.parse(await readFile(file(id), 'utf8')).n + 1;
        await durable(id, JSON.stringify({ n }));
        return { n };
      });
    },
    new: (_req, res) => fresh(res),
    seed: (id, value) => writeFile(file(id), JSON.stringify(value)),
    close() {},
  };
}

/**
 * The floors as bench setups (flavor 'floor'): `create(ctx)` gives the setup's own handlers, which
 * bench/server.mjs uses instead of a session library's. `routes` are the routes each one floors.
 */
const passThrough = (_req, _res, next) => next();
const floorSetup = (name, label, storage, routes, make) => ({
  name,
  label,
  flavor: 'floor',
  storage,
  floorOf: routes,
  available: () => true,
  async create(ctx) {
    const floor = await make(ctx);
    // bench/server.mjs calls handlers as (req, key, res)
    const handlers = Object.fromEntries(['read', 'write', 'new', 'set'].filter((r) => floor[r]).map((r) => [r, (req, _key, res) => floor[r](req, res)]));
    return { middleware: passThrough, handlers, close: () => floor.close() };
  },
});

export const FLOOR_SETUPS = [
  floorSetup('floor-memory', 'floor: cookie + Map', 'memory', ['read', 'write', 'new'], () => memoryFloor()),
  floorSetup('floor-redis-get', 'floor: one GET (+ EVALSHA to write)', 'redis', ['read', 'write'], ({ redisUrl, prefix }) => redisFloor(redisUrl, prefix, 'get')),
  floorSetup('floor-redis-evalsha', 'floor: one EVALSHA (read-modify-write in Lua)', 'redis', ['write', 'set'], ({ redisUrl, prefix }) => redisFloor(redisUrl, prefix, 'evalsha')),
  floorSetup('floor-file-read', 'floor: one readFile', 'file', ['read'], ({ dir }) => fileFloor(dir, 'rmw')),
  floorSetup('floor-file-rmw', 'floor: lock + read-modify-write + durable write', 'file', ['write', 'write10'], ({ dir }) => fileFloor(dir, 'rmw')),
  floorSetup('floor-file-durable', 'floor: durable write only', 'file', ['write', 'write10'], ({ dir }) => fileFloor(dir, 'durable')),
];
