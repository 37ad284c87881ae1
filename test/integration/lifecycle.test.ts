/**
 * Issue 17 over real HTTP, on every storage: the session count, a session's own TTL ("remember
 * me"), the absolute lifetime, and the reserved keys that carry them.
 */
import http from 'node:http';
import express from 'express';
import request from 'supertest';
import { session, StorageError, type SessionOptions, type Storage } from 'sessionware';
import { cookieOf, cookieValue, listen, wrap } from '../helpers/app';
import { describeEachStorage } from '../helpers/storages';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DAY = 24 * 60 * 60 * 1000;

function lifecycleApp(storage: Storage, options: SessionOptions = {}) {
  const sessions = session(storage, options);
  const app = express();
  app.use(sessions);
  app.get('/login', wrap(async (req, res) => {
    await req.session.regenerate(req.query['renew'] === '1' ? { renew: true } : undefined);
    await req.session.set('user', String(req.query['u'] ?? 'ann'));
    if (req.query['remember'] !== undefined) await req.session.setTTL(Number(req.query['remember']));
    res.send('ok');
  }));
  app.get('/user', wrap(async (req, res) => {
    res.json({ user: (await req.session.get('user')) ?? null });
  }));
  app.get('/ttl', wrap(async (req, res) => {
    res.json({ ttl: await req.session.getTTL() });
  }));
  app.get('/data', wrap(async (req, res) => {
    res.json({ data: await req.session.data(), size: await req.session.size() });
  }));
  app.get('/reserved', wrap(async (req, res) => {
    await req.session.set('$sw:ttl', 1);
    res.send('unreachable');
  }));
  app.get('/incr', wrap(async (req, res) => {
    res.json({ n: await req.session.increment('n') });
  }));
  app.get('/logout', wrap(async (req, res) => {
    await req.session.removeAll();
    res.send('bye');
  }));
  app.get('/count', wrap(async (_req, res) => {
    res.json({ count: await sessions.manager.count() });
  }));
  app.use((err: Error & { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: err.name, code: err.code ?? null, message: err.message });
  });
  return { app, sessions };
}

const cookieHeader = (res: request.Response) => `sessionid=${cookieValue(res.headers['set-cookie']) ?? ''}`;

describeEachStorage((name, current) => {
  describe('manager.count()', () => {
    if (name === 'MemcacheStorage') {
      it('should reject with a StorageError that says the storage cannot count', async () => {
        const { app, sessions } = lifecycleApp(current());
        const res = await request(app).get('/count').expect(500);
        expect(res.body).toMatchObject({ code: 'ERR_SESSION_STORAGE' });
        expect(res.body.message).toContain('cannot count');
        await expect(sessions.manager.count()).rejects.toBeInstanceOf(StorageError);
      });
      return;
    }
    it('should count live sessions: none, two logins, one after a logout', async () => {
      const { app } = lifecycleApp(current());
      expect((await request(app).get('/count').expect(200)).body).toEqual({ count: 0 });
      const a = cookieHeader(await request(app).get('/login?u=a').expect(200));
      await request(app).get('/login?u=b').expect(200);
      expect((await request(app).get('/count').expect(200)).body).toEqual({ count: 2 });
      await request(app).get('/logout').set('Cookie', a).expect(200);
      expect((await request(app).get('/count').expect(200)).body).toEqual({ count: 1 });
    });
  });

  describe('setTTL() ("remember me")', () => {
    it('should give a persistent cookie whose Max-Age follows the session TTL, re-sent on use, with no cookie.maxAge', async () => {
      const { app } = lifecycleApp(current());
      const plain = await request(app).get('/login').expect(200);
      expect(cookieOf(plain.headers['set-cookie'])).not.toMatch(/Max-Age/i);
      const login = await request(app).get(`/login?remember=${30 * DAY}`).expect(200);
      expect(cookieOf(login.headers['set-cookie'])).toContain(`Max-Age=${(30 * DAY) / 1000}`);
      const cookie = cookieHeader(login);
      const later = await request(app).get('/user').set('Cookie', cookie).expect(200);
      expect(later.body).toEqual({ user: 'ann' });
      expect(cookieOf(later.headers['set-cookie'])).toContain(`Max-Age=${(30 * DAY) / 1000}`);
      expect(cookieValue(later.headers['set-cookie'])).toBe(cookie.slice('sessionid='.length));
    });

    it('should be kept with the session: another middleware on the same storage (another process) reads it', async () => {
      const first = lifecycleApp(current(), { ttl: 60_000 });
      const second = lifecycleApp(current(), { ttl: 60_000 });
      const cookie = cookieHeader(await request(first.app).get(`/login?remember=${7 * DAY}`).expect(200));
      expect((await request(second.app).get('/ttl').set('Cookie', cookie).expect(200)).body).toEqual({ ttl: 7 * DAY });
      expect((await request(first.app).get('/ttl').expect(200)).body).toEqual({ ttl: 60_000 }); // a new session: the default
    });

    it('should keep the session alive past the manager TTL through writes and clean (batched) refreshes; without it the session expires', async () => {
      const { app } = lifecycleApp(current(), { ttl: 1_000 });
      const remembered = cookieHeader(await request(app).get('/login?u=kept&remember=60000').expect(200));
      const plain = cookieHeader(await request(app).get('/login?u=gone').expect(200));
      // A read-only request: its clean close refreshes with the session's own TTL, not the manager's.
      expect((await request(app).get('/user').set('Cookie', remembered).expect(200)).body).toEqual({ user: 'kept' });
      await sleep(2_300); // memcached expires in whole seconds
      expect((await request(app).get('/user').set('Cookie', remembered).expect(200)).body).toEqual({ user: 'kept' });
      expect((await request(app).get('/user').set('Cookie', plain).expect(200)).body).toEqual({ user: null });
    });

    it('should hide its reserved key from data() and size(), refuse it at set(), and survive regenerate({ keep })', async () => {
      const { app } = lifecycleApp(current());
      const cookie = cookieHeader(await request(app).get(`/login?remember=${DAY}`).expect(200));
      expect((await request(app).get('/data').set('Cookie', cookie).expect(200)).body).toEqual({ data: { user: 'ann' }, size: 1 });
      const refused = await request(app).get('/reserved').set('Cookie', cookie).expect(500);
      expect(refused.body).toMatchObject({ code: 'ERR_SESSION_VALUE' });
      expect(refused.body.message).toContain('reserved');
      const again = await request(app).get('/login?u=bob').set('Cookie', cookie).expect(200); // regenerate() keeps it
      expect(cookieOf(again.headers['set-cookie'])).toContain(`Max-Age=${DAY / 1000}`);
      expect((await request(app).get('/ttl').set('Cookie', cookieHeader(again)).expect(200)).body).toEqual({ ttl: DAY });
    });
  });

  describe('sessions.open(req) (upgrades)', () => {
    it('should open the session of a request the middleware does not serve, with its cookie, header, signature and strict ids', async () => {
      const storage = current();
      const { app, sessions } = lifecycleApp(storage, { secret: 'open-test-secret-0123456789abcdefghijkl' });
      /** Outside the middleware, as an upgrade handler would be: reads the user, counts a visit, closes. */
      async function raw(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const s = sessions.open(req);
        const user = (await s.get<string>('user')) ?? null;
        if (user !== null) await s.set('visits', ((await s.get<number>('visits')) ?? 0) + 1);
        await s.close();
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ user, setCookie: res.getHeader('set-cookie') ?? null }));
      }
      const server = await listen((req, res) => {
        if (req.url === '/raw') void raw(req, res).catch((err: unknown) => res.writeHead(500).end(String(err)));
        else app(req, res);
      });
      try {
        const signed = cookieValue((await request(server.url).get('/login?u=zoe').expect(200)).headers['set-cookie']) as string;
        const id = signed.split('.')[0] as string;
        expect((await request(server.url).get('/raw').set('Cookie', `sessionid=${signed}`).expect(200)).body).toEqual({ user: 'zoe', setCookie: null });
        expect((await request(server.url).get('/raw').set('sessionid', signed).expect(200)).body).toEqual({ user: 'zoe', setCookie: null });
        expect((await request(server.url).get('/raw').set('Cookie', `sessionid=${id}`).expect(200)).body).toEqual({ user: null, setCookie: null }); // unsigned
        expect((await request(server.url).get('/raw').set('Cookie', `sessionid=${signed.slice(0, -2)}zz`).expect(200)).body).toEqual({ user: null, setCookie: null });
        expect((await request(server.url).get('/raw').expect(200)).body).toEqual({ user: null, setCookie: null });
        expect((await request(server.url).get('/data').set('Cookie', `sessionid=${signed}`).expect(200)).body).toEqual({ data: { user: 'zoe', visits: 2 }, size: 2 });
        await request(server.url).get('/logout').set('Cookie', `sessionid=${signed}`).expect(200);
        expect((await request(server.url).get('/raw').set('Cookie', `sessionid=${signed}`).expect(200)).body).toEqual({ user: null, setCookie: null });
        expect(await storage.getSession(id, 60_000)).toBeUndefined(); // the logout stays a logout
      } finally {
        await server.close();
      }
    });

    it('should refuse what is not a request, saying what to pass', () => {
      const { sessions } = lifecycleApp(current());
      expect(() => sessions.open(undefined as unknown as http.IncomingMessage)).toThrow(/takes the incoming HTTP request/);
    });
  });

  describe('absoluteTTL', () => {
    /** Makes the session look created `ago` ms ago, straight in the storage. */
    async function backdate(storage: Storage, id: string, ago: number): Promise<void> {
      const changes = { set: new Map([['$sw:created', String(Date.now() - ago)]]), removed: new Set<string>() };
      expect(await storage.setSession(id, changes, 60_000, { create: false })).toBe(true);
    }

    it('should end a session that long after creation however active: like an unknown id (cleared cookie, deleted, new id)', async () => {
      const storage = current();
      const { app } = lifecycleApp(storage, { absoluteTTL: 60_000 });
      const login = await request(app).get('/login').expect(200);
      const id = cookieValue(login.headers['set-cookie']) as string;
      const created = Number((await storage.getSession(id, 60_000))?.get('$sw:created'));
      expect(created).toBeGreaterThan(Date.now() - 10_000);
      expect((await request(app).get('/user').set('Cookie', `sessionid=${id}`).expect(200)).body).toEqual({ user: 'ann' });
      await backdate(storage, id, 59_000);
      expect((await request(app).get('/user').set('Cookie', `sessionid=${id}`).expect(200)).body).toEqual({ user: 'ann' });
      await backdate(storage, id, 60_001);
      const expired = await request(app).get('/user').set('Cookie', `sessionid=${id}`).expect(200);
      expect(expired.body).toEqual({ user: null });
      expect(cookieOf(expired.headers['set-cookie'])).toMatch(/Expires=Thu, 01 Jan 1970/);
      expect(await storage.getSession(id, 60_000)).toBeUndefined();
      const relogin = await request(app).get('/login').set('Cookie', `sessionid=${id}`).expect(200);
      expect(cookieValue(relogin.headers['set-cookie'])).not.toBe(id);
    });

    it('should keep the creation time through regenerate(), and start over with regenerate({ renew: true })', async () => {
      const storage = current();
      const { app } = lifecycleApp(storage, { absoluteTTL: 60_000 });
      const id = cookieValue((await request(app).get('/login').expect(200)).headers['set-cookie']) as string;
      await backdate(storage, id, 50_000);
      const old = (await storage.getSession(id, 60_000))?.get('$sw:created');
      const moved = cookieValue((await request(app).get('/login?u=bob').set('Cookie', `sessionid=${id}`).expect(200)).headers['set-cookie']) as string;
      expect(moved).not.toBe(id);
      expect((await storage.getSession(moved, 60_000))?.get('$sw:created')).toBe(old);
      const renewed = cookieValue((await request(app).get('/login?renew=1').set('Cookie', `sessionid=${moved}`).expect(200)).headers['set-cookie']) as string;
      expect(Number((await storage.getSession(renewed, 60_000))?.get('$sw:created'))).toBeGreaterThan(Number(old) + 40_000);
      expect((await request(app).get('/data').set('Cookie', `sessionid=${renewed}`).expect(200)).body).toEqual({ data: { user: 'ann' }, size: 1 });
    });

    it('should record the creation time of a session that increment() (compare-and-set) created', async () => {
      const storage = current();
      const { app } = lifecycleApp(storage, { absoluteTTL: 60_000 });
      const id = cookieValue((await request(app).get('/incr').expect(200)).headers['set-cookie']) as string;
      expect(Number((await storage.getSession(id, 60_000))?.get('$sw:created'))).toBeGreaterThan(Date.now() - 10_000);
      await backdate(storage, id, 60_001);
      expect((await request(app).get('/incr').set('Cookie', `sessionid=${id}`).expect(200)).body).toEqual({ n: 1 }); // a new session
    });

    it('should cap the storage TTL at the absolute lifetime: the storage itself drops the session', async () => {
      const storage = current();
      const { app } = lifecycleApp(storage, { ttl: 60_000, absoluteTTL: 1_000 });
      const id = cookieValue((await request(app).get('/login').expect(200)).headers['set-cookie']) as string;
      await sleep(2_300);
      expect(await storage.getSession(id, 60_000)).toBeUndefined();
    });
  });
});

describe('absoluteTTL and setTTL arguments', () => {
  it('should refuse an absoluteTTL that is not a positive number, naming the option', () => {
    expect(() => session(undefined, { absoluteTTL: 0 })).toThrow(/absoluteTTL must be a positive number/);
    expect(() => session(undefined, { absoluteTTL: Number.NaN })).toThrow(/absoluteTTL/);
  });
});
