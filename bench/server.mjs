// One benchmark server: the same Express 5 app and routes for every setup.
//   node bench/server.mjs <setup-name>     (context in env BENCH_CTX as JSON)
// Reports { ready, port } to the parent over IPC; stops on { stop: true } or when the parent goes.
//
// Routes: GET /bare is mounted before the session middleware, so it never sees it.
//   /read   existing session, read `n`        /write  existing session, increment `n`
//   /new    no cookie, create a session       /dump   the session's data as JSON
//   /slow-write?key=K  reads the session, waits ~100 ms, writes K
//   /fast-write?key=K  writes K               /logout destroys the session
//   /incr   existing session, increment `n`: sessionware's atomic increment(); express-session's
//           read-and-write-back (the same as its /write)
//   /set    existing session, write `t` without reading anything first
//   /bench-stats (before the session middleware) counts since the last ?reset: /incr responses
//           that finished with 200, and sessionware's compareAndSet calls and conflicts
//   /__cpu  (before the session middleware) the server's CPU time so far (process.cpuUsage, µs)
// Floor setups (bench/floors.mjs, flavor 'floor') bring their own handlers (instance.handlers).
import express from 'express';
import { getSetup } from './setups.mjs';

const setup = getSetup(process.argv[2]);
const ctx = JSON.parse(process.env.BENCH_CTX || '{}');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const delayOf = (req) => Number(req.query.ms ?? 100);
let writes = 0;

const HANDLERS = {
  sessionware: {
    async read(req) {
      return { n: await req.session.get('n') };
    },
    async write(req) {
      const n = ((await req.session.get('n')) ?? 0) + 1;
      await req.session.set('n', n);
      return { n };
    },
    async incr(req) {
      return { n: await req.session.increment('n') };
    },
    async new(req) {
      await req.session.set('n', 1);
      return { n: 1 };
    },
    async set(req) {
      const t = ++writes;
      await req.session.set('t', t);
      return { t };
    },
    async slowWrite(req, key) {
      await req.session.get(key);
      await sleep(delayOf(req));
      await req.session.set(key, true);
      return { ok: true };
    },
    async fastWrite(req, key) {
      await req.session.set(key, true);
      return { ok: true };
    },
    async logout(req) {
      await req.session.removeAll();
      return { ok: true };
    },
    async dump(req) {
      return await req.session.data();
    },
  },
  'express-session': {
    read: (req) => ({ n: req.session.n }),
    write(req) {
      req.session.n = (req.session.n || 0) + 1;
      return { n: req.session.n };
    },
    incr(req) {
      req.session.n = (req.session.n || 0) + 1;
      return { n: req.session.n };
    },
    new(req) {
      req.session.n = 1;
      return { n: 1 };
    },
    set(req) {
      req.session.t = ++writes;
      return { t: req.session.t };
    },
    async slowWrite(req, key) {
      void req.session[key]; // loaded by the middleware before the handler runs
      await sleep(delayOf(req));
      req.session[key] = true;
      return { ok: true };
    },
    fastWrite(req, key) {
      req.session[key] = true;
      return { ok: true };
    },
    logout: (req) => new Promise((resolve, reject) => req.session.destroy((err) => (err ? reject(err) : resolve({ ok: true })))),
    dump(req) {
      if (!req.session) return {};
      const { cookie: _cookie, ...data } = req.session;
      return data;
    },
  },
};

const instance = await setup.create(ctx);
const h = instance.handlers ?? HANDLERS[setup.flavor];
const route = (fn) => async (req, res, next) => {
  try {
    res.json(await fn(req, String(req.query.key ?? 'k'), res));
  } catch (err) {
    next(err);
  }
};

const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.get('/bare', (_req, res) => {
  res.json({ n: 1 });
});
app.get('/__cpu', (_req, res) => {
  const { user, system } = process.cpuUsage();
  res.json({ us: user + system });
});
// Counters for /incr: how many increments the clients were told about, and how often sessionware's
// compare-and-set lost (each conflict is one retry of that request's increment).
const stats = { incrOk: 0, compareAndSet: 0, conflicts: 0 };
const storage = instance.middleware.storage;
if (typeof storage?.compareAndSet === 'function') {
  const compareAndSet = storage.compareAndSet.bind(storage);
  storage.compareAndSet = async (...args) => {
    stats.compareAndSet++;
    const result = await compareAndSet(...args);
    if (result === 'conflict') stats.conflicts++;
    return result;
  };
}
app.get('/bench-stats', (req, res) => {
  res.json(stats);
  if (req.query.reset !== undefined) Object.assign(stats, { incrOk: 0, compareAndSet: 0, conflicts: 0 });
});
app.use('/incr', (_req, res, next) => {
  res.on('finish', () => res.statusCode === 200 && stats.incrOk++);
  next();
});
app.use(instance.middleware);
app.get('/read', route(h.read));
app.get('/write', route(h.write));
app.get('/new', route(h.new));
app.get('/set', route(h.set));
app.get('/write10', route(h.write)); // /write, each connection on its own session (bench/full.mjs)
app.get('/incr', route(h.incr));
app.get('/slow-write', route(h.slowWrite));
app.get('/fast-write', route(h.fastWrite));
app.get('/logout', route(h.logout));
app.get('/dump', route(h.dump));
let errors = 0;
app.use((err, req, res, _next) => {
  // A load generator that stops mid-request aborts it; the session then closes under the handler.
  // Not worth a log line; anything else is.
  if (!req.socket.destroyed && errors++ < 5) console.error(`[server ${setup.name}] ${req.url}:`, err);
  if (!res.headersSent) res.status(500).json({ error: String(err?.message ?? err) });
});

const server = app.listen(0, '127.0.0.1', () => {
  process.send?.({ ready: true, port: server.address().port, pid: process.pid });
});
server.keepAliveTimeout = 60_000;

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  server.closeAllConnections?.();
  server.close();
  try {
    await instance.close?.();
  } catch (err) {
    console.error(`[server ${setup.name}] close:`, err);
  }
  process.exit(0);
}
process.on('message', (m) => m?.stop && stop());
process.on('disconnect', stop);
process.on('SIGTERM', stop);
