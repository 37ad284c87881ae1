// File /read and /write of one session: sessionware's FileStorage (this build, and optionally
// another one: FCOST_BEFORE=<copy of dist>) against session-file-store and the floors, at several
// concurrencies, interleaved. Reports the median req/s ratio to session-file-store and to the
// floor of the route, server CPU µs per request, fsyncs per request and p99.
//   npm run build && node bench/file-cost.mjs
//   env: FCOST_ROUNDS=5, FCOST_SECONDS=2, FCOST_CONNECTIONS=1,10,50, FCOST_ROUTES=read,write,
//        FCOST_BEFORE=/path/to/old/dist, BENCH_NO_PIN=1 (let the server use both cores)
// Floors (same Express app shape, no session library):
//   floor-read     /read: the cookie + one readFile
//   floor-rmw      /write: a cross-process lock (mkdir) + readFile + durable write (temp, fsync, rename)
//   floor-durable  /write: the durable write only
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';

const env = process.env;
const ROUNDS = Number(env.FCOST_ROUNDS ?? 5);
const SECONDS = Number(env.FCOST_SECONDS ?? 2);
const CONNECTIONS = (env.FCOST_CONNECTIONS ?? '1,10,50').split(',').map(Number);
const ROUTES = (env.FCOST_ROUTES ?? 'read,write').split(',');
const SETUPS = ['floor-read', 'floor-rmw', 'floor-durable', 'sw-file', ...(env.FCOST_BEFORE ? ['sw-file-before'] : []), 'session-file-store'];
const PIN = env.BENCH_NO_PIN !== '1' && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const SECRET = 'bench-secret-not-for-production';
const FLOOR_ID = 'floorSession0000000001';

if (process.argv[2] === 'server') await serve(process.argv[3], process.argv[4]);
else await drive();

async function serve(setup, dir) {
  // count fsyncs: FileHandle.sync (sessionware, floors) and fs.fsync (write-file-atomic)
  let fsyncs = 0;
  const probe = await open(path.join(dir, '.probe'), 'w');
  const proto = Object.getPrototypeOf(probe);
  await probe.close();
  const sync = proto.sync;
  proto.sync = function (...args) {
    fsyncs++;
    return sync.apply(this, args);
  };
  const fsync = fs.fsync;
  fs.fsync = (...args) => {
    fsyncs++;
    return fsync(...args);
  };
  const { default: express } = await import('express');
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.get('/stats', (_req, res) => {
    const { user, system } = process.cpuUsage();
    res.json({ us: user + system, fsyncs });
  });
  const route = (fn) => async (req, res, next) => {
    try {
      res.json(await fn(req));
    } catch (err) {
      next(err);
    }
  };
  let cookie;
  if (setup.startsWith('floor')) {
    // bench/floors.mjs: one readFile (/read); lock + read-modify-write + durable write, or the durable write only (/write)
    const { fileFloor } = await import('./floors.mjs');
    const floor = fileFloor(dir, setup === 'floor-durable' ? 'durable' : 'rmw');
    app.get('/read', (req, res, next) => route(() => floor.read(req, res))(req, res, next));
    app.get('/write', (req, res, next) => route(() => floor.write(req, res))(req, res, next));
    await floor.seed(FLOOR_ID, { n: 1 });
    cookie = `sessionid=${FLOOR_ID}`;
  } else if (setup === 'session-file-store') {
    const { default: session } = await import('express-session');
    const FileStore = (await import('session-file-store')).default(session);
    app.use(session({ secret: SECRET, resave: false, saveUninitialized: false, store: new FileStore({ path: dir, logFn() {} }) }));
    app.get('/read', route(async (req) => ({ n: req.session.n })));
    app.get('/write', route(async (req) => ({ n: (req.session.n = (req.session.n || 0) + 1) })));
    app.get('/seed', route(async (req) => ({ n: (req.session.n = 1) })));
  } else {
    const dist = setup === 'sw-file-before' ? path.resolve(env.FCOST_BEFORE) : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist');
    const { session, FileStorage } = await import(pathToFileURL(path.join(dist, 'index.js')).href);
    app.use(session(new FileStorage(dir, {})));
    app.get('/read', route(async (req) => ({ n: await req.session.get('n') })));
    app.get('/write', route(async (req) => {
      const n = ((await req.session.get('n')) ?? 0) + 1;
      await req.session.set('n', n);
      return { n };
    }));
    app.get('/seed', route(async (req) => {
      await req.session.set('n', 1);
      return { n: 1 };
    }));
  }
  const server = app.listen(0, '127.0.0.1', async () => {
    if (!cookie) {
      const res = await fetch(`http://127.0.0.1:${server.address().port}/seed`);
      cookie = res.headers.get('set-cookie').split(';')[0];
    }
    process.send({ port: server.address().port, cookie });
  });
  process.on('disconnect', () => process.exit(0));
}

async function drive() {
  const children = [];
  const dirs = [];
  const cleanup = () => {
    children.forEach((c) => c.kill());
    dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  };
  process.on('exit', cleanup);
  process.on('SIGINT', () => process.exit(130));
  if (PIN) spawnSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
  const servers = {};
  for (const setup of SETUPS) {
    const dir = mkdtempSync(path.join(tmpdir(), `fcost-${setup}-`));
    dirs.push(dir);
    const args = [fileURLToPath(import.meta.url), 'server', setup, dir];
    const [cmd, argv] = PIN ? ['taskset', ['-c', '0', process.execPath, ...args]] : [process.execPath, args];
    const child = spawn(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...env, NODE_ENV: 'production' } });
    children.push(child);
    servers[setup] = await new Promise((resolve) => child.once('message', resolve));
  }
  const applies = (setup, route) => !(route === 'read' && (setup === 'floor-rmw' || setup === 'floor-durable')) && !(route === 'write' && setup === 'floor-read');
  const load = (setup, p, connections, duration) =>
    new Promise((resolve, reject) => {
      const { port, cookie } = servers[setup];
      autocannon({ url: `http://127.0.0.1:${port}${p}`, connections, duration, headers: { cookie } }, (err, r) => (err ? reject(err) : resolve(r)));
    });
  const stats = async (setup) => (await fetch(`http://127.0.0.1:${servers[setup].port}/stats`)).json();
  for (const setup of SETUPS) for (const r of ROUTES) if (applies(setup, r)) await load(setup, `/${r}`, 10, 1);
  const samples = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of CONNECTIONS) {
      for (const r of ROUTES) {
        for (const setup of SETUPS) {
          if (!applies(setup, r)) continue;
          const before = await stats(setup);
          const res = await load(setup, `/${r}`, c, SECONDS);
          const after = await stats(setup);
          const served = res.requests.total;
          const s = (samples[`${r}|${c}|${setup}`] ??= { rps: [], cpu: [], fsyncs: [], p99: [], errors: 0 });
          s.rps.push(served / SECONDS);
          s.cpu.push((after.us - before.us) / served);
          s.fsyncs.push((after.fsyncs - before.fsyncs) / served);
          s.p99.push(res.latency.p99);
          s.errors += res.non2xx + res.errors;
        }
      }
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  console.log(`pinned: ${PIN}; ${ROUNDS} rounds x ${SECONDS} s, interleaved`);
  console.log('| route | c | setup | req/s | x session-file-store | of floor | server CPU µs/req | fsyncs/req | p99 ms | errors |');
  console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|');
  const rows = [];
  for (const r of ROUTES) {
    const floor = r === 'read' ? 'floor-read' : 'floor-rmw';
    for (const c of CONNECTIONS) {
      for (const setup of SETUPS) {
        const s = samples[`${r}|${c}|${setup}`];
        if (!s) continue;
        const per = (other) => median(s.rps.map((x, i) => x / samples[`${r}|${c}|${other}`].rps[i])).toFixed(2);
        const row = { route: r, c, setup, rps: median(s.rps), vsIncumbent: per('session-file-store'), ofFloor: per(floor), cpu: median(s.cpu), fsyncs: median(s.fsyncs), p99: median(s.p99), errors: s.errors };
        rows.push(row);
        console.log(`| /${r} | ${c} | ${setup} | ${row.rps.toFixed(0)} | ${row.vsIncumbent} | ${row.ofFloor} | ${row.cpu.toFixed(1)} | ${row.fsyncs.toFixed(2)} | ${row.p99} | ${row.errors} |`);
      }
    }
  }
  if (env.FCOST_JSON) fs.writeFileSync(env.FCOST_JSON, JSON.stringify({ pinned: PIN, rows }, null, 2));
  cleanup();
  process.exit(0);
}
