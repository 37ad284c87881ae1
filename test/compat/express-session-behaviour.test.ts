/**
 * express-session's documented behaviours (its README's option descriptions and test suite) on
 * sessionware/express-session, over real HTTP, on Express 5, Express 4 and Connect; and the
 * concurrency guarantees through the property-bag API.
 */
import { createHmac } from 'node:crypto';
import type { RequestListener } from 'node:http';
import request from 'supertest';
import session, { type CompatSession, type ExpressSessionOptions } from 'sessionware/express-session';
import { MemoryStorage, SessionOptionsError, type Storage } from 'sessionware';
import { recordCalls } from '../helpers/app';
import { compatApp, COMPAT_FRAMEWORKS, json, send, type CompatApp, type CompatFramework, type CompatRequest, type Handler } from '../helpers/compat-app';
import { describeEachStorage } from '../helpers/storages';

const SECRET = 'keyboard cat';
const bag = (req: CompatRequest): CompatSession => req.session as CompatSession;

function setCookies(res: request.Response): string[] {
  return ([] as string[]).concat(res.headers['set-cookie'] ?? []).filter((c) => c.startsWith('connect.sid='));
}

function app(framework: CompatFramework, options: Partial<ExpressSessionOptions> & { store: Storage }, routes?: (a: CompatApp) => void): RequestListener {
  return appOn(compatApp(framework), options, routes);
}

function appOn(a: CompatApp, options: Partial<ExpressSessionOptions> & { store: Storage }, routes?: (a: CompatApp) => void): RequestListener {
  a.use(session({ secret: SECRET, ...options }) as unknown as Handler);
  a.get('/read', (req, res) => json(res, { ...bag(req) }));
  a.get('/write', (req, res) => {
    const s = bag(req);
    s['views'] = (Number(s['views']) || 0) + 1;
    json(res, { views: s['views'] });
  });
  routes?.(a);
  return a.handler();
}

describe('options', () => {
  it('refuses an unknown option and a missing secret', () => {
    expect(() => session({ secret: SECRET, resave: false, saveUninitialised: true } as unknown as ExpressSessionOptions)).toThrow(SessionOptionsError);
    expect(() => session({} as ExpressSessionOptions)).toThrow(/secret option is required/);
    expect(() => session({ secret: [] })).toThrow(SessionOptionsError);
    expect(() => session({ secret: SECRET, unset: 'drop' as 'keep' })).toThrow(SessionOptionsError);
    expect(() => session({ secret: SECRET, genid: 'x' as unknown as () => string })).toThrow(SessionOptionsError);
  });

  it('accepts resave as a no-op', () => {
    expect(() => session({ secret: SECRET, resave: true, store: new MemoryStorage() })).not.toThrow();
  });
});

describe.each(COMPAT_FRAMEWORKS)('on %s', (framework) => {
  describe('req.session', () => {
    it('is a property bag whose methods do not enumerate, and which persists across requests', async () => {
      const a = app(framework, { store: new MemoryStorage() }, (x) => x.get('/keys', (req, res) => { json(res, { keys: Object.keys(bag(req)), id: bag(req).id === req.sessionID }); }));
      const agent = request.agent(a);
      expect((await agent.get('/write')).body).toEqual({ views: 1 });
      expect((await agent.get('/write')).body).toEqual({ views: 2 });
      expect((await agent.get('/keys')).body).toEqual({ keys: ['views'], id: true });
    });

    it('reports a non-JSON value through next(err), naming the property', async () => {
      const a = app(framework, { store: new MemoryStorage() }, (x) => x.get('/bad', (req, res) => { bag(req)['when'] = new Map(); send(res, 'ok'); }));
      const res = await request(a).get('/bad').expect(500);
      expect(res.text).toMatch(/"when"/);
      expect(setCookies(res)).toEqual([]);
    });

    it('hands a storage failure while loading to next(err), and the response still ends', async () => {
      const store = new MemoryStorage();
      const a = app(framework, { store });
      const jar = setCookies(await request(a).get('/write'))[0]?.split(';')[0] as string;
      const { storage: failing } = recordCalls(store, { fail: { getSession: new Error('storage down') } });
      const broken = app(framework, { store: failing });
      const res = await request(broken).get('/read').set('Cookie', jar).expect(500);
      expect(res.text).toMatch(/storage down/);
      expect(setCookies(res)).toEqual([]);
      expect((await request(a).get('/read').set('Cookie', jar)).body).toEqual({ views: 1 }); // nothing was lost
    });

    it('reload() picks up a concurrent change and fails with "failed to load session" when it is gone', async () => {
      const store = new MemoryStorage();
      const a = app(framework, { store }, (x) => {
        x.get('/reload', (req, res) => { bag(req).reload((err) => json(res, { err: err ? (err as Error).message : null, views: bag(req)?.['views'] ?? null })); });
        x.get('/destroy', (req, res) => { bag(req).destroy(() => send(res, 'bye')); });
      });
      const agent = request.agent(a);
      const jar = setCookies(await agent.get('/write'))[0]?.split(';')[0] as string;
      await request(a).get('/write').set('Cookie', jar); // a concurrent request changes the session
      expect((await agent.get('/reload')).body).toEqual({ err: null, views: 2 });
      await agent.get('/destroy');
      const gone = await request(a).get('/reload').set('Cookie', jar);
      expect(gone.body.err).toBe('failed to load session');
    });
  });

  describe('saveUninitialized', () => {
    it('true (the default): a new session the handler looked at is stored and gets a cookie', async () => {
      const { storage, calls } = recordCalls(new MemoryStorage());
      const res = await request(app(framework, { store: storage })).get('/read').expect(200);
      expect(setCookies(res)).toHaveLength(1);
      expect(calls.some((c) => c.method === 'setSession' || c.method === 'setMap')).toBe(true);
    });

    it('false: an untouched new session is neither stored nor given a cookie; a modified one is', async () => {
      const { storage, calls } = recordCalls(new MemoryStorage());
      const a = app(framework, { store: storage, saveUninitialized: false });
      const res = await request(a).get('/read').expect(200);
      expect(setCookies(res)).toEqual([]);
      expect(calls).toEqual([]);
      expect(setCookies(await request(a).get('/write'))).toHaveLength(1);
    });

    it('a request that never touches req.session costs no storage call', async () => {
      const { storage, calls } = recordCalls(new MemoryStorage());
      const a = app(framework, { store: storage }, (x) => x.get('/plain', (_req, res) => { send(res, 'x'); }));
      const res = await request(a).get('/plain').expect(200);
      expect(setCookies(res)).toEqual([]);
      expect(calls).toEqual([]);
    });
  });

  describe('cookie', () => {
    it('maxAge gives Expires = now + maxAge; without it a browser-session cookie is sent once', async () => {
      const withAge = await request(app(framework, { store: new MemoryStorage(), cookie: { maxAge: 5000 } })).get('/write');
      const [c] = setCookies(withAge);
      const expires = Date.parse(/Expires=([^;]+)/.exec(c as string)?.[1] as string);
      expect(Math.abs(expires - Date.parse(withAge.headers['date'] as string) - 5000)).toBeLessThanOrEqual(1000);
      const agent = request.agent(app(framework, { store: new MemoryStorage() }));
      const first = setCookies(await agent.get('/write'));
      expect(first[0]).not.toMatch(/Expires/);
      expect(setCookies(await agent.get('/write'))).toEqual([]);
    });

    it('expires sets a lifetime; httpOnly, path, sameSite, priority, partitioned are sent', async () => {
      const a = app(framework, { store: new MemoryStorage(), cookie: { expires: new Date(Date.now() + 60_000), sameSite: 'none', secure: true, priority: 'high', partitioned: true, httpOnly: false } });
      const [c] = setCookies(await request(a).get('/write'));
      expect(c).toMatch(/Expires=/);
      expect(c).toMatch(/SameSite=None/);
      expect(c).toMatch(/Secure/);
      expect(c).toMatch(/Priority=High/);
      expect(c).toMatch(/Partitioned/);
      expect(c).not.toMatch(/HttpOnly/);
    });

    it('req.session.cookie.maxAge set per session ("remember me") is kept: storage TTL and cookie, sent again when the session changes', async () => {
      const store = new MemoryStorage();
      const ttls: number[] = [];
      const setSession = store.setSession.bind(store);
      jest.spyOn(store, 'setSession').mockImplementation((id, changes, ttl, options) => {
        ttls.push(ttl);
        return setSession(id, changes, ttl, options);
      });
      const a = app(framework, { store }, (x) => {
        x.get('/remember', (req, res) => {
          bag(req)['user'] = 'alice';
          bag(req).cookie.maxAge = 30 * 86_400_000;
          send(res, 'ok');
        });
        x.get('/age', (req, res) => json(res, { maxAge: bag(req).cookie.maxAge }));
      });
      const agent = request.agent(a);
      const [set] = setCookies(await agent.get('/remember'));
      expect(set).toMatch(/Max-Age=2592000/);
      expect(ttls.at(-1)).toBe(30 * 86_400_000); // the storage keeps it as long as the cookie lives
      expect((await agent.get('/age')).body).toEqual({ maxAge: 30 * 86_400_000 });
      expect(setCookies(await agent.get('/read'))).toEqual([]); // rolling: false, unmodified: not sent again
      const [again] = setCookies(await agent.get('/write'));
      expect(again).toMatch(/Max-Age=2592000/); // modified: the persistent cookie is renewed
      expect((await agent.get('/read')).body).toEqual({ user: 'alice', views: 1 });
    });

    it('cookie.expires = false (or maxAge = null) per session gives a browser-session cookie despite a configured maxAge', async () => {
      const a = app(framework, { store: new MemoryStorage(), cookie: { maxAge: 60_000 } }, (x) => {
        x.get('/forget', (req, res) => {
          bag(req)['user'] = 'bob';
          (bag(req).cookie as unknown as { expires: boolean }).expires = false;
          send(res, 'ok');
        });
        x.get('/age', (req, res) => json(res, { maxAge: bag(req).cookie.maxAge, expires: bag(req).cookie.expires }));
      });
      const agent = request.agent(a);
      const [first] = setCookies(await agent.get('/write'));
      expect(first).toMatch(/Max-Age=60/);
      const [browser] = setCookies(await agent.get('/forget'));
      expect(browser).toBeDefined();
      expect(browser).not.toMatch(/Expires|Max-Age/);
      expect((await agent.get('/age')).body).toEqual({ maxAge: null, expires: null });
      expect(setCookies(await agent.get('/write'))).toEqual([]); // a browser-session cookie is not re-sent (rolling: false)
    });
  });

  describe('rolling and when the cookie is sent (express-session\'s shouldSetCookie)', () => {
    const sends = async (a: RequestListener, paths: string[]): Promise<number[]> => {
      const agent = request.agent(a);
      const counts: number[] = [];
      for (const path of paths) counts.push(setCookies(await agent.get(path)).length);
      return counts;
    };

    it('rolling: false, persistent cookie: a known id is sent again only when the session was modified', async () => {
      const a = app(framework, { store: new MemoryStorage(), cookie: { maxAge: 60_000 } });
      expect(await sends(a, ['/write', '/read', '/read', '/write', '/read'])).toEqual([1, 0, 0, 1, 0]);
    });

    it('rolling: false, browser-session cookie: a known id is never sent again', async () => {
      expect(await sends(app(framework, { store: new MemoryStorage() }), ['/write', '/write', '/read'])).toEqual([1, 0, 0]);
    });

    it('rolling: true: a known id is sent on every response, persistent or not', async () => {
      expect(await sends(app(framework, { store: new MemoryStorage(), rolling: true, cookie: { maxAge: 60_000 } }), ['/write', '/read', '/read'])).toEqual([1, 1, 1]);
      expect(await sends(app(framework, { store: new MemoryStorage(), rolling: true }), ['/write', '/read'])).toEqual([1, 1]);
    });

    it('a new id: sent when saveUninitialized or modified; a regenerated id is always sent', async () => {
      const routes = (x: CompatApp): void => {
        x.get('/regenerate', (req, res, next) => bag(req).regenerate((err) => (err ? next(err) : send(res, 'ok'))));
      };
      expect(await sends(app(framework, { store: new MemoryStorage(), saveUninitialized: false, cookie: { maxAge: 60_000 } }, routes), ['/read', '/write', '/regenerate', '/read'])).toEqual([0, 1, 1, 0]);
      expect(await sends(app(framework, { store: new MemoryStorage(), saveUninitialized: true, cookie: { maxAge: 60_000 } }, routes), ['/read', '/read'])).toEqual([1, 0]);
    });
  });

  describe('genid, secret', () => {
    it('genid(req) makes the id, signed exactly as express-session signs it', async () => {
      let seen: unknown;
      const a = app(framework, { store: new MemoryStorage(), genid: (req) => { seen = req.url; return 'apple-pie-1234'; } });
      const [c] = setCookies(await request(a).get('/write'));
      const sig = createHmac('sha256', SECRET).update('apple-pie-1234').digest('base64').replace(/=+$/, '');
      expect(c?.split(';')[0]).toBe(`connect.sid=s:apple-pie-1234.${sig}`);
      expect(seen).toBe('/write');
    });

    it('rotates secrets: the first signs, all verify', async () => {
      const store = new MemoryStorage();
      const old = app(framework, { store, secret: 'old secret' });
      const jar = setCookies(await request(old).get('/write'))[0]?.split(';')[0] as string;
      const rotated = app(framework, { store, secret: ['new secret', 'old secret'] });
      expect((await request(rotated).get('/read').set('Cookie', jar)).body).toEqual({ views: 1 });
      const onlyNew = app(framework, { store, secret: 'new secret' });
      expect((await request(onlyNew).get('/read').set('Cookie', jar)).body).toEqual({});
    });
  });

  describe('unset', () => {
    const routes = (x: CompatApp): void => {
      x.get('/unset', (req, res) => { req.session = null; send(res, 'ok'); });
    };
    it("'destroy': req.session = null deletes the session", async () => {
      const agent = request.agent(app(framework, { store: new MemoryStorage(), unset: 'destroy' }, routes));
      await agent.get('/write');
      await agent.get('/unset');
      expect((await agent.get('/read')).body).toEqual({});
    });
    it("'keep' (the default): the stored session stays", async () => {
      const agent = request.agent(app(framework, { store: new MemoryStorage() }, routes));
      await agent.get('/write');
      await agent.get('/unset');
      expect((await agent.get('/read')).body).toEqual({ views: 1 });
    });
  });

  describe('proxy', () => {
    it('true trusts X-Forwarded-Proto for secure: "auto"; false ignores it; unset follows trust proxy', async () => {
      const secureOf = async (a: RequestListener, proto?: string): Promise<boolean> => {
        const r = request(a).get('/write');
        if (proto) r.set('X-Forwarded-Proto', proto);
        return /;\s*Secure/i.test(setCookies(await r)[0] ?? '');
      };
      const trusting = app(framework, { store: new MemoryStorage(), proxy: true, cookie: { secure: 'auto' } });
      expect(await secureOf(trusting, 'https')).toBe(true);
      expect(await secureOf(trusting, 'https, http')).toBe(true);
      expect(await secureOf(trusting, 'http')).toBe(false);
      expect(await secureOf(app(framework, { store: new MemoryStorage(), proxy: false, cookie: { secure: 'auto' } }), 'https')).toBe(false);
      expect(await secureOf(app(framework, { store: new MemoryStorage(), cookie: { secure: 'auto' } }), 'https')).toBe(false);
      const trustingFramework = compatApp(framework);
      // Express's `trust proxy` makes req.secure follow X-Forwarded-Proto; Connect has no req.secure: only TLS counts.
      const trusted = trustingFramework.trustProxy(true);
      expect(await secureOf(appOn(trustingFramework, { store: new MemoryStorage(), cookie: { secure: 'auto' } }), 'https')).toBe(trusted);
      expect(trusted).toBe(framework !== 'Connect');
    });
  });
});

describeEachStorage((name, current) => {
  it(`keeps both of two overlapping requests' changes to different properties (${name})`, async () => {
    let releaseA!: () => void;
    const gate = new Promise<void>((r) => (releaseA = r));
    const a = app('Express 5', { store: current() }, (x) => {
      x.get('/slow-a', (req, res) => { void gate.then(() => { bag(req)['a'] = 'A'; send(res, 'a'); }); });
      x.get('/b', (req, res) => { bag(req)['b'] = 'B'; send(res, 'b'); });
    });
    const agent = request.agent(a);
    await agent.get('/write');
    const slow = agent.get('/slow-a').then((r) => r);
    await new Promise((r) => setTimeout(r, 50));
    await agent.get('/b').expect(200);
    releaseA();
    await slow;
    expect((await agent.get('/read')).body).toEqual({ views: 1, a: 'A', b: 'B' });
  });

  it(`a logout racing a slow writer stays a logout (${name})`, async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const store = current();
    const a = app('Express 5', { store }, (x) => {
      x.get('/login', (req, res) => { bag(req)['user'] = 'alice'; send(res, 'in'); });
      x.get('/slow', (req, res) => { void gate.then(() => { bag(req)['views'] = 99; send(res, 'slow'); }); });
      x.get('/logout', (req, res) => { bag(req).destroy(() => send(res, 'out')); });
    });
    const agent = request.agent(a);
    const jar = setCookies(await agent.get('/login'))[0]?.split(';')[0] as string;
    const slow = request(a).get('/slow').set('Cookie', jar).then((r) => r);
    await new Promise((r) => setTimeout(r, 50));
    await request(a).get('/logout').set('Cookie', jar).expect(200);
    release();
    await slow;
    expect((await request(a).get('/read').set('Cookie', jar)).body).toEqual({});
  });
});
