// CPU cost per request: server CPU time (process.cpuUsage) divided by the requests served, for
// bare Express, an async no-op route behind a pass-through middleware (what any middleware plus an
// async handler costs), and sessionware + MemoryStorage on /untouched, /read, /write and /new.
// Less noisy than req/s on a shared machine, and it isolates what the session layer adds.
//   npm run build && node bench/cost.mjs          (env: COST_ROUNDS=8, COST_SECONDS=1.5, COST_DIST=dist, COST_CONNECTIONS=10)
// The server runs pinned to CPU 0 and autocannon to CPU 1 when `taskset` works.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';

const ROUNDS = Number(process.env.COST_ROUNDS ?? 8);
const SECONDS = Number(process.env.COST_SECONDS ?? 1.5);
const SESSION_ID = 'costBenchSession00000001';
const ROUTES = ['/bare', '/noop', '/floor-read', '/floor-write', '/untouched', '/read', '/write', '/new'];

if (process.argv[2] === 'server') await serve();
else await drive();

async function serve() {
  const { default: express } = await import('express');
  // COST_DIST: another build to measure (e.g. a copy of dist/ from before a change), to compare.
  const dist = process.env.COST_DIST ? pathToFileURL(path.resolve(process.env.COST_DIST, 'index.js')).href : '../dist/index.js';
  const { session, MemoryStorage } = await import(dist);
  const storage = new MemoryStorage();
  await storage.setSession(SESSION_ID, { set: new Map([['n', '1']]), removed: new Set() }, 86_400_000, { create: true });
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  const route = (fn) => async (req, res, next) => {
    try {
      res.json(await fn(req));
    } catch (err) {
      next(err);
    }
  };
  app.get('/bare', (_req, res) => res.json({ n: 1 }));
  app.get('/cpu', (_req, res) => {
    const { user, system } = process.cpuUsage();
    res.json({ us: user + system });
  });
  app.use((_req, _res, next) => next());
  app.get('/noop', route(async () => ({ n: 1 })));
  // The memory floors (bench/floors.mjs): the cookie + one Map lookup (/read), Map read + write (/write, /new).
  const { memoryFloor } = await import('./floors.mjs');
  const floor = memoryFloor([[SESSION_ID, { n: 1 }]]);
  app.get('/floor-read', route(async (req) => floor.read(req)));
  app.get('/floor-write', (req, res, next) => route(async () => floor.write(req, res))(req, res, next));
  app.use(session(storage));
  app.get('/untouched', route(async () => ({ n: 1 })));
  app.get('/read', route(async (req) => ({ n: await req.session.get('n') })));
  app.get('/write', route(async (req) => {
    const n = ((await req.session.get('n')) ?? 0) + 1;
    await req.session.set('n', n);
    return { n };
  }));
  app.get('/new', route(async (req) => {
    await req.session.set('n', 1);
    return { n: 1 };
  }));
  const server = app.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('disconnect', () => process.exit(0));
}

async function drive() {
  const pin = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  const args = [fileURLToPath(import.meta.url), 'server'];
  const child = pin
    ? spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  if (pin) spawnSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
  const { port } = await new Promise((resolve) => child.once('message', resolve));
  const base = `http://127.0.0.1:${port}`;
  const cpu = async () => (await (await fetch(`${base}/cpu`)).json()).us;
  const load = (path, duration) =>
    new Promise((resolve, reject) => {
      const headers = path === '/new' ? {} : { cookie: `sessionid=${SESSION_ID}` };
      const connections = Number(process.env.COST_CONNECTIONS ?? 10);
      autocannon({ url: base + path, connections, duration, headers }, (err, r) => (err ? reject(err) : resolve(r.requests.total)));
    });
  for (const path of ROUTES) await load(path, 1); // warm-up
  const samples = Object.fromEntries(ROUTES.map((p) => [p, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const path of ROUTES) {
      const before = await cpu();
      const requests = await load(path, SECONDS);
      samples[path].push(((await cpu()) - before) / requests);
    }
  }
  child.kill();
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const bare = median(samples['/bare']);
  console.log('| route | CPU µs/request (median) | over bare | ratio to bare |');
  console.log('|---|---:|---:|---:|');
  for (const path of ROUTES) {
    const us = median(samples[path]);
    console.log(`| ${path} | ${us.toFixed(1)} | ${(us - bare).toFixed(1)} | ${(bare / us).toFixed(2)}x |`);
  }
  process.exit(0);
}
