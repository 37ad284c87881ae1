// `npm run bench:full`: the whole story in one run. For every route (memory /read /write /new; Redis
// /read /write; file /read; file /write of one session; file /write of 10 sessions) it measures, in
// the same minutes, bare Express, the route's floor server(s) (bench/floors.mjs), sessionware and
// the incumbents (express-session + its stores, connect-redis, session-file-store), at each
// connection count, in two layouts: pinned (every server on CPU 0 with its libuv pool, the load
// generator and Redis on CPU 1, via `taskset -a -cp`) and unpinned (everything may use both
// cores). Then the correctness trials (lost updates, resurrected logouts) of every session setup.
//
// Method: one server process per setup (bench/server.mjs, the same Express app as `npm run bench`),
// started once; the layouts switch their CPU affinity. For each layout and connection count, a
// round measures every (route, setup) pair once, in an order rotated from round to round, with a
// slice of bare Express (`GET /bare` on its own server) at the start, at the end and after every
// FULL_BARE_EVERY pairs. A pair's ratio is its requests/s over the bare requests/s interpolated at
// its place in the round; the report quotes medians over rounds: the ratio to bare, the fraction of
// the floor reached (median of the per-round ratio sessionware / floor) and the multiple of each
// incumbent (likewise), plus the server's CPU µs per request (process.cpuUsage over the slice).
//
// Env: FULL_SLICE=1 (s per slice), FULL_ROUNDS=3, FULL_WARMUP=0.5 (s per pair, per layout and
// connection count), FULL_CONNECTIONS=1,10,50, FULL_LAYOUTS=pinned,unpinned, FULL_ROUTES (ids, see
// ROUTES; `redis-set` only when listed), FULL_BARE_EVERY=5, FULL_TRIALS=20 (correctness trials per check; 0 skips them),
// FULL_OUT=bench/results, FULL_README=1 (0: leave README.md alone), BENCH_SKIP_BUILD=1,
// BENCH_REDIS=host:port (else a private redis-server). The defaults take about 15 minutes.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { ROOT, getSetup } from './setups.mjs';
import { correctnessTrials, get, newSession } from './correctness.mjs';
import { renderFullMarkdown, renderFullSvg, renderReadmeBlock, summarise } from './full-report.mjs';
import { buildDist, commitLabel, stopServerProcess, whenReady } from './harness.mjs';

const require = createRequire(import.meta.url);
const env = process.env;
const num = (name, def) => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : def);
const list = (name, def) => (env[name] ? env[name].split(',').map((s) => s.trim()).filter(Boolean) : def);
const CFG = {
  slice: num('FULL_SLICE', 1),
  rounds: Math.max(1, num('FULL_ROUNDS', 3)),
  warmup: num('FULL_WARMUP', 0.5),
  connections: list('FULL_CONNECTIONS', ['1', '10', '50']).map(Number),
  layouts: list('FULL_LAYOUTS', ['pinned', 'unpinned']),
  bareEvery: Math.max(1, num('FULL_BARE_EVERY', 5)),
  trials: num('FULL_TRIALS', 20),
  trialConcurrency: 5,
  slowMs: 100,
  out: path.resolve(ROOT, env.FULL_OUT ?? 'bench/results'),
  readme: env.FULL_README !== '0',
};

/**
 * The routes. `floors[0]` is the floor "reached" is measured against (the others are shown next
 * to it); `sessions` > 1: each group of connections writes its own session (min(sessions, c) groups).
 */
export const ROUTES = [
  { id: 'memory-read', label: 'memory /read', path: '/read', floors: ['floor-memory'], sw: ['sessionware-memory'], inc: ['express-session-memory', 'express-session-memorystore'] },
  { id: 'memory-write', label: 'memory /write', path: '/write', floors: ['floor-memory'], sw: ['sessionware-memory'], inc: ['express-session-memory', 'express-session-memorystore'] },
  { id: 'memory-new', label: 'memory /new', path: '/new', fresh: true, floors: ['floor-memory'], sw: ['sessionware-memory'], inc: ['express-session-memory', 'express-session-memorystore'] },
  { id: 'redis-read', label: 'Redis /read', path: '/read', floors: ['floor-redis-get'], sw: ['sessionware-redis', 'sessionware-redis-hash'], inc: ['express-session-redis'] },
  { id: 'redis-write', label: 'Redis /write', path: '/write', floors: ['floor-redis-get', 'floor-redis-evalsha'], sw: ['sessionware-redis', 'sessionware-redis-hash'], inc: ['express-session-redis'] },
  // opt-in (FULL_ROUTES=...,redis-set): a write that reads nothing first (RedisHashStorage: one EVALSHA, loadAndSet)
  { id: 'redis-set', label: 'Redis /set (no read first)', path: '/set', optIn: true, floors: ['floor-redis-evalsha'], sw: ['sessionware-redis', 'sessionware-redis-hash'], inc: ['express-session-redis'] },
  { id: 'file-read', label: 'file /read', path: '/read', floors: ['floor-file-read'], sw: ['sessionware-file'], inc: ['express-session-file'] },
  { id: 'file-write', label: 'file /write, one session', path: '/write', floors: ['floor-file-rmw', 'floor-file-durable'], sw: ['sessionware-file'], inc: ['express-session-file'] },
  { id: 'file-write10', label: 'file /write, 10 sessions', path: '/write', sessions: 10, floors: ['floor-file-rmw', 'floor-file-durable'], sw: ['sessionware-file'], inc: ['express-session-file'] },
];

const log = (...a) => console.log('[full]', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// ---------- CPU affinity ----------
const canPin = os.cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
/** Sets the CPUs of every thread of `pid` (`taskset -a -cp`); threads made later inherit them. */
function affinity(pid, cpus) {
  if (canPin && pid) spawnSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' });
}

// ---------- Redis ----------
function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  const mod = require('ioredis');
  const Redis = mod.Redis ?? mod.default ?? mod;
  let proc;
  let url = env.BENCH_REDIS ? `redis://${env.BENCH_REDIS.replace(/^redis:\/\//, '')}` : undefined;
  if (!url && spawnSync('redis-server', ['--version']).status === 0) {
    const port = await freePort();
    proc = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
    url = `redis://127.0.0.1:${port}`;
  }
  url ??= 'redis://127.0.0.1:6379';
  for (let i = 0; i < 50; i++) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
      return { url, client, proc };
    } catch {
      client.disconnect();
      await sleep(100);
    }
  }
  proc?.kill();
  throw new Error(`no Redis at ${url}: install redis-server or set BENCH_REDIS`);
}

// ---------- servers ----------
async function startServer(name, ctx) {
  const child = spawn(process.execPath, [path.join(ROOT, 'bench/server.mjs'), name], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...env, BENCH_CTX: JSON.stringify(ctx), NODE_ENV: 'production' } });
  const { port } = await whenReady(child, `${name}: `);
  return {
    name,
    pid: child.pid,
    base: `http://127.0.0.1:${port}`,
    async cpu() {
      return (await get(this.base, '/__cpu')).json.us;
    },
    stop: () => stopServerProcess(child),
  };
}

// ---------- load ----------
function cannon(url, connections, seconds, cookie) {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections, duration: seconds, headers: cookie ? { cookie } : {} }, (err, r) => (err ? reject(err) : resolve(r)));
  });
}

/** One slice on `server`: `connections` spread over the cookies (one group of connections per session). */
async function slice(server, p, connections, seconds, cookies) {
  const groups = cookies?.length ? Math.min(cookies.length, connections) : 1;
  const before = await server.cpu();
  const started = performance.now();
  const runs = await Promise.all(
    Array.from({ length: groups }, (_, g) => cannon(server.base + p, Math.floor(connections / groups) + (g < connections % groups ? 1 : 0), seconds, cookies?.[g])),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu = (await server.cpu()) - before;
  const requests = runs.reduce((a, r) => a + r.requests.total, 0);
  const bad = runs.reduce((a, r) => a + r.non2xx + r.errors + r.timeouts, 0);
  return { rps: requests / elapsed, requests, cpuPerRequest: requests ? cpu / requests : null, p99: Math.max(...runs.map((r) => r.latency.p99)), bad };
}

// ---------- main ----------
async function main() {
  const started = Date.now();
  buildDist(log);
  const routes = ROUTES.filter((r) => (env.FULL_ROUTES ? list('FULL_ROUTES').includes(r.id) : !r.optIn));
  const names = [...new Set(routes.flatMap((r) => [...r.floors, ...r.sw, ...r.inc]))];
  for (const name of names) {
    const avail = getSetup(name).available();
    if (avail !== true) throw new Error(`${name}: ${avail}`);
  }
  const needRedis = names.some((n) => getSetup(n).storage === 'redis');
  const redis = needRedis ? await startRedis() : undefined;
  const runId = `${Date.now().toString(36)}${process.pid}`;
  const dirs = [];
  const servers = {};
  const cleanup = () => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    redis?.proc?.kill();
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
  log(`setups: bare, ${names.join(', ')}${redis ? `; Redis ${redis.url}` : ''}`);
  for (const name of ['bare-express', ...names]) {
    const dir = mkdtempSync(path.join(os.tmpdir(), `bench-full-${name}-`));
    dirs.push(dir);
    servers[name] = await startServer(name === 'bare-express' ? 'floor-memory' : name, { dir, redisUrl: redis?.url, prefix: `bench:${runId}:${name}:` });
  }
  // One session per (route, setup) that needs one, `sessions` for the multi-session routes.
  const cookies = {};
  for (const route of routes) {
    if (route.fresh) continue;
    for (const name of [...route.floors, ...route.sw, ...route.inc]) {
      const list = [];
      for (let i = 0; i < (route.sessions ?? 1); i++) list.push(await newSession(servers[name].base));
      const check = await get(servers[name].base, '/read', list[0]);
      if (check.json?.n !== 1) throw new Error(`${name}: the seeded session did not read back n = 1: ${check.body}`);
      cookies[`${route.id}|${name}`] = list;
    }
  }
  const pairs = routes.flatMap((route) => [...route.floors, ...route.sw, ...route.inc].map((name) => ({ route, name })));
  const samples = {}; // layout|c|route|setup -> [{ ratio, rps, cpuPerRequest, p99, bad }] (one per round)
  const bares = {};
  const setLayout = (layout) => {
    const pin = layout === 'pinned';
    for (const s of Object.values(servers)) affinity(s.pid, pin ? '0' : '0,1');
    affinity(process.pid, pin ? '1' : '0,1');
    affinity(redis?.proc?.pid, pin ? '1' : '0,1');
  };
  for (const layout of CFG.layouts) {
    setLayout(layout);
    for (const c of CFG.connections) {
      log(`${layout}, ${c} connection${c > 1 ? 's' : ''}: warm-up`);
      await slice(servers['bare-express'], '/bare', c, CFG.warmup);
      for (const { route, name } of pairs) if (CFG.warmup > 0) await slice(servers[name], route.path, c, CFG.warmup, cookies[`${route.id}|${name}`]);
      for (let round = 0; round < CFG.rounds; round++) {
        const shift = Math.round((round * pairs.length) / CFG.rounds);
        const order = [...pairs.slice(shift), ...pairs.slice(0, shift)];
        const timeline = [];
        for (let i = 0; i < order.length; i++) {
          if (i % CFG.bareEvery === 0) timeline.push({ bare: await slice(servers['bare-express'], '/bare', c, CFG.slice) });
          const { route, name } = order[i];
          timeline.push({ route, name, result: await slice(servers[name], route.path, c, CFG.slice, cookies[`${route.id}|${name}`]) });
        }
        timeline.push({ bare: await slice(servers['bare-express'], '/bare', c, CFG.slice) });
        const bareAt = timeline.map((t, i) => (t.bare ? i : -1)).filter((i) => i >= 0);
        (bares[`${layout}|${c}`] ??= []).push(...bareAt.map((i) => timeline[i].bare.rps));
        for (let i = 0; i < timeline.length; i++) {
          const t = timeline[i];
          if (t.bare) continue;
          const lo = Math.max(...bareAt.filter((b) => b < i));
          const hi = Math.min(...bareAt.filter((b) => b > i));
          const w = (i - lo) / (hi - lo);
          const bare = timeline[lo].bare.rps * (1 - w) + timeline[hi].bare.rps * w;
          (samples[`${layout}|${c}|${t.route.id}|${t.name}`] ??= []).push({ ...t.result, ratio: bare > 0 ? t.result.rps / bare : null });
        }
        log(`  round ${round + 1}/${CFG.rounds} done (${Math.round((Date.now() - started) / 1000)} s)`);
      }
    }
  }
  // Correctness of every session setup (not the floors).
  setLayout('unpinned');
  const correctness = {};
  if (CFG.trials > 0) {
    const trialsOf = correctnessTrials({ ...CFG, log });
    for (const name of names.filter((n) => getSetup(n).flavor !== 'floor')) {
      log(`${name}:`);
      correctness[name] = await trialsOf(servers[name]);
    }
  }
  for (const s of Object.values(servers)) await s.stop();
  redis?.client.disconnect();
  cleanup(); // the private redis-server is a child process: left running, it keeps this process alive

  const results = {
    meta: {
      date: new Date().toISOString(),
      commit: commitLabel(),
      node: process.version,
      cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
      pinning: canPin ? 'pinned: servers (all threads) on CPU 0, load generator and Redis on CPU 1; unpinned: all on CPUs 0,1' : 'taskset unavailable: both layouts ran unpinned',
      redis: redis ? (redis.proc ? `private redis-server (${redis.url})` : redis.url) : null,
      sliceS: CFG.slice,
      rounds: CFG.rounds,
      warmupS: CFG.warmup,
      bareEvery: CFG.bareEvery,
      connections: CFG.connections,
      layouts: CFG.layouts,
      trials: CFG.trials,
      elapsedS: Math.round((Date.now() - started) / 1000),
    },
    labels: Object.fromEntries(names.map((n) => [n, getSetup(n).label])),
    routes: routes.map(({ id, label, floors, sw, inc, sessions }) => ({ id, label, floors, sw, inc, sessions })),
    bare: Object.fromEntries(Object.entries(bares).map(([k, v]) => [k, { rps: median(v), spread: (Math.max(...v) - Math.min(...v)) / median(v) }])),
    samples,
    correctness,
  };
  results.summary = summarise(results);
  mkdirSync(CFG.out, { recursive: true });
  writeFileSync(path.join(CFG.out, 'full.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(path.join(CFG.out, 'full.md'), renderFullMarkdown(results));
  writeFileSync(path.join(CFG.out, 'ratios.svg'), renderFullSvg(results));
  if (CFG.readme) {
    const readme = path.join(ROOT, 'README.md');
    const text = readFileSync(readme, 'utf8');
    const block = /<!-- bench:full:start -->[\s\S]*<!-- bench:full:end -->/;
    if (block.test(text)) writeFileSync(readme, text.replace(block, `<!-- bench:full:start -->\n${renderReadmeBlock(results)}\n<!-- bench:full:end -->`));
    else log('README.md has no <!-- bench:full:start --> block: not updated');
  }
  log(`wrote ${path.relative(ROOT, CFG.out)}/full.{json,md} and ratios.svg in ${results.meta.elapsedS} s`);
  console.log('\n' + renderFullMarkdown(results));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
