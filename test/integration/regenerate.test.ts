/**
 * Login over real HTTP on every storage: `regenerate()` moves the session atomically, so an
 * overlapping request's acknowledged write lands in the new session, and a logout racing the login
 * stays a logout. Each trial orders the requests' loads with a barrier and leaves the rest to chance
 * (random delays), many trials at once.
 */
import express from 'express';
import { Manager, type Storage } from 'sessionware';
import { session } from 'sessionware';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { wrap } from '../helpers/app';
import { describeEachStorage } from '../helpers/storages';

const TRIALS = 100;
const PARALLEL = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One promise per trial that the first request resolves once it has loaded the session. */
class Barriers {
  readonly #waiting = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  #entry(t: string) {
    let entry = this.#waiting.get(t);
    if (!entry) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      entry = { promise, resolve };
      this.#waiting.set(t, entry);
    }
    return entry;
  }
  open(t: string): void {
    this.#entry(t).resolve();
  }
  wait(t: string): Promise<void> {
    return this.#entry(t).promise;
  }
}

function buildLoginApp(storage: Storage) {
  const loaded = new Barriers();
  /** The logging-in request has loaded the old session: a racing logout waits for it (under load, a late login would otherwise find the session already gone). */
  const loginLoaded = new Barriers();
  const app = express();
  app.use(session(storage));
  const ms = (req: express.Request) => Number(req.query['ms'] ?? 0);
  const t = (req: express.Request) => String(req.query['t']);
  app.get('/login', wrap(async (req, res) => {
    const saw = (await req.session.get('secret')) !== undefined;
    loginLoaded.open(t(req));
    if (req.query['wait'] !== undefined) await loaded.wait(t(req)); // the other request has loaded the old session too
    await sleep(ms(req));
    const keep = req.query['keep'];
    await req.session.regenerate(typeof keep === 'string' ? { keep: keep.split(',') } : undefined);
    await req.session.set('user', 'alice');
    res.json({ saw });
  }));
  app.get('/cart', wrap(async (req, res) => {
    await req.session.get('user');
    loaded.open(t(req));
    await sleep(ms(req));
    await req.session.set('cart', ['book']);
    res.send('ok');
  }));
  app.get('/logout', wrap(async (req, res) => {
    await req.session.get('user');
    loaded.open(t(req));
    await loginLoaded.wait(t(req));
    await sleep(ms(req));
    await req.session.removeAll();
    res.send('bye');
  }));
  app.get('/data', wrap(async (req, res) => {
    res.json(await req.session.data());
  }));
  app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: err.name, message: err.message });
  });
  return app;
}

/** Stores a session directly through a `Manager` on the same storage; resolves its id. */
async function seed(storage: Storage, values: Record<string, unknown>): Promise<string> {
  const s = new Manager({ storage }).new();
  await s.setMap(values);
  const id = await s.id();
  await s.close();
  return id;
}

function newCookie(res: Response): string | undefined {
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('sessionid='));
  return cookie?.split(';')[0]?.slice('sessionid='.length) || undefined;
}

/** Runs `trials` trials, `PARALLEL` at a time; every trial runs to its end, then the first failure is thrown. */
async function inParallel(trials: number, run: (i: number) => Promise<void>): Promise<void> {
  const failures: unknown[] = [];
  for (let start = 0; start < trials; start += PARALLEL) {
    await Promise.all(Array.from({ length: Math.min(PARALLEL, trials - start) }, (_, k) => run(start + k).catch((err: unknown) => failures.push(err))));
  }
  if (failures.length > 0) throw failures[0];
}

async function listen(app: express.Express): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

const random = (max: number) => Math.floor(Math.random() * max);

describeEachStorage((name, current) => {
  let server: Awaited<ReturnType<typeof listen>>;
  beforeEach(async () => {
    server = await listen(buildLoginApp(current()));
  });
  afterEach(() => server.close());

  const get = (path: string, id?: string) => fetch(`${server.url}${path}`, id === undefined ? {} : { headers: { cookie: `sessionid=${id}` } });
  const dataOf = async (id: string) => (await (await get('/data', id)).json()) as Record<string, unknown>;

  it(`should keep an overlapping request's acknowledged write across regenerate() on ${name} (${TRIALS} trials)`, async () => {
    const lost: number[] = [];
    await inParallel(TRIALS, async (i) => {
      const oldId = await seed(current(), { user: 'anon', n: i });
      const [login, cart] = await Promise.all([get(`/login?t=${i}&wait&ms=${random(12)}`, oldId), get(`/cart?t=${i}&ms=${random(12)}`, oldId)]);
      expect([login.status, cart.status, await cart.text()]).toEqual([200, 200, 'ok']);
      const newId = newCookie(login);
      expect(newId).toBeDefined();
      expect(newId).not.toBe(oldId);
      const data = await dataOf(newId as string);
      if (!('cart' in data)) lost.push(i);
      else expect(data).toEqual({ user: 'alice', n: i, cart: ['book'] });
      await expect(current().getSession(oldId, 60_000)).resolves.toBeUndefined();
    });
    expect(lost).toEqual([]);
  });

  it(`should let a logout racing regenerate() win on ${name} (${TRIALS} trials)`, async () => {
    const survived: number[] = [];
    await inParallel(TRIALS, async (i) => {
      const oldId = await seed(current(), { user: 'anon', secret: 'planted' });
      const [login, logout] = await Promise.all([get(`/login?t=${i}&wait&ms=${random(12)}`, oldId), get(`/logout?t=${i}&ms=${random(40)}`, oldId)]);
      expect([login.status, logout.status]).toEqual([200, 200]);
      expect(await login.json()).toEqual({ saw: true });
      const newId = newCookie(login);
      if (newId !== undefined && (await current().getSession(newId, 60_000)) !== undefined) survived.push(i);
      if (newId !== undefined) await expect(dataOf(newId)).resolves.toEqual({});
      await expect(current().getSession(oldId, 60_000)).resolves.toBeUndefined();
    });
    expect(survived).toEqual([]);
  });

  it(`should carry only the kept keys with regenerate({ keep }) on ${name}`, async () => {
    const planted = await seed(current(), { csrf: 'attacker-token', flags: { admin: true }, cart: ['book'] });
    const res = await get(`/login?t=keep&ms=0&keep=cart`, planted);
    expect(res.status).toBe(200);
    const newId = newCookie(res) as string;
    await expect(dataOf(newId)).resolves.toEqual({ cart: ['book'], user: 'alice' });

    const everything = await seed(current(), { csrf: 'token', cart: ['pen'] });
    const all = await get(`/login?t=all&ms=0`, everything);
    await expect(dataOf(newCookie(all) as string)).resolves.toEqual({ csrf: 'token', cart: ['pen'], user: 'alice' });
  });
});
