// The memcached setups: sessionware + MemcacheStorage beside express-session + connect-memcached,
// on the same memcached with the same number of connections and the same TTL (24 h). Imported by
// setups.mjs (so `npm run bench` includes them) and by memcache.mjs (which also counts memcached
// commands per request and runs the overlap probes).
//
// ctx.memcached ('host:port') selects a running memcached; without it each server process starts
// a private one (pinned to BENCH_LOAD_CPU like the private Redis) and stops it on close.
// ctx.probes adds the probe route /slow-read (read, wait ?ms, answer: a read-only request).
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer, createConnection } from 'node:net';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST_MEMCACHE = path.join(ROOT, 'dist', 'memcache.js');
const SECRET = 'bench-secret-not-for-production';
const DAY_S = 24 * 60 * 60;
/** Connections to memcached on both sides (memcache-client maxConnections, memcached poolSize). */
const CONNECTIONS = Number(process.env.BENCH_MEMCACHE_CONNECTIONS || 4);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const hasMemcached = () => spawnSync('memcached', ['-V']).status === 0;

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Sends one text-protocol line and resolves the reply up to END (or the first line). */
export function memcachedCommand(address, line) {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port: Number(port) });
    let reply = '';
    socket.setEncoding('utf8');
    socket.once('error', reject);
    socket.on('data', (d) => {
      reply += d;
      if (/(^|\r\n)(END|OK|ERROR|VERSION [^\r]*)\r\n$/.test(reply)) {
        socket.end();
        resolve(reply);
      }
    });
    socket.write(`${line}\r\n`);
  });
}

/** memcached's `stats` counters. */
export async function memcachedStats(address) {
  const stats = {};
  for (const m of (await memcachedCommand(address, 'stats')).matchAll(/^STAT (\S+) (\S+)\r$/gm)) stats[m[1]] = Number(m[2]);
  return stats;
}

/** Commands clients sent between two `stats`: get/gets, set/add/cas, touch/gat/gats, deletes. */
export function memcachedCommands(before, after) {
  const d = (k) => (after[k] ?? 0) - (before[k] ?? 0);
  const byKind = { get: d('cmd_get'), set: d('cmd_set'), touch: d('cmd_touch'), delete: d('delete_hits') + d('delete_misses'), cas_badval: d('cas_badval') };
  return { total: byKind.get + byKind.set + byKind.touch + byKind.delete, ...byKind };
}

/** Starts a private memcached (64 MB, one worker thread, TCP only) pinned to `cpu` when taskset works. */
export async function startMemcached(cpu = process.env.BENCH_LOAD_CPU ?? '1') {
  const port = await freePort();
  const args = [...(process.getuid?.() === 0 ? ['-u', 'root'] : []), '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '64', '-t', '1'];
  const pin = process.env.BENCH_NO_PIN !== '1' && spawnSync('taskset', ['-c', String(cpu), 'true']).status === 0;
  const proc = pin ? spawn('taskset', ['-c', String(cpu), 'memcached', ...args], { stdio: 'ignore' }) : spawn('memcached', args, { stdio: 'ignore' });
  const address = `127.0.0.1:${port}`;
  process.once('exit', () => proc.kill('SIGKILL')); // never outlive the process that started it
  for (let i = 0; i < 200; i++) {
    try {
      if ((await memcachedCommand(address, 'version')).startsWith('VERSION')) return { address, stop: () => proc.kill('SIGKILL') };
    } catch {
      await sleep(25);
    }
  }
  proc.kill('SIGKILL');
  throw new Error('memcached did not start');
}

/** The memcached of a server process: ctx.memcached, or a private one. */
async function memcachedFor(ctx) {
  if (ctx.memcached) return { address: ctx.memcached, stop() {} };
  return startMemcached();
}

/** With ctx.probes, the session middleware plus the probe route, as one router. */
function withProbes(ctx, middleware, read) {
  if (!ctx.probes) return middleware;
  const express = require('express');
  const router = express.Router();
  router.use(middleware);
  router.get('/slow-read', async (req, res, next) => {
    try {
      const n = await read(req);
      await sleep(Number(req.query.ms ?? 100));
      res.json({ n });
    } catch (err) {
      next(err);
    }
  });
  return router;
}

export const MEMCACHE_SETUPS = [
  {
    name: 'sessionware-memcache',
    label: 'sessionware + MemcacheStorage',
    flavor: 'sessionware',
    storage: 'memcache',
    available: () => (!existsSync(DIST_MEMCACHE) ? 'dist/memcache.js not built' : hasMemcached() || 'no memcached binary (apt-get install memcached)'),
    async create(ctx) {
      const { session } = require(path.join(ROOT, 'dist', 'index.js'));
      const { MemcacheStorage } = require(DIST_MEMCACHE);
      const server = await memcachedFor(ctx);
      const storage = new MemcacheStorage({ server: { server: server.address, maxConnections: CONNECTIONS } }, { prefix: ctx.prefix ?? 'bench:' });
      return {
        middleware: withProbes(ctx, session(storage), (req) => req.session.get('n')),
        async close() {
          await storage.close();
          server.stop();
        },
      };
    },
  },
  {
    name: 'express-session-memcached',
    label: 'express-session + connect-memcached',
    flavor: 'express-session',
    storage: 'memcache',
    available: () => hasMemcached() || 'no memcached binary (apt-get install memcached)',
    async create(ctx) {
      const session = require('express-session');
      const MemcachedStore = require('connect-memcached')(session);
      const server = await memcachedFor(ctx);
      const store = new MemcachedStore({ hosts: [server.address], prefix: ctx.prefix ?? 'bench:', ttl: DAY_S, poolSize: CONNECTIONS });
      const middleware = session({ secret: SECRET, resave: false, saveUninitialized: false, store });
      return {
        middleware: withProbes(ctx, middleware, (req) => req.session.n),
        close() {
          store.client.end();
          server.stop();
        },
      };
    },
  },
];
