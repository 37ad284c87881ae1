// CPU per request of one session middleware alone, without sockets or a load generator: a `/read`
// of a stored session through `node:http`'s own IncomingMessage/ServerResponse (the response
// written into a discarding stream), one request at a time, process.cpuUsage over a fixed number
// of requests. Far less sensitive to a busy machine than req/s; it measures the middleware, not
// HTTP parsing or the network. Uses the setups of setups.mjs / setups-compat.mjs.
//   npm run build && node bench/compat-micro.mjs [setup ...]
//   default setups: compat-memory express-session-memory compat-redis express-session-redis
//   (sessionware-memory: the native session(), read with the promise API)
//   env: MICRO_EXPRESS_PROTOS=0 (see below), MICRO_REQUESTS=30000 (per round, 5 rounds; a third of it for Redis), MICRO_REDIS=redis://127.0.0.1:6379,
//        BENCH_COMPAT_DIST=<another build> for the compat setups (to compare before and after a change)
// Each setup runs in its own process, one after the other. Redis keys use a unique prefix and are deleted.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const REDIS = process.env.MICRO_REDIS ?? 'redis://127.0.0.1:6379';
// MICRO_EXPRESS_PROTOS=0: plain node:http objects. By default the request and response get a prototype of their
// own first, as Express gives them (app.request, app.response), which changes what the session code pays.
const EXPRESS_PROTOS = process.env.MICRO_EXPRESS_PROTOS !== '0';
const APP_REQUEST = Object.create(http.IncomingMessage.prototype);
const APP_RESPONSE = Object.create(http.ServerResponse.prototype);
const DEFAULT = ['compat-memory', 'express-session-memory', 'compat-redis', 'express-session-redis'];

if (process.argv[2] === 'child') await child(process.argv[3]);
else parent(process.argv.length > 2 ? process.argv.slice(2) : DEFAULT);

function parent(names) {
  console.log('| setup | /read CPU µs/request (median of 5 rounds) | rounds |');
  console.log('|---|---:|---|');
  const results = {};
  for (const name of names) {
    const out = spawnSync(process.execPath, [fileURLToPath(import.meta.url), 'child', name], { encoding: 'utf8', env: { ...process.env, NODE_ENV: 'production' } });
    if (out.status !== 0) throw new Error(`${name} failed:\n${out.stderr}`);
    const r = JSON.parse(out.stdout.trim().split('\n').at(-1));
    results[name] = r.median;
    console.log(`| ${name} | ${r.median.toFixed(1)} | ${r.rounds.map((x) => x.toFixed(1)).join(' ')} |`);
  }
  for (const kind of ['memory', 'redis']) {
    const ours = results[`compat-${kind}`];
    const theirs = results[`express-session-${kind}`];
    if (ours && theirs) console.log(`${kind}: express-session's /read costs ${(theirs / ours).toFixed(2)}x the drop-in's CPU per request`);
  }
}

async function child(name) {
  const { getSetup } = await import('./setups.mjs');
  const setup = getSetup(name);
  const ready = setup.available?.() ?? true;
  if (ready !== true) throw new Error(`${name}: ${ready}`);
  const prefix = `micro${randomBytes(4).toString('hex')}:`;
  const { middleware, close } = await setup.create({ redisUrl: REDIS, prefix });
  const once = (cookie) =>
    new Promise((resolve, reject) => {
      const req = new http.IncomingMessage({ encrypted: false, remoteAddress: '127.0.0.1' });
      req.method = 'GET';
      req.url = req.originalUrl = '/read';
      req.headers = cookie ? { cookie } : {};
      const res = new http.ServerResponse(req);
      if (EXPRESS_PROTOS) {
        // As Express does for every request (its app.request / app.response): it changes what later stores cost.
        Object.setPrototypeOf(req, APP_REQUEST);
        Object.setPrototypeOf(res, APP_RESPONSE);
      }
      const socket = new Writable({ write: (_c, _e, cb) => cb(), writev: (_c, cb) => cb() });
      res.assignSocket(socket);
      res.once('finish', () => {
        res.detachSocket(socket);
        resolve(res);
      });
      middleware(req, res, async (err) => {
        if (err) return reject(err);
        let n;
        if (setup.flavor === 'sessionware') {
          // sessionware's own session(): the promise API.
          if (!cookie) await req.session.set('n', 1);
          n = await req.session.get('n');
        } else {
          if (!cookie) req.session.n = 1;
          n = req.session.n;
        }
        if (n !== 1) return reject(new Error(`${name}: the seeded session did not load`));
        const body = JSON.stringify({ n });
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        res.setHeader('Content-Length', String(Buffer.byteLength(body)));
        res.end(body);
      });
    });
  const seeded = await once(undefined);
  await new Promise((r) => setTimeout(r, 20)); // a store that writes after the response (express-session)
  const cookie = String(seeded.getHeader('set-cookie')).split(';')[0];
  const n = Math.floor(Number(process.env.MICRO_REQUESTS ?? 30000) / (setup.storage === 'redis' ? 3 : 1));
  for (let i = 0; i < n / 5; i++) await once(cookie); // warm-up
  const rounds = [];
  for (let round = 0; round < 5; round++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) await once(cookie);
    const t = process.cpuUsage(t0);
    rounds.push((t.user + t.system) / n);
  }
  if (setup.storage === 'redis') {
    const mod = await import('ioredis');
    const Redis = mod.Redis ?? mod.default;
    const client = new Redis(REDIS);
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
    client.disconnect();
  }
  await close?.();
  const sorted = [...rounds].sort((a, b) => a - b);
  console.log(JSON.stringify({ median: sorted[2], rounds }));
  process.exit(0);
}
