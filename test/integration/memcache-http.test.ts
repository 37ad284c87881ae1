/**
 * MemcacheStorage over real HTTP on a memcached spawned for this file: overlapping requests keep
 * each other's writes, a logout wins, a read-only request overlapping a write does not undo it
 * (express-session + connect-memcached does, shown side by side), and the memcached commands each
 * request costs, from `stats` deltas.
 */
import request from 'supertest';
import express from 'express';
import { MemcacheStorage } from 'sessionware/memcache';
import { buildApp, cookieValue } from '../helpers/app';
import { commandCountApp, sleep, uniquePrefix } from '../helpers/redis';
import { commandsBetween, type MemcachedServer, sharedMemcached, stopSharedMemcached } from '../helpers/memcached';

/* eslint-disable @typescript-eslint/no-require-imports */
type Middleware = (req: express.Request, res: express.Response, next: express.NextFunction) => void;
type ExpressSession = ((options: Record<string, unknown>) => Middleware) & { Store: unknown };
const expressSession = require('express-session') as ExpressSession;
const connectMemcached = require('connect-memcached') as (session: ExpressSession) => new (options: { hosts: string[]; prefix: string }) => { client: { end(): void } };
/* eslint-enable @typescript-eslint/no-require-imports */
type IncumbentSession = Record<string, unknown>;

let server: MemcachedServer;
beforeAll(async () => {
  server = await sharedMemcached();
});
afterAll(stopSharedMemcached);

describe('MemcacheStorage over HTTP', () => {
  let prefix: string;
  let storage: MemcacheStorage;
  let app: express.Express;

  beforeEach(() => {
    prefix = uniquePrefix('sw-mc-http');
    storage = new MemcacheStorage(server.address, { prefix });
    app = buildApp(express, storage);
    app.get('/slow-read', async (req, res) => {
      const user = await req.session.get('user');
      await sleep(Number(req.query['ms'] ?? 200));
      res.json(user);
    });
  });
  afterEach(() => storage.close());

  async function login(): Promise<string> {
    const res = await request(app).get('/set?k=user&v=alice').expect(200);
    return cookieValue(res.headers['set-cookie']) as string;
  }

  it('should keep every write of overlapping requests on disjoint keys', async () => {
    const cookie = `sessionid=${await login()}`;
    const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
    await Promise.all(keys.map((k, i) => request(app).get(`/slow-set?k=${k}&v=${i}&ms=${20 + ((i * 37) % 100)}`).set('Cookie', cookie).expect(200)));
    await request(app).get('/data').set('Cookie', cookie).expect(200, { user: 'alice', ...Object.fromEntries(keys.map((k, i) => [k, String(i)])) });
  });

  it('should not let a slow writer resurrect a session logged out meanwhile', async () => {
    const id = await login();
    const cookie = `sessionid=${id}`;
    const slow = request(app).get('/slow-set?k=cart&v=late&ms=300').set('Cookie', cookie).then((r) => r);
    await sleep(100);
    const logout = await request(app).get('/logout').set('Cookie', cookie).expect(200);
    expect(logout.headers['set-cookie']?.[0]).toMatch(/^sessionid=;/);
    const late = await slow;
    expect(late.status).toBe(200);
    expect(cookieValue(late.headers['set-cookie']) ?? '').not.toBe(id);
    expect(await server.valueOf(prefix + id)).toBeUndefined();
    await request(app).get('/data').set('Cookie', cookie).expect(200, {});
  });

  it('should regenerate: a new id with the data, the old id no longer accepted', async () => {
    const id = await login();
    const res = await request(app).get('/regenerate').set('Cookie', `sessionid=${id}`).expect(200);
    const next = cookieValue(res.headers['set-cookie']) as string;
    expect(next).toBeTruthy();
    expect(next).not.toBe(id);
    await request(app).get('/data').set('Cookie', `sessionid=${next}`).expect(200, { user: 'alice' });
    await request(app).get('/data').set('Cookie', `sessionid=${id}`).expect(200, {});
  });

  it('should keep a write that a read-only request overlapped (connect-memcached loses it)', async () => {
    const cookie = `sessionid=${await login()}`;
    const reader = request(app).get('/slow-read?ms=200').set('Cookie', cookie).then((r) => r);
    await sleep(50);
    await request(app).get('/set?k=cart&v=full').set('Cookie', cookie).expect(200);
    expect((await reader).body).toBe('alice');
    await request(app).get('/data').set('Cookie', cookie).expect(200, { user: 'alice', cart: 'full' });
  });
});

describe('express-session + connect-memcached, the same overlap (the incumbent)', () => {
  it('should show the incumbent losing the write through its touch', async () => {
    const MemcachedStore = connectMemcached(expressSession);
    const store = new MemcachedStore({ hosts: [server.address], prefix: uniquePrefix('sw-mc-incumbent') });
    const app = express();
    app.use(expressSession({ secret: 'test-secret', resave: false, saveUninitialized: false, store }));
    app.get('/set', (req, res) => {
      (req.session as unknown as IncumbentSession)['cart'] = 'full';
      res.send('ok');
    });
    app.get('/login', (req, res) => {
      (req.session as unknown as IncumbentSession)['user'] = 'alice';
      res.send('ok');
    });
    app.get('/slow-read', async (req, res) => {
      const user = (req.session as unknown as IncumbentSession)['user'];
      await sleep(200);
      res.json(user);
    });
    app.get('/data', (req, res) => {
      const { cookie: _cookie, ...data } = req.session as unknown as IncumbentSession;
      res.json(data);
    });
    try {
      const login = await request(app).get('/login').expect(200);
      const cookie = (login.headers['set-cookie'] as unknown as string[])[0]!.split(';')[0]!;
      const reader = request(app).get('/slow-read').set('Cookie', cookie).then((r) => r);
      await sleep(50);
      await request(app).get('/set').set('Cookie', cookie).expect(200);
      expect((await reader).body).toBe('alice');
      await sleep(50); // its touch (a whole-session set) lands after the response
      const after = await request(app).get('/data').set('Cookie', cookie).expect(200);
      expect(after.body).toEqual({ user: 'alice' }); // the cart is gone: the stale touch overwrote it
    } finally {
      store.client.end();
    }
  });
});

describe('MemcacheStorage: memcached commands per request (stats deltas)', () => {
  it('should read with one gats, create with one add, write with one cas after the read, log out with one gat -1', async () => {
    const prefix = uniquePrefix('sw-mc-cmds');
    const storage = new MemcacheStorage(server.address, { prefix });
    const app = commandCountApp(storage);
    app.get('/write', async (req, res) => {
      await req.session.set('n', ((await req.session.get<number>('n')) ?? 0) + 1);
      res.send('ok');
    });
    app.get('/login', async (req, res) => {
      await req.session.regenerate();
      res.send('ok');
    });
    app.get('/slow-read', async (req, res) => {
      const user = await req.session.get('user');
      await sleep(100);
      res.json(user);
    });
    const measure = async (path: string, cookie?: string) => {
      const before = await server.stats();
      const req = request(app).get(path);
      const res = await (cookie ? req.set('Cookie', cookie) : req).expect(200);
      await sleep(50); // anything sent after the response is counted too
      return { res, commands: commandsBetween(before, await server.stats()) };
    };

    const created = await measure('/set');
    expect(created.commands).toMatchObject({ total: 1, cmd_set: 1 });
    const cookie = `sessionid=${cookieValue(created.res.headers['set-cookie'])}`;

    for (let i = 0; i < 3; i++) {
      const read = await measure('/read', cookie);
      expect(read.res.body).toBe('alice');
        expect(read.commands).toMatchObject({ total: 1, cmd_touch: 1, cmd_get: 0, cmd_set: 0 });
    }

    // Overlapping read-only requests of one session (tabs, parallel fetches): still one gats each,
    // and none of their clean closes sends a touch (each finds the latest read, under a second old).
    const before5 = await server.stats();
    const overlapping = await Promise.all(Array.from({ length: 5 }, () => request(app).get('/slow-read').set('Cookie', cookie).expect(200)));
    await sleep(50);
    expect(overlapping.map((r) => r.body)).toEqual(Array(5).fill('alice'));
    expect(commandsBetween(before5, await server.stats())).toMatchObject({ total: 5, cmd_touch: 5, cmd_get: 0, cmd_set: 0 });

    for (let i = 0; i < 3; i++) {
      // The read's gats carries the CAS token: the write is one cas on top, no gets.
      const written = await measure('/write', cookie);
      expect(written.commands).toMatchObject({ total: 2, cmd_touch: 1, cmd_get: 0, cmd_set: 1, cas_hits: 1 });
    }
    const blind = await measure('/set', cookie); // the session loads on first use: gats, then cas
    expect(blind.commands).toMatchObject({ total: 2, cmd_touch: 1, cmd_set: 1, cas_hits: 1 });

    // Logout: one command that ends the item and returns it (gat -1), no delete, no get.
    const logout = await measure('/logout', cookie);
    expect(logout.commands).toMatchObject({ total: 1, cmd_touch: 1, cmd_get: 0, cmd_set: 0, delete_hits: 0, delete_misses: 0 });
    const again = await measure('/read', cookie);
    expect(again.res.text).toBe(''); // gone, as after a delete: nothing to read
    expect(again.commands).toMatchObject({ total: 1, cmd_touch: 1 });

    // The rare case: a late logout through the id a login (regenerate) moved: the old item is a
    // forward, so a second gat -1 ends the session it leads to.
    const fresh = await measure('/set');
    const before = `sessionid=${cookieValue(fresh.res.headers['set-cookie'])}`;
    const login = await measure('/login', before);
    const after = `sessionid=${cookieValue(login.res.headers['set-cookie'])}`;
    expect(login.commands).toMatchObject({ total: 4, cmd_touch: 1, cmd_get: 1, cmd_set: 2 }); // gats, gets, add, cas (the forward is the old item)
    const late = await measure('/logout', before);
    expect(late.commands).toMatchObject({ total: 2, cmd_touch: 2, cmd_get: 0, cmd_set: 0, delete_hits: 0 });
    expect((await request(app).get('/read').set('Cookie', after).expect(200)).text).toBe('');
    await storage.close();
  });
});
