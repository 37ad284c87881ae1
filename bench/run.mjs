// `npm run bench`: builds dist/, then for every available setup in bench/setups.mjs starts a fresh
// server (pinned to one core), drives it with autocannon from another process (pinned to the
// other core), counts Redis commands, runs the correctness trials over real HTTP, measures heap
// per idle session for memory setups, and writes bench/results/latest.{json,md} and latest.svg
// (bench/results/ratios.svg, the README's chart, comes from `npm run bench:full`: bench/full.mjs).
// Knobs (env): see bench/README.md.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ROOT, SETUPS } from './setups.mjs';
import { startSqlServers } from './sql-setups.mjs';
import { renderMarkdown, renderSvg, evaluateTargets } from './report.mjs';
import { correctnessTrials, get, newSession } from './correctness.mjs';
import { buildDist, commitLabel, hasTaskset, pinned, stopServerProcess, whenReady } from './harness.mjs';

const require = createRequire(import.meta.url);
const env = process.env;
const num = (name, def) => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : def);
const list = (name) => (env[name] ? env[name].split(',').map((s) => s.trim()).filter(Boolean) : undefined);

const CFG = {
  duration: num('BENCH_DURATION', 5),
  slices: Math.max(1, num('BENCH_SLICES', 5)),
  warmup: num('BENCH_WARMUP', 1),
  connections: num('BENCH_CONNECTIONS', 10),
  trials: num('BENCH_TRIALS', 50),
  trialConcurrency: num('BENCH_TRIAL_CONCURRENCY', 5),
  slowMs: num('BENCH_SLOW_MS', 100),
  heapSessions: num('BENCH_HEAP_SESSIONS', 100_000),
  setups: list('BENCH_SETUPS'),
  scenarios: list('BENCH_SCENARIOS') ?? ['read', 'write', 'new'],
  skip: new Set(list('BENCH_SKIP') ?? []), // heap, correctness, throughput
  out: path.resolve(ROOT, env.BENCH_OUT ?? 'bench/results'),
  serverCpu: env.BENCH_SERVER_CPU ?? '0',
  loadCpu: env.BENCH_LOAD_CPU ?? '1',
  cpuProf: list('BENCH_CPU_PROF') ?? [],
};

const log = (...a) => console.log('[bench]', ...a);
const correctness = correctnessTrials({ ...CFG, log });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** A ratio for the log; `?` for a slice that measured nothing (a stalled machine gives 0 bare requests: null). */
const fx = (x) => (typeof x === 'number' ? x.toFixed(2) : '?');

// ---------- pinning: hasTaskset and pinned() come from harness.mjs ----------

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
}

// ---------- Redis ----------
async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function redisClient(url) {
  const mod = require('ioredis');
  const Redis = mod.Redis ?? mod.default ?? mod;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => {});
  return client;
}

/** A private redis-server (so other users of the shared one cannot skew INFO commandstats), else BENCH_REDIS or 6379. */
async function startRedis() {
  let proc;
  let url = env.BENCH_REDIS ? `redis://${env.BENCH_REDIS.replace(/^redis:\/\//, '')}` : undefined;
  if (!url && spawnSync('redis-server', ['--version']).status === 0) {
    const port = await freePort();
    const [cmd, args] = pinned(CFG.loadCpu, 'redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning']);
    proc = spawn(cmd, args, { stdio: 'ignore' });
    url = `redis://127.0.0.1:${port}`;
  }
  url ??= 'redis://127.0.0.1:6379';
  for (let i = 0; i < 50; i++) {
    const client = redisClient(url);
    try {
      await client.connect();
      await client.ping();
      return { url, client, proc, private: !!proc };
    } catch {
      client.disconnect();
      await sleep(100);
    }
  }
  proc?.kill();
  return { url, client: undefined, proc: undefined, error: `no Redis at ${url}` };
}

async function cleanRedisPrefix(client, prefix) {
  let cursor = '0';
  let removed = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) removed += await client.unlink(...keys);
  } while (cursor !== '0');
  return removed;
}

// ---------- servers ----------
async function startServer(setup, ctx) {
  const nodeArgs = [];
  if (CFG.cpuProf.includes(setup.name)) {
    const dir = path.join(CFG.out, 'profiles');
    mkdirSync(dir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${setup.name}-${Date.now()}.cpuprofile`);
  }
  const [cmd, args] = pinned(CFG.serverCpu, process.execPath, [...nodeArgs, path.join(ROOT, 'bench/server.mjs'), setup.name]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...env, BENCH_CTX: JSON.stringify(ctx), NODE_ENV: 'production' } });
  const { port } = await whenReady(child);
  return {
    base: `http://127.0.0.1:${port}`,
    stop: () => stopServerProcess(child),
  };
}

async function loadgen(plan) {
  const [cmd, args] = pinned(CFG.loadCpu, process.execPath, [path.join(ROOT, 'bench/loadgen.mjs'), JSON.stringify(plan)]);
  return JSON.parse((await run(cmd, args)).trim().split('\n').at(-1));
}

// ---------- HTTP helpers ----------
// ---------- throughput ----------
/** One scenario, interleaved with bare slices by the load generator (see bench/loadgen.mjs). */
async function measure(setup, server, scenario, cookie, redis) {
  const r = await loadgen({
    base: server.base,
    path: `/${scenario}`,
    cookie,
    connections: CFG.connections,
    warmup: CFG.warmup,
    slice: CFG.duration / CFG.slices,
    slices: CFG.slices,
    redisUrl: setup.storage === 'redis' ? redis.url : undefined,
    statsUrl: setup.statsPath ? server.base + setup.statsPath : undefined,
  });
  const sc = r.scenario;
  const result = { ...sc, ratio: r.ratio, sliceRatios: r.ratios, bare: r.bare };
  if (r.redisCommandsPerRequest !== undefined) Object.assign(result, { redisCommandsPerRequest: r.redisCommandsPerRequest, redisCommands: r.redisCommands });
  if (r.statementsPerRequest !== undefined) Object.assign(result, { statementsPerRequest: r.statementsPerRequest, statements: r.statements });
  log(`  /${scenario.padEnd(6)} ${sc.rps.toFixed(0).padStart(6)} req/s  p50 ${sc.p50?.toFixed(2)} ms  p99 ${sc.p99?.toFixed(2)} ms | bare ${r.bare.rps.toFixed(0)} req/s | ratio ${fx(r.ratio)}x (slices ${r.ratios.map(fx).join(' ')})${sc.non2xx ? `  non2xx ${sc.non2xx}` : ''}${result.redisCommandsPerRequest !== undefined ? `  redis ${result.redisCommandsPerRequest.toFixed(3)}/req ${JSON.stringify(result.redisCommands)}` : ''}${result.statementsPerRequest !== undefined ? `  sql ${result.statementsPerRequest.toFixed(3)}/req ${JSON.stringify(result.statements)}` : ''}`);
  return result;
}

async function throughput(setup, server, redis) {
  const out = { scenarios: {} };
  for (const scenario of CFG.scenarios) {
    let cookie;
    if (scenario === 'read' || scenario === 'write' || scenario === 'incr') {
      cookie = await newSession(server.base);
      const check = await get(server.base, '/read', cookie);
      if (check.json?.n !== 1) throw new Error(`seeded session not read back: ${check.body}`);
    }
    if (scenario === 'incr') await get(server.base, '/bench-stats?reset');
    const r = await measure(setup, server, scenario, cookie, redis);
    if (scenario === 'write' || scenario === 'incr') r.finalN = (await get(server.base, '/read', cookie)).json?.n;
    if (scenario === 'incr') {
      // Every /incr that answered 200 told its client the increment happened: the final count must
      // hold them all (the seed's 1 included). Requests autocannon aborted at a slice end may have
      // counted without being answered, so more is possible, fewer is a lost increment.
      const stats = (await get(server.base, '/bench-stats')).json;
      r.incr = {
        answered: stats.incrOk,
        finalN: r.finalN,
        lost: Math.max(0, stats.incrOk + 1 - r.finalN),
        compareAndSet: stats.compareAndSet,
        conflicts: stats.conflicts,
        retriesPerRequest: stats.incrOk > 0 ? stats.conflicts / stats.incrOk : 0,
      };
      log(`  /incr: ${stats.incrOk} answered, final n ${r.finalN}, lost increments ${r.incr.lost}, compare-and-set conflicts ${stats.conflicts} (${r.incr.retriesPerRequest.toFixed(4)} retries per request)`);
    }
    out.scenarios[scenario] = r;
  }
  const bares = Object.values(out.scenarios).flatMap((s) => s.bare.slices);
  out.bareRps = bares.reduce((a, b) => a + b, 0) / bares.length;
  out.bareSpread = (Math.max(...bares) - Math.min(...bares)) / out.bareRps;
  return out;
}

// ---------- correctness ----------
// ---------- heap ----------
async function heap(setup) {
  const [cmd, args] = pinned(CFG.serverCpu, process.execPath, ['--expose-gc', path.join(ROOT, 'bench/heap.mjs'), setup.name, String(CFG.heapSessions)]);
  const r = JSON.parse((await run(cmd, args)).trim().split('\n').at(-1));
  log(`  heap: ${r.bytesPerSession.toFixed(1)} bytes per idle session (${r.sessions} sessions)`);
  return r;
}

// ---------- main ----------
function versions() {
  const v = {};
  for (const p of ['express', 'express-session', 'memorystore', 'session-file-store', 'connect-redis', 'redis', 'ioredis', 'autocannon', 'pg', 'connect-pg-simple', 'mysql2', 'express-mysql-session']) {
    try {
      const dir = path.join(ROOT, 'node_modules', p, 'package.json');
      v[p] = JSON.parse(readFileSync(dir, 'utf8')).version;
    } catch {
      v[p] = null;
    }
  }
  return v;
}

async function main() {
  const started = Date.now();
  buildDist(log);
  const runId = `${Date.now().toString(36)}${process.pid}`;
  const setups = SETUPS.filter((s) => !CFG.setups || CFG.setups.includes(s.name));
  const needRedis = setups.some((s) => s.storage === 'redis' && s.available() === true);
  const redis = needRedis ? await startRedis() : {};
  // A private redis-server must not outlive an interrupted run.
  process.on('exit', () => redis.proc?.kill());
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGPIPE']) process.on(sig, () => process.exit(130));
  const sql = await startSqlServers(setups, (cmd, args) => pinned(CFG.loadCpu, cmd, args));
  process.on('exit', () => sql.stop());
  for (const [kind, error] of Object.entries(sql.errors)) log(`${kind}: ${error}; its setups are skipped`);
  for (const [kind, url] of Object.entries(sql.meta)) log(`${kind}: ${url}`);
  if (redis.error) log(`Redis: ${redis.error}; Redis setups are skipped`);
  else if (needRedis) log(`Redis: ${redis.url}${redis.private ? ' (private instance for this run)' : ''}`);

  const results = {
    meta: {
      date: new Date().toISOString(),
      commit: commitLabel(),
      node: process.version,
      platform: `${os.platform()} ${os.arch()}`,
      cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
      pinned: hasTaskset ? `server on CPU ${CFG.serverCpu}, load generator${redis.private ? ' and Redis' : ''}${Object.values(sql.meta).some((m) => m.includes('private')) ? ' and the private databases' : ''} on CPU ${CFG.loadCpu} (taskset)` : 'not pinned (no taskset or < 2 CPUs)',
      connections: CFG.connections,
      durationS: CFG.duration,
      slices: CFG.slices,
      warmupS: CFG.warmup,
      trials: CFG.trials,
      slowMs: CFG.slowMs,
      heapSessions: CFG.heapSessions,
      redis: needRedis ? (redis.error ? redis.error : `${redis.url}${redis.private ? ' (private)' : ''}`) : null,
      sql: Object.keys(sql.meta).length ? sql.meta : undefined,
      versions: versions(),
    },
    setups: [],
  };

  for (const setup of setups) {
    const entry = { name: setup.name, label: setup.label, flavor: setup.flavor, storage: setup.storage };
    results.setups.push(entry);
    const avail = setup.available();
    if (avail !== true) {
      entry.status = 'skipped';
      entry.reason = String(avail);
      log(`${setup.name}: skipped (${entry.reason})`);
      continue;
    }
    if (setup.storage === 'redis' && !redis.client) {
      entry.status = 'skipped';
      entry.reason = redis.error ?? 'no Redis';
      log(`${setup.name}: skipped (${entry.reason})`);
      continue;
    }
    if (sql.errors[setup.storage]) {
      entry.status = 'skipped';
      entry.reason = sql.errors[setup.storage];
      log(`${setup.name}: skipped (${entry.reason})`);
      continue;
    }
    log(`${setup.name}`);
    const dir = mkdtempSync(path.join(os.tmpdir(), `bench-${setup.name}-`));
    const prefix = `bench:${runId}:${setup.name}:`;
    let server;
    try {
      if (setup.heapStore && !CFG.skip.has('heap')) entry.heap = await heap(setup);
      server = await startServer(setup, { dir, redisUrl: redis.url, ...sql.ctx, prefix });
      if (!CFG.skip.has('throughput')) Object.assign(entry, await throughput(setup, server, redis));
      if (!CFG.skip.has('correctness') && CFG.trials > 0) entry.correctness = await correctness(server);
      entry.status = 'ok';
    } catch (err) {
      entry.status = 'failed';
      entry.reason = String(err?.stack ?? err);
      log(`${setup.name}: FAILED ${err?.message ?? err}`);
    } finally {
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
      if (setup.storage === 'redis' && redis.client) await cleanRedisPrefix(redis.client, prefix).catch(() => {});
    }
  }

  if (redis.client) redis.client.disconnect();
  redis.proc?.kill();
  sql.stop();

  results.meta.elapsedS = Math.round((Date.now() - started) / 1000);
  results.targets = evaluateTargets(results);
  mkdirSync(CFG.out, { recursive: true });
  writeFileSync(path.join(CFG.out, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(path.join(CFG.out, 'latest.md'), renderMarkdown(results));
  writeFileSync(path.join(CFG.out, 'latest.svg'), renderSvg(results));
  log(`wrote ${path.relative(ROOT, CFG.out)}/latest.{json,md} and latest.svg in ${results.meta.elapsedS} s`);
  console.log('\n' + renderMarkdown(results));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
