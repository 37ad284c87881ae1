// Redis /read and /write: sessionware (batched and not) against connect-redis and the floors, at
// several concurrencies, interleaved. Per setup and concurrency it reports the median requests/s
// ratio to connect-redis (and to the one-GET floor) over rounds run back to back in the same
// minutes, the server's CPU µs per request (process.cpuUsage) and Redis's CPU µs per request
// (INFO cpu of a private redis-server, pinned with the load generator).
//   npm run build && node bench/redis-cost.mjs
//   env: RCOST_ROUNDS=5, RCOST_SECONDS=2, RCOST_CONNECTIONS=1,10,50, RCOST_ROUTES=read,write
//        (also: set, a write that reads nothing first),
//        RCOST_SETUPS=floor-get,floor-evalsha,sw-redis,sw-redis-nobatch,sw-hash,connect-redis
//        (also: sw-hash-before, RedisHashStorage of RCOST_BEFORE=/path/to/another/dist),
//        BENCH_NO_PIN=1 (let the server use both cores)
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { costApp } from './harness.mjs';

const env = process.env;
const ROUNDS = Number(env.RCOST_ROUNDS ?? 5);
const SECONDS = Number(env.RCOST_SECONDS ?? 2);
const CONNECTIONS = (env.RCOST_CONNECTIONS ?? '1,10,50').split(',').map(Number);
const ROUTES = (env.RCOST_ROUTES ?? 'read,write').split(',');
const SETUPS = (env.RCOST_SETUPS ?? 'floor-get,floor-evalsha,sw-redis,sw-redis-nobatch,sw-hash,connect-redis').split(',');
const PIN = env.BENCH_NO_PIN !== '1' && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const SECRET = 'bench-secret-not-for-production';

if (process.argv[2] === 'server') await serve(process.argv[3], process.argv[4], process.argv[5]);
else await drive();

/** One server: the bench's Express app shape, for one setup. */
async function serve(setup, redisUrl, prefix) {
  const { default: express } = await import('express');
  const app = costApp(express);
  const route = (fn) => async (req, res, next) => {
    try {
      res.json(await fn(req));
    } catch (err) {
      next(err);
    }
  };
  let seed;
  if (setup.startsWith('floor')) {
    // The cheapest Express app that reads a session (bench/floors.mjs): the cookie, one GET (and
    // one EVALSHA to write, or one EVALSHA doing the read-modify-write in Lua for floor-evalsha).
    const { redisFloor } = await import('./floors.mjs');
    const floor = await redisFloor(redisUrl, prefix, setup === 'floor-evalsha' ? 'evalsha' : 'get');
    app.get('/read', (req, res, next) => route(() => floor.read(req, res))(req, res, next));
    app.get('/write', (req, res, next) => route(() => floor.write(req, res))(req, res, next));
    app.get('/set', (req, res, next) => route(() => floor.set(req, res))(req, res, next)); // one EVALSHA
    seed = async () => {
      await floor.seed('floorSession0000000001', { n: 1 });
      return 'sessionid=floorSession0000000001';
    };
  } else if (setup === 'connect-redis') {
    const { default: session } = await import('express-session');
    const { RedisStore } = await import('connect-redis');
    const { createClient } = await import('redis');
    const client = createClient({ url: redisUrl });
    await client.connect();
    app.use(session({ secret: SECRET, resave: false, saveUninitialized: false, store: new RedisStore({ client, prefix }) }));
    app.get('/read', route(async (req) => ({ n: req.session.n })));
    app.get('/write', route(async (req) => {
      req.session.n = (req.session.n || 0) + 1;
      return { n: req.session.n };
    }));
    app.get('/set', route(async (req) => {
      req.session.n = 2;
      return { n: 2 };
    }));
    app.get('/seed', route(async (req) => {
      req.session.n = 1;
      return { n: 1 };
    }));
  } else {
    const dist = setup === 'sw-hash-before' ? path.resolve(env.RCOST_BEFORE) : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist');
    const { session } = await import(pathToFileURL(path.join(dist, 'index.js')).href);
    const { RedisStorage, RedisHashStorage } = await import(pathToFileURL(path.join(dist, 'redis.js')).href);
    const { Redis } = await import('ioredis');
    const client = new Redis(redisUrl);
    const Storage = setup.startsWith('sw-hash') ? RedisHashStorage : RedisStorage;
    const storage = new Storage(client, { prefix, batchCommands: setup !== 'sw-redis-nobatch' });
    app.use(session(storage));
    app.get('/read', route(async (req) => ({ n: await req.session.get('n') })));
    app.get('/write', route(async (req) => {
      const n = ((await req.session.get('n')) ?? 0) + 1;
      await req.session.set('n', n);
      return { n };
    }));
    app.get('/set', route(async (req) => {
      await req.session.set('n', 2); // nothing read first
      return { n: 2 };
    }));
    app.get('/seed', route(async (req) => {
      await req.session.set('n', 1);
      return { n: 1 };
    }));
  }
  const server = app.listen(0, '127.0.0.1', async () => {
    let cookie;
    if (seed) cookie = await seed();
    else {
      const res = await fetch(`http://127.0.0.1:${server.address().port}/seed`);
      cookie = res.headers.get('set-cookie').split(';')[0];
    }
    process.send({ port: server.address().port, cookie });
  });
  process.on('disconnect', () => process.exit(0));
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function pinned(cpu, cmd, args) {
  return PIN ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
}

async function drive() {
  const children = [];
  const cleanup = () => children.forEach((c) => c.kill());
  process.on('exit', cleanup);
  process.on('SIGINT', () => process.exit(130));
  const rport = await freePort();
  const [rc, ra] = pinned(1, 'redis-server', ['--bind', '127.0.0.1', '--port', String(rport), '--save', '', '--appendonly', 'no', '--loglevel', 'warning']);
  children.push(spawn(rc, ra, { stdio: 'ignore' }));
  const redisUrl = `redis://127.0.0.1:${rport}`;
  const { Redis } = await import('ioredis');
  const admin = new Redis(redisUrl, { retryStrategy: (n) => (n > 50 ? null : 100) });
  await admin.ping();
  if (PIN) spawnSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
  const redisCpu = async () => {
    const info = await admin.info('cpu');
    const v = (k) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)[1]);
    return (v('used_cpu_sys') + v('used_cpu_user')) * 1e6;
  };
  const servers = {};
  for (const setup of SETUPS) {
    const [cmd, args] = pinned(0, process.execPath, [fileURLToPath(import.meta.url), 'server', setup, redisUrl, `rc:${setup}:`]);
    const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...env, NODE_ENV: 'production' } });
    children.push(child);
    servers[setup] = await new Promise((resolve) => child.once('message', resolve));
  }
  const load = (setup, path, connections, duration) =>
    new Promise((resolve, reject) => {
      const { port, cookie } = servers[setup];
      autocannon({ url: `http://127.0.0.1:${port}${path}`, connections, duration, headers: { cookie } }, (err, r) => (err ? reject(err) : resolve(r)));
    });
  const cpu = async (setup) => (await (await fetch(`http://127.0.0.1:${servers[setup].port}/cpu`)).json()).us;
  const samples = {};
  for (const setup of SETUPS) for (const route of ROUTES) await load(setup, `/${route}`, 10, 1); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of CONNECTIONS) {
      for (const route of ROUTES) {
        for (const setup of SETUPS) {
          const before = await cpu(setup);
          const rBefore = await redisCpu();
          const r = await load(setup, `/${route}`, c, SECONDS);
          const served = r.requests.total;
          const s = (samples[`${route}|${c}|${setup}`] ??= { rps: [], cpu: [], rcpu: [], p99: [], errors: 0 });
          s.rps.push(served / SECONDS);
          s.cpu.push(((await cpu(setup)) - before) / served);
          s.rcpu.push(((await redisCpu()) - rBefore) / served);
          s.p99.push(r.latency.p99);
          s.errors += r.non2xx + r.errors;
        }
      }
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const out = [];
  console.log(`pinned: ${PIN}; ${ROUNDS} rounds x ${SECONDS} s, interleaved`);
  console.log('| route | c | setup | req/s | x connect-redis | of floor (GET[+EVALSHA]) | server CPU µs/req | Redis CPU µs/req | p99 ms | errors |');
  console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const route of ROUTES) {
    for (const c of CONNECTIONS) {
      for (const setup of SETUPS) {
        const s = samples[`${route}|${c}|${setup}`];
        const per = (other) => {
          const o = samples[`${route}|${c}|${other}`];
          return o ? median(s.rps.map((x, i) => x / o.rps[i])).toFixed(2) : '';
        };
        const row = { route, c, setup, rps: median(s.rps), vsIncumbent: per('connect-redis'), ofFloor: per('floor-get'), cpu: median(s.cpu), rcpu: median(s.rcpu), p99: median(s.p99), errors: s.errors };
        out.push(row);
        console.log(`| /${route} | ${c} | ${setup} | ${row.rps.toFixed(0)} | ${row.vsIncumbent} | ${row.ofFloor} | ${row.cpu.toFixed(1)} | ${row.rcpu.toFixed(1)} | ${row.p99} | ${row.errors} |`);
      }
    }
  }
  if (env.RCOST_JSON) (await import('node:fs')).writeFileSync(env.RCOST_JSON, JSON.stringify({ pinned: PIN, rows: out }, null, 2));
  admin.disconnect();
  cleanup();
  process.exit(0);
}
