// CPU cost per request of the express-session drop-in (sessionware/express-session) beside
// express-session itself, on the same kind of store: server CPU time (process.cpuUsage) divided by
// the requests served, on /bare (no session code) and /<setup>/read (a stored session, read). All
// setups live in one server process and the rounds interleave them. Steadier than req/s on a
// shared machine. Uses the setups of setups.mjs / setups-compat.mjs.
//   npm run build && node bench/compat-cost.mjs
//   BENCH_DIST=<a copy of dist/> measures another build (before/after a change).
//   env: COST_SETUPS=compat-memory,express-session-memory,compat-redis,express-session-redis (also sessionware-memory:
//        the native session(), read with the promise API)
//        COST_ROUNDS=6, COST_SECONDS=1.5, COST_CONNECTIONS=10, COST_REDIS=redis://127.0.0.1:6379
//        COST_PROF=1: the servers run with --cpu-prof (profiles in bench/results/profiles/)
// Keys go under a unique prefix per run and are deleted afterwards. The server runs pinned to CPU 0
// and autocannon to CPU 1 when `taskset` works.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { costApp } from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROUNDS = Number(process.env.COST_ROUNDS ?? 6);
const SECONDS = Number(process.env.COST_SECONDS ?? 1.5);
const CONNECTIONS = Number(process.env.COST_CONNECTIONS ?? 10);
const REDIS = process.env.COST_REDIS ?? 'redis://127.0.0.1:6379';
const SETUPS = (process.env.COST_SETUPS ?? 'compat-memory,express-session-memory,compat-redis,express-session-redis').split(',');
const RUN = `cc${randomBytes(4).toString('hex')}`;

if (process.argv[2] === 'server') await serve(process.argv[3]);
else await drive();

async function serve(names) {
  const { default: express } = await import('express');
  const { getSetup } = await import('./setups.mjs');
  const app = costApp(express);
  // Every setup in the same process, each on its own sub-app under /<name>: the rounds interleave
  // them, so a change in the machine's load hits all of them alike.
  for (const name of names.split(',')) {
    const setup = getSetup(name);
    const ready = setup.available?.() ?? true;
    if (ready !== true) throw new Error(`${name}: ${ready}`);
    const { middleware } = await setup.create({ redisUrl: REDIS, prefix: `${RUN}:${name}:` });
    const sub = express();
    sub.disable('x-powered-by');
    sub.disable('etag');
    sub.use(middleware);
    if (setup.flavor === 'sessionware') {
      // sessionware's own session() (e.g. sessionware-memory): the promise API.
      sub.get('/seed', async (req, res) => {
        await req.session.set('n', 1);
        res.json({ n: 1 });
      });
      sub.get('/read', async (req, res) => res.json({ n: await req.session.get('n') }));
    } else {
      sub.get('/seed', (req, res) => {
        req.session.n = 1;
        res.json({ n: 1 });
      });
      sub.get('/read', (req, res) => res.json({ n: req.session.n }));
    }
    app.use(`/${name}`, sub);
  }
  const server = app.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('disconnect', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0)); // a normal exit writes the --cpu-prof profile
}

async function measure(names, pin) {
  const args = [];
  if (process.env.COST_PROF) {
    const dir = path.join(HERE, 'results/profiles');
    mkdirSync(dir, { recursive: true });
    args.push('--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=compat-cost-${Date.now()}.cpuprofile`);
  }
  args.push(fileURLToPath(import.meta.url), 'server', names.join(','));
  const env = { ...process.env, NODE_ENV: 'production' };
  const child = pin
    ? spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env })
    : spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env });
  const { port } = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const routes = { '/bare': {} };
  for (const name of names) {
    const seeded = await fetch(`${base}/${name}/seed`);
    const cookie = String(seeded.headers.get('set-cookie')).split(';')[0];
    const check = await (await fetch(`${base}/${name}/read`, { headers: { cookie } })).json();
    if (check.n !== 1) throw new Error(`${name}: the seeded session did not read back (${JSON.stringify(check)})`);
    routes[`/${name}/read`] = { cookie };
  }
  const cpu = async () => (await (await fetch(`${base}/cpu`)).json()).us;
  const load = (route, duration) =>
    new Promise((resolve, reject) => {
      autocannon({ url: base + route, connections: CONNECTIONS, duration, headers: routes[route] }, (err, r) => (err ? reject(err) : resolve(r)));
    });
  for (const route of Object.keys(routes)) await load(route, 1); // warm-up
  const samples = Object.fromEntries(Object.keys(routes).map((r) => [r, []]));
  const rps = Object.fromEntries(Object.keys(routes).map((r) => [r, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const route of Object.keys(routes)) {
      const before = await cpu();
      const r = await load(route, SECONDS);
      if (r.non2xx > 0 || r.errors > 0) throw new Error(`${route}: ${r.non2xx} non-2xx, ${r.errors} errors`);
      samples[route].push(((await cpu()) - before) / r.requests.total);
      rps[route].push(r.requests.average);
    }
  }
  child.kill('SIGINT');
  await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
  return Object.fromEntries(Object.keys(routes).map((r) => [r, { us: median(samples[r]), rps: median(rps[r]) }]));
}

function median(xs) {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1];
}

async function drive() {
  const pin = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  if (pin) spawnSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
  let result;
  try {
    result = await measure(SETUPS, pin);
  } finally {
    if (SETUPS.some((s) => s.includes('redis'))) await cleanup();
  }
  const bare = result['/bare'].us;
  console.log(`/bare: ${bare.toFixed(1)} CPU µs/request`);
  console.log('| setup | /read CPU µs/req | over bare | /read req/s (noisy) |');
  console.log('|---|---:|---:|---:|');
  for (const name of SETUPS) {
    const r = result[`/${name}/read`];
    console.log(`| ${name} | ${r.us.toFixed(1)} | ${(r.us - bare).toFixed(1)} | ${Math.round(r.rps)} |`);
  }
  for (const kind of ['memory', 'redis']) {
    const ours = result[`/compat-${kind}/read`];
    const theirs = result[`/express-session-${kind}/read`];
    if (ours && theirs) console.log(`${kind}: express-session's /read costs ${(theirs.us / ours.us).toFixed(2)}x the drop-in's CPU per request`);
  }
  process.exit(0);
}

/** Deletes this run's keys from Redis. */
async function cleanup() {
  const mod = await import('ioredis');
  const Redis = mod.Redis ?? mod.default;
  const client = new Redis(REDIS);
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${RUN}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
  client.disconnect();
}
