/**
 * CookieStorage over real HTTP (Express 5 and 4): the whole session travels sealed in the cookie.
 */
import type express5 from 'express';
import request from 'supertest';
import { CookieManager, CookieStorage, MemoryStorage, session, type SessionOptions, type Storage } from 'sessionware';
import { cookieOf, cookieValue, FRAMEWORKS, wrap } from '../helpers/app';
import { TestClock } from '../helpers/clock';

const A = 'a'.repeat(32) + '-cookie-secret-one';
const B = 'b'.repeat(32) + '-cookie-secret-two';
const HOUR = 3_600_000;

function build(express: typeof express5, storage: CookieStorage, options: SessionOptions = {}): express5.Express {
  const app = express();
  app.use(session(storage, options));
  app.get('/untouched', (_req, res) => {
    res.send('ok');
  });
  app.get('/get', wrap(async (req, res) => {
    res.json({ value: (await req.session.get(String(req.query['k']))) ?? null });
  }));
  app.get('/set', wrap(async (req, res) => {
    await req.session.set(String(req.query['k']), req.query['n'] === undefined ? req.query['v'] : 'x'.repeat(Number(req.query['n'])));
    res.send('ok');
  }));
  app.get('/set-then-read', wrap(async (req, res) => {
    await req.session.set('a', 1);
    res.json(await req.session.data());
  }));
  app.get('/data', wrap(async (req, res) => {
    res.json(await req.session.data());
  }));
  app.get('/id', wrap(async (req, res) => {
    res.send(await req.session.id());
  }));
  app.get('/login', wrap(async (req, res) => {
    await req.session.regenerate({ keep: ['cart'] });
    await req.session.set('user', 7);
    res.send(await req.session.id());
  }));
  app.get('/logout', wrap(async (req, res) => {
    await req.session.removeAll();
    res.send('bye');
  }));
  app.use((err: Error & { code?: string; key?: string }, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
    res.status(500).json({ error: err.name, code: err.code ?? null, key: err.key ?? null, message: err.message });
  });
  return app;
}

/** The `name=value` of the session cookie a response set. */
function jar(res: request.Response, name = 'sessionid'): string {
  const value = cookieValue(res.headers['set-cookie'], name);
  if (value === undefined) throw new Error('no session cookie in the response');
  return `${name}=${value}`;
}

describe.each(Object.entries(FRAMEWORKS))('CookieStorage over HTTP (%s)', (_name, express) => {
  let clock: TestClock;
  let storage: CookieStorage;
  let app: express5.Express;

  beforeEach(() => {
    clock = new TestClock();
    storage = new CookieStorage({ secrets: A, now: clock.now });
    app = build(express, storage, { ttl: HOUR });
  });

  it('should send nothing for an untouched request, nor for a read of no session (laziness)', async () => {
    const untouched = await request(app).get('/untouched').expect(200);
    expect(untouched.headers['set-cookie']).toBeUndefined();
    expect(untouched.headers['vary']).toBeUndefined();
    const read = await request(app).get('/get?k=a').expect(200, { value: null });
    expect(read.headers['set-cookie']).toBeUndefined();
    const cookie = jar(await request(app).get('/set?k=a&v=1').expect(200));
    const touchedNot = await request(app).get('/untouched').set('Cookie', cookie).expect(200);
    expect(touchedNot.headers['set-cookie']).toBeUndefined();
  });

  it('should seal the session into the cookie with the id cookie attributes, and read it back (read-your-writes)', async () => {
    const res = await request(app).get('/set?k=a&v=hello').expect(200);
    const line = cookieOf(res.headers['set-cookie']) as string;
    expect(line).toMatch(/^sessionid=v1\.[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Lax$/);
    expect(res.headers['set-cookie']).toHaveLength(1); // no id cookie beside it
    const cookie = jar(res);
    await request(app).get('/get?k=a').set('Cookie', cookie).expect(200, { value: 'hello' });
    const read = await request(app).get('/get?k=a').set('Cookie', cookie).expect(200);
    expect(read.headers['set-cookie']).toBeUndefined(); // clean and fresh: not re-sealed
    const two = jar(await request(app).get('/set?k=b&v=2').set('Cookie', cookie).expect(200));
    await request(app).get('/data').set('Cookie', two).expect(200, { a: 'hello', b: '2' });
    await request(app).get('/set-then-read').expect(200, { a: 1 });
  });

  it('should keep the session id across requests and give a new one on regenerate', async () => {
    const first = await request(app).get('/set?k=cart&v=book').expect(200);
    const cookie = jar(first);
    const id = (await request(app).get('/id').set('Cookie', cookie).expect(200)).text;
    expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const login = await request(app).get('/login').set('Cookie', cookie).expect(200);
    expect(login.text).not.toBe(id);
    const after = jar(login);
    await request(app).get('/data').set('Cookie', after).expect(200, { cart: 'book', user: 7 });
    expect((await request(app).get('/id').set('Cookie', after)).text).toBe(login.text);
    // without revocation the old cookie still opens: said plainly in the README
    await request(app).get('/get?k=cart').set('Cookie', cookie).expect(200, { value: 'book' });
  });

  it('should refuse tampered, truncated, renamed, foreign-key cookies as no session, and clear them', async () => {
    const cookie = jar(await request(app).get('/set?k=a&v=secret').expect(200));
    const value = cookie.slice('sessionid='.length);
    const flip = (i: number) => value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1);
    const forged = [flip(3), flip(10), flip(Math.floor(value.length / 2)), flip(value.length - 2), value.slice(0, -5), value.slice(0, 20), `${value}AAAA`, 'v2.' + value.slice(3)];
    for (const bad of forged) {
      const res = await request(app).get('/get?k=a').set('Cookie', `sessionid=${bad}`).expect(200, { value: null });
      expect(cookieOf(res.headers['set-cookie'])).toMatch(/^sessionid=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax$/);
    }
    // a seal made for another cookie name does not open under this one
    const admin = build(express, storage, { name: 'admin', ttl: HOUR });
    await request(admin).get('/get?k=a').set('Cookie', `admin=${value}`).expect(200, { value: null });
    // a removed key: the old cookie is no session; an older key still in the list opens it
    const rotated = build(express, new CookieStorage({ secrets: [B, A], now: clock.now }), { ttl: HOUR });
    await request(rotated).get('/get?k=a').set('Cookie', cookie).expect(200, { value: 'secret' });
    const removed = build(express, new CookieStorage({ secrets: B, now: clock.now }), { ttl: HOUR });
    await request(removed).get('/get?k=a').set('Cookie', cookie).expect(200, { value: null });
  });

  it('should re-seal a cookie opened with an older key, with the new key (rotation)', async () => {
    const cookie = jar(await request(app).get('/set?k=a&v=1').expect(200));
    const rotatedStorage = new CookieStorage({ secrets: [B, A], now: clock.now });
    const rotated = build(express, rotatedStorage, { ttl: HOUR });
    const res = await request(rotated).get('/get?k=a').set('Cookie', cookie).expect(200, { value: '1' });
    const resealed = jar(res);
    expect(resealed).not.toBe(cookie);
    const onlyNew = build(express, new CookieStorage({ secrets: B, now: clock.now }), { ttl: HOUR });
    await request(onlyNew).get('/get?k=a').set('Cookie', resealed).expect(200, { value: '1' });
    const again = await request(rotated).get('/get?k=a').set('Cookie', resealed).expect(200);
    expect(again.headers['set-cookie']).toBeUndefined();
  });

  it('should slide the idle expiry only after half the TTL, and end at the idle and absolute expiry', async () => {
    const cookie = jar(await request(app).get('/set?k=a&v=1').expect(200));
    clock.advance(HOUR / 2 - 1000);
    expect((await request(app).get('/get?k=a').set('Cookie', cookie).expect(200, { value: '1' })).headers['set-cookie']).toBeUndefined();
    clock.advance(2000);
    const slid = jar(await request(app).get('/get?k=a').set('Cookie', cookie).expect(200, { value: '1' }));
    clock.advance(HOUR / 2 + 1000); // the first cookie's idle expiry has passed, the re-sealed one's not
    await request(app).get('/get?k=a').set('Cookie', cookie).expect(200, { value: null });
    await request(app).get('/get?k=a').set('Cookie', slid).expect(200, { value: '1' });
    clock.advance(HOUR);
    await request(app).get('/get?k=a').set('Cookie', slid).expect(200, { value: null });

    const short = new CookieStorage({ secrets: A, now: clock.now, absoluteTTL: 2 * HOUR });
    const shortApp = build(express, short, { ttl: HOUR });
    let c = jar(await request(shortApp).get('/set?k=a&v=1').expect(200));
    for (let i = 0; i < 3; i++) {
      clock.advance(40 * 60 * 1000);
      const res = await request(shortApp).get('/set?k=b&v=2').set('Cookie', c).expect(200);
      if (i < 2) c = jar(res);
    }
    await request(shortApp).get('/get?k=a').set('Cookie', c).expect(200, { value: null }); // 2 h after it was created
  });

  it('should reject a value whose cookie would pass 4096 bytes with a SessionValueError naming the key, before the response', async () => {
    const ok = await request(app).get('/set?k=blob&n=2800').expect(200);
    const line = cookieOf(ok.headers['set-cookie']) as string;
    expect(line.length).toBeLessThanOrEqual(4096);
    const big = await request(app).get('/set?k=blob&n=3100').expect(500);
    expect(big.body).toMatchObject({ error: 'SessionValueError', code: 'ERR_SESSION_VALUE', key: 'blob' });
    expect(big.headers['set-cookie']).toBeUndefined();
    // the limit is exact: find the largest value that fits and check the line is within 4096
    let lo = 2800;
    let hi = 3100;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      const res = await request(app).get(`/set?k=blob&n=${mid}`);
      if (res.status === 200) lo = mid;
      else hi = mid;
    }
    const fit = await request(app).get(`/set?k=blob&n=${lo}`).expect(200);
    // within a base64 quantum, less the '; Secure' counted for HTTPS
    expect((cookieOf(fit.headers['set-cookie']) as string).length).toBeGreaterThan(4096 - '; Secure'.length - 4);
    expect((cookieOf(fit.headers['set-cookie']) as string).length).toBeLessThanOrEqual(4096);
    const longAttrs = build(express, storage, { ttl: HOUR, cookie: { domain: 'example.com', maxAge: HOUR, sameSite: 'none', secure: true } });
    const withAttrs = await request(longAttrs).get(`/set?k=blob&n=${lo}`);
    expect(withAttrs.status).toBe(500); // the attributes count too
  });

  it('should clear the cookie on logout; without revocation a replayed copy still opens', async () => {
    const cookie = jar(await request(app).get('/set?k=user&v=7').expect(200));
    const out = await request(app).get('/logout').set('Cookie', cookie).expect(200);
    expect(cookieOf(out.headers['set-cookie'])).toMatch(/^sessionid=; Max-Age=0;/);
    await request(app).get('/get?k=user').set('Cookie', cookie).expect(200, { value: '7' });
  });

  it('should refuse a replayed cookie after logout and after regenerate with a revocation storage', async () => {
    const revocation = new MemoryStorage({ now: clock.now });
    const revoking = build(express, new CookieStorage({ secrets: A, now: clock.now, revocation }), { ttl: HOUR });
    const cookie = jar(await request(revoking).get('/set?k=user&v=7').expect(200));
    await request(revoking).get('/get?k=user').set('Cookie', cookie).expect(200, { value: '7' });
    await request(revoking).get('/logout').set('Cookie', cookie).expect(200);
    const replay = await request(revoking).get('/get?k=user').set('Cookie', cookie).expect(200, { value: null });
    expect(cookieOf(replay.headers['set-cookie'])).toMatch(/^sessionid=; Max-Age=0;/);

    const before = jar(await request(revoking).get('/set?k=cart&v=book').expect(200));
    const login = await request(revoking).get('/login').set('Cookie', before).expect(200);
    await request(revoking).get('/get?k=cart').set('Cookie', before).expect(200, { value: null });
    await request(revoking).get('/data').set('Cookie', jar(login)).expect(200, { cart: 'book', user: 7 });
    await revocation.close();
  });

  it('should fail the request, not let a revoked session through, when the revocation storage fails', async () => {
    const failing: Storage = { ...new MemoryStorage(), getSession: () => Promise.reject(new Error('down')), setSession: async () => true, updateTTL: async () => {}, removeAll: async () => false, moveSession: async () => undefined, close: async () => {} };
    const sealedElsewhere = jar(await request(app).get('/set?k=a&v=1').expect(200));
    const broken = build(express, new CookieStorage({ secrets: A, now: clock.now, revocation: failing }), { ttl: HOUR });
    const res = await request(broken).get('/get?k=a').set('Cookie', sealedElsewhere).expect(500);
    expect(res.body).toMatchObject({ error: 'StorageError' });
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('should carry the seal in the header for header clients and with cookie: false', async () => {
    const headerOnly = build(express, storage, { ttl: HOUR, cookie: false, header: 'x-session' });
    const first = await request(headerOnly).get('/set?k=a&v=1').expect(200);
    const seal = first.headers['x-session'] as string;
    expect(seal).toMatch(/^v1\./);
    expect(first.headers['set-cookie']).toBeUndefined();
    await request(headerOnly).get('/get?k=a').set('x-session', seal).expect(200, { value: '1' });
    const next = await request(headerOnly).get('/set?k=b&v=2').set('x-session', seal).expect(200);
    await request(headerOnly).get('/data').set('x-session', next.headers['x-session'] as string).expect(200, { a: '1', b: '2' });
    const out = await request(headerOnly).get('/logout').set('x-session', seal).expect(200);
    expect(out.headers['x-session']).toBe('');

    // default options: a client that sends the seal in the header gets it back in the header
    const cookie = jar(await request(app).get('/set?k=a&v=1').expect(200)).slice('sessionid='.length);
    const viaHeader = await request(app).get('/set?k=c&v=3').set('sessionid', cookie).expect(200);
    expect(viaHeader.headers['set-cookie']).toBeUndefined();
    await request(app).get('/data').set('sessionid', viaHeader.headers['sessionid'] as string).expect(200, { a: '1', c: '3' });
  });

  it('should open the first valid of duplicate cookies and not clear a planted junk duplicate on a read', async () => {
    const cookie = jar(await request(app).get('/set?k=a&v=1').expect(200));
    const res = await request(app).get('/get?k=a').set('Cookie', `sessionid=junk; ${cookie}`).expect(200, { value: '1' });
    expect(res.headers['set-cookie']).toBeUndefined();
    const junk = await request(app).get('/get?k=a').set('Cookie', 'sessionid=junk; sessionid=v1.AAAA').expect(200, { value: null });
    expect(junk.headers['set-cookie']).toBeUndefined();
  });

  it('should not merge overlapping requests: each response carries its own whole session (last one wins)', async () => {
    const slow = express();
    slow.use(session(storage, { ttl: HOUR }));
    slow.get('/slow-set', wrap(async (req, res) => {
      await req.session.get('a');
      await new Promise((r) => setTimeout(r, Number(req.query['ms'])));
      await req.session.set(String(req.query['k']), 1);
      res.send('ok');
    }));
    slow.get('/data', wrap(async (req, res) => {
      res.json(await req.session.data());
    }));
    const cookie = jar(await request(app).get('/set?k=a&v=0').expect(200));
    const [one, two] = await Promise.all([
      request(slow).get('/slow-set?k=x&ms=50').set('Cookie', cookie),
      request(slow).get('/slow-set?k=y&ms=10').set('Cookie', cookie),
    ]);
    await request(slow).get('/data').set('Cookie', jar(one)).expect(200, { a: '0', x: 1 });
    await request(slow).get('/data').set('Cookie', jar(two)).expect(200, { a: '0', y: 1 });
  });

  it('should serve beside an id-based session() under another cookie name', async () => {
    const both = express();
    const memory = new MemoryStorage();
    both.use(session(memory, { name: 'sid' }));
    both.use(session(storage, { name: 'prefs', ttl: HOUR }));
    both.get('/set', wrap(async (req, res) => {
      await req.session.set('theme', 'dark');
      res.send('ok');
    }));
    const res = await request(both).get('/set').expect(200);
    expect(res.headers['set-cookie']).toHaveLength(1);
    expect(cookieValue(res.headers['set-cookie'], 'prefs')).toMatch(/^v1\./);
    expect(memory.size).toBe(0);
    await memory.close();
  });

  it('should apply the 4096 guard to setMap, naming a key, and keep the session as it was', async () => {
    const multi = express();
    multi.use(session(storage, { ttl: HOUR }));
    multi.get('/map', wrap(async (req, res) => {
      await req.session.set('keep', 1);
      await req.session.setMap({ a: 'x'.repeat(2000), b: 'y'.repeat(2000) }).catch(async (err: Error & { key?: string }) => {
        res.setHeader('x-error', `${err.name}:${err.key ?? ''}`);
      });
      res.json(await req.session.data());
    }));
    const res = await request(multi).get('/map').expect(200, { keep: 1 });
    expect(res.headers['x-error']).toBe('SessionValueError:a');
    await request(app).get('/data').set('Cookie', jar(res)).expect(200, { keep: 1 });
  });

  it('should refuse secret/signer options, which a seal does not need', () => {
    expect(() => session(storage, { secret: A })).toThrow(/do not apply to CookieStorage/);
  });
});

describe('CookieManager (sealed sessions outside HTTP)', () => {
  it('should open a sealed value, and tell the new value, a clear or nothing after close', async () => {
    const clock = new TestClock();
    const storage = new CookieStorage({ secrets: A, now: clock.now });
    const manager = new CookieManager(storage, { ttl: HOUR });
    const fresh = manager.new();
    await fresh.set('n', 1);
    await fresh.close();
    const value = manager.sealOf(fresh);
    expect(typeof value).toBe('string');

    const again = manager.new(value as string);
    expect(await again.get('n')).toBe(1);
    await again.close();
    expect(manager.sealOf(again)).toBeUndefined(); // clean: the client keeps its value

    const changed = manager.new(value as string);
    await changed.set('n', 2);
    await changed.close();
    const next = manager.sealOf(changed) as string;
    const check = manager.new(next);
    expect(await check.data()).toEqual({ n: 2 });

    const out = manager.new(next);
    await out.removeAll();
    await out.close();
    expect(manager.sealOf(out)).toBeNull();

    const forged = manager.new('v1.nonsense');
    expect(await forged.get('n')).toBeUndefined();
    expect(manager.sealOf(forged)).toBeNull();
    expect(() => manager.sealOf(new CookieManager(storage).new())).toThrow(/not opened by this CookieManager/);
    expect(() => manager.setStorage()).toThrow(/no storage/);
  });

  it('should bind seals to the manager\'s cookie name', async () => {
    const storage = new CookieStorage({ secrets: A });
    const user = new CookieManager(storage, { name: 'user' });
    const s = user.new();
    await s.set('a', 1);
    await s.close();
    const value = user.sealOf(s) as string;
    expect(await new CookieManager(storage, { name: 'admin' }).new(value).get('a')).toBeUndefined();
    expect(await user.new(value).get('a')).toBe(1);
  });
});
