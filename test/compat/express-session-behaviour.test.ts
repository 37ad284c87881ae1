/**
 * express-session's documented behaviours (its README's option descriptions and test suite) on
 * sessionware/express-session, over real HTTP; and the concurrency guarantees through the
 * property-bag API.
 */
import { createHmac } from 'node:crypto';
import express from 'express';
import request from 'supertest';
import { session, type CompatSession, type ExpressSessionOptions } from 'sessionware/express-session';
import { MemoryStorage, SessionOptionsError, type Storage } from 'sessionware';
import { recordCalls } from '../helpers/app';
import { describeEachStorage } from '../helpers/storages';

const SECRET = 'keyboard cat';
type Req = express.Request & { session: CompatSession | null | undefined; sessionID: string };
const bag = (req: express.Request): CompatSession => (req as Req).session as CompatSession;

function setCookies(res: request.Response): string[] {
  return ([] as string[]).concat(res.headers['set-cookie'] ?? []).filter((c) => c.startsWith('connect.sid='));
}

function app(options: Partial<ExpressSessionOptions> & { store: Storage }, routes?: (a: express.Express) => void): express.Express {
  const a = express();
  a.use(session({ secret: SECRET, ...options }));
  a.get('/read', (req, res) => { res.json({ ...bag(req) }); });
  a.get('/write', (req, res) => {
    const s = bag(req);
    s['views'] = (Number(s['views']) || 0) + 1;
    res.json({ views: s['views'] });
  });
  routes?.(a);
  a.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => { res.status(500).send(err.message); });
  return a;
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

describe('req.session', () => {
  it('is a property bag whose methods do not enumerate, and which persists across requests', async () => {
    const a = app({ store: new MemoryStorage() }, (x) => x.get('/keys', (req, res) => { res.json({ keys: Object.keys(bag(req)), id: bag(req).id === (req as Req).sessionID }); }));
    const agent = request.agent(a);
    expect((await agent.get('/write')).body).toEqual({ views: 1 });
    expect((await agent.get('/write')).body).toEqual({ views: 2 });
    expect((await agent.get('/keys')).body).toEqual({ keys: ['views'], id: true });
  });

  it('reports a non-JSON value through next(err), naming the property', async () => {
    const a = app({ store: new MemoryStorage() }, (x) => x.get('/bad', (req, res) => { bag(req)['when'] = new Map(); res.send('ok'); }));
    const res = await request(a).get('/bad').expect(500);
    expect(res.text).toMatch(/"when"/);
    expect(setCookies(res)).toEqual([]);
  });

  it('reload() picks up a concurrent change and fails with "failed to load session" when it is gone', async () => {
    const store = new MemoryStorage();
    const a = app({ store }, (x) => {
      x.get('/reload', (req, res) => { bag(req).reload((err) => res.json({ err: err ? (err as Error).message : null, views: bag(req)?.['views'] ?? null })); });
      x.get('/destroy', (req, res) => { bag(req).destroy(() => res.send('bye')); });
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
    const res = await request(app({ store: storage })).get('/read').expect(200);
    expect(setCookies(res)).toHaveLength(1);
    expect(calls.some((c) => c.method === 'setSession' || c.method === 'setMap')).toBe(true);
  });

  it('false: an untouched new session is neither stored nor given a cookie; a modified one is', async () => {
    const { storage, calls } = recordCalls(new MemoryStorage());
    const a = app({ store: storage, saveUninitialized: false });
    const res = await request(a).get('/read').expect(200);
    expect(setCookies(res)).toEqual([]);
    expect(calls).toEqual([]);
    expect(setCookies(await request(a).get('/write'))).toHaveLength(1);
  });

  it('a request that never touches req.session costs no storage call', async () => {
    const { storage, calls } = recordCalls(new MemoryStorage());
    const a = app({ store: storage }, (x) => x.get('/plain', (_req, res) => { res.send('x'); }));
    const res = await request(a).get('/plain').expect(200);
    expect(setCookies(res)).toEqual([]);
    expect(calls).toEqual([]);
  });
});

describe('cookie', () => {
  it('maxAge gives Expires = now + maxAge; without it a browser-session cookie is sent once', async () => {
    const withAge = await request(app({ store: new MemoryStorage(), cookie: { maxAge: 5000 } })).get('/write');
    const [c] = setCookies(withAge);
    const expires = Date.parse(/Expires=([^;]+)/.exec(c as string)?.[1] as string);
    expect(Math.abs(expires - Date.parse(withAge.headers['date'] as string) - 5000)).toBeLessThanOrEqual(1000);
    const agent = request.agent(app({ store: new MemoryStorage() }));
    const first = setCookies(await agent.get('/write'));
    expect(first[0]).not.toMatch(/Expires/);
    expect(setCookies(await agent.get('/write'))).toEqual([]);
  });

  it('expires sets a lifetime; httpOnly, path, sameSite, priority, partitioned are sent', async () => {
    const a = app({ store: new MemoryStorage(), cookie: { expires: new Date(Date.now() + 60_000), sameSite: 'none', secure: true, priority: 'high', partitioned: true, httpOnly: false } });
    const [c] = setCookies(await request(a).get('/write'));
    expect(c).toMatch(/Expires=/);
    expect(c).toMatch(/SameSite=None/);
    expect(c).toMatch(/Secure/);
    expect(c).toMatch(/Priority=High/);
    expect(c).toMatch(/Partitioned/);
    expect(c).not.toMatch(/HttpOnly/);
  });

  it('req.session.cookie.maxAge set per session ("remember me") survives later requests', async () => {
    const a = app({ store: new MemoryStorage() }, (x) => x.get('/remember', (req, res) => {
      bag(req)['user'] = 'alice';
      bag(req).cookie.maxAge = 30 * 86_400_000;
      res.send('ok');
    }));
    const agent = request.agent(a);
    const [set] = setCookies(await agent.get('/remember'));
    expect(set).toMatch(/Max-Age=2592000/);
    const [again] = setCookies(await agent.get('/read'));
    expect(again).toMatch(/Max-Age=2592000/);
    expect((await agent.get('/read')).body).toEqual({ user: 'alice' });
  });

  it('rolling with maxAge re-sends the cookie on every response', async () => {
    const agent = request.agent(app({ store: new MemoryStorage(), rolling: true, cookie: { maxAge: 60_000 } }));
    await agent.get('/write');
    expect(setCookies(await agent.get('/read'))).toHaveLength(1);
  });
});

describe('genid, secret', () => {
  it('genid(req) makes the id, signed exactly as express-session signs it', async () => {
    let seen: unknown;
    const a = app({ store: new MemoryStorage(), genid: (req) => { seen = req.url; return 'apple-pie-1234'; } });
    const [c] = setCookies(await request(a).get('/write'));
    const sig = createHmac('sha256', SECRET).update('apple-pie-1234').digest('base64').replace(/=+$/, '');
    expect(c?.split(';')[0]).toBe(`connect.sid=s:apple-pie-1234.${sig}`);
    expect(seen).toBe('/write');
  });

  it('rotates secrets: the first signs, all verify', async () => {
    const store = new MemoryStorage();
    const old = app({ store, secret: 'old secret' });
    const jar = setCookies(await request(old).get('/write'))[0]?.split(';')[0] as string;
    const rotated = app({ store, secret: ['new secret', 'old secret'] });
    expect((await request(rotated).get('/read').set('Cookie', jar)).body).toEqual({ views: 1 });
    const onlyNew = app({ store, secret: 'new secret' });
    expect((await request(onlyNew).get('/read').set('Cookie', jar)).body).toEqual({});
  });
});

describe('unset', () => {
  const routes = (x: express.Express): void => {
    x.get('/unset', (req, res) => { (req as unknown as { session: unknown }).session = null; res.send('ok'); });
  };
  it("'destroy': req.session = null deletes the session", async () => {
    const agent = request.agent(app({ store: new MemoryStorage(), unset: 'destroy' }, routes));
    await agent.get('/write');
    await agent.get('/unset');
    expect((await agent.get('/read')).body).toEqual({});
  });
  it("'keep' (the default): the stored session stays", async () => {
    const agent = request.agent(app({ store: new MemoryStorage() }, routes));
    await agent.get('/write');
    await agent.get('/unset');
    expect((await agent.get('/read')).body).toEqual({ views: 1 });
  });
});

describe('proxy', () => {
  it('true trusts X-Forwarded-Proto for secure: "auto"; false ignores it; unset follows trust proxy', async () => {
    const secureOf = async (a: express.Express, proto?: string): Promise<boolean> => {
      const r = request(a).get('/write');
      if (proto) r.set('X-Forwarded-Proto', proto);
      return /;\s*Secure/i.test(setCookies(await r)[0] ?? '');
    };
    const trusting = app({ store: new MemoryStorage(), proxy: true, cookie: { secure: 'auto' } });
    expect(await secureOf(trusting, 'https')).toBe(true);
    expect(await secureOf(trusting, 'https, http')).toBe(true);
    expect(await secureOf(trusting, 'http')).toBe(false);
    expect(await secureOf(app({ store: new MemoryStorage(), proxy: false, cookie: { secure: 'auto' } }), 'https')).toBe(false);
    const unset = app({ store: new MemoryStorage(), cookie: { secure: 'auto' } });
    expect(await secureOf(unset, 'https')).toBe(false);
    unset.set('trust proxy', true);
    expect(await secureOf(unset, 'https')).toBe(true);
  });
});

describeEachStorage((name, current) => {
  it(`keeps both of two overlapping requests' changes to different properties (${name})`, async () => {
    let releaseA!: () => void;
    const gate = new Promise<void>((r) => (releaseA = r));
    const a = app({ store: current() }, (x) => {
      x.get('/slow-a', (req, res) => { void gate.then(() => { bag(req)['a'] = 'A'; res.send('a'); }); });
      x.get('/b', (req, res) => { bag(req)['b'] = 'B'; res.send('b'); });
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
    const a = app({ store }, (x) => {
      x.get('/login', (req, res) => { bag(req)['user'] = 'alice'; res.send('in'); });
      x.get('/slow', (req, res) => { void gate.then(() => { bag(req)['views'] = 99; res.send('slow'); }); });
      x.get('/logout', (req, res) => { bag(req).destroy(() => res.send('out')); });
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
