/**
 * The middleware over real HTTP (supertest), on Express 5 and Express 4: laziness, id transport,
 * strict mode, close semantics, read-your-writes, concurrency and error routing.
 */
import request from 'supertest';
import { MemoryStorage, SessionStateError, Signer, StorageError, generateId, session } from 'sessionware';
import { FRAMEWORKS, buildApp, cookieOf, cookieValue, recordCalls, wrap } from '../helpers/app';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A route answering `{ value }` with what `fn` resolves (errors to the error handler, on Express 4 too). */
function valueRoute(fn: (req: Express.Request) => Promise<unknown>) {
  return wrap(async (req, res) => {
    res.json({ value: (await fn(req)) ?? null });
  });
}

describe.each(Object.entries(FRAMEWORKS))('session() on %s', (_name, express) => {
  let memory: MemoryStorage;
  beforeEach(() => {
    memory = new MemoryStorage();
  });
  afterEach(async () => {
    await memory.close();
  });

  /** Creates a session holding `k=v` and returns its cookie value. */
  async function login(app: Parameters<typeof request>[0], k = 'user', v = 'alice'): Promise<string> {
    const res = await request(app).get(`/set?k=${k}&v=${v}`).expect(200);
    const id = cookieValue(res.headers['set-cookie']);
    expect(id).toBeDefined();
    return id as string;
  }

  describe('laziness', () => {
    it('should cost no storage call and send no cookie when the handler never touches the session', async () => {
      const { storage, calls } = recordCalls(memory);
      const app = buildApp(express, storage);
      const id = await login(app);
      calls.length = 0;
      const res = await request(app).get('/untouched').set('Cookie', `sessionid=${id}`).expect(200, 'ok');
      const fresh = await request(app).get('/untouched').expect(200);
      expect(calls).toEqual([]);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(fresh.headers['set-cookie']).toBeUndefined();
      expect(res.headers['vary']).toBeUndefined();
    });

    it('should write nothing and send no cookie for a new session that was only read', async () => {
      const { storage, calls } = recordCalls(memory);
      const app = buildApp(express, storage);
      const res = await request(app).get('/get?k=x').expect(200, { value: null });
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(calls).toEqual([]);
    });

    it('should not send an id that was only created by id()', async () => {
      const { storage, calls } = recordCalls(memory);
      const res = await request(buildApp(express, storage)).get('/id').expect(200);
      expect(res.text).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(calls.map((c) => c.method)).toEqual([]);
    });
  });

  describe('id transport', () => {
    it('should issue a 192-bit url-safe id in an HttpOnly, SameSite=Lax cookie and no header', async () => {
      const res = await request(buildApp(express, memory)).get('/set?k=a&v=1').expect(200);
      const cookie = cookieOf(res.headers['set-cookie']) as string;
      expect(cookie).toMatch(/^sessionid=[A-Za-z0-9_-]{32}; Path=\/; HttpOnly; SameSite=Lax$/);
      expect(res.headers['sessionid']).toBeUndefined();
      expect(res.headers['vary']).toMatch(/cookie/i);
    });

    it('should read the id from the cookie first, then the header', async () => {
      const app = buildApp(express, memory);
      const a = await login(app, 'who', 'a');
      const b = await login(app, 'who', 'b');
      await request(app).get('/get?k=who').set('Cookie', `sessionid=${a}`).set('sessionid', b).expect(200, { value: 'a' });
      await request(app).get('/get?k=who').set('sessionid', b).expect(200, { value: 'b' });
    });

    it('should answer a header client in the header when its id changes, never with a cookie', async () => {
      const app = buildApp(express, memory);
      const id = await login(app);
      const res = await request(app).get('/regenerate').set('sessionid', id).expect(200);
      expect(res.headers['set-cookie']).toBeUndefined();
      const next = res.headers['sessionid'] as string;
      expect(next).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(next).not.toBe(id);
      await request(app).get('/get?k=user').set('sessionid', next).expect(200, { value: 'alice' });
      await request(app).get('/get?k=user').set('sessionid', id).expect(200, { value: null });
    });

    it('should use only headers when cookies are disabled', async () => {
      const app = buildApp(express, memory, { cookie: false, header: 'X-Session-Id' });
      const res = await request(app).get('/set?k=a&v=1').expect(200);
      expect(res.headers['set-cookie']).toBeUndefined();
      const id = res.headers['x-session-id'] as string;
      expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/);
      await request(app).get('/get?k=a').set('X-Session-Id', id).expect(200, { value: '1' });
      await request(app).get('/get?k=a').set('Cookie', `sessionid=${id}`).expect(200, { value: null });
    });

    it('should echo a new id in the header too when the cookie is readable by scripts anyway', async () => {
      const res = await request(buildApp(express, memory, { cookie: { httpOnly: false } })).get('/set?k=a&v=1').expect(200);
      expect(res.headers['sessionid']).toBe(cookieValue(res.headers['set-cookie']));
    });

    it('should not read a header when header is false', async () => {
      const app = buildApp(express, memory, { header: false });
      const id = await login(app);
      await request(app).get('/get?k=user').set('sessionid', id).expect(200, { value: null });
    });

    it('should apply every cookie attribute', async () => {
      const app = buildApp(express, memory, {
        name: 'sid',
        cookie: { path: '/', domain: 'example.com', secure: true, sameSite: 'strict', maxAge: 60_000, partitioned: true, priority: 'high' },
      });
      const res = await request(app).get('/set?k=a&v=1').expect(200);
      const cookie = cookieOf(res.headers['set-cookie'], 'sid') as string;
      expect(cookie).toContain('Max-Age=60');
      expect(cookie).toMatch(/Expires=\w{3}, \d{2} \w{3} \d{4}/);
      for (const part of ['Domain=example.com', 'Secure', 'SameSite=Strict', 'Partitioned', 'Priority=High', 'HttpOnly']) expect(cookie).toContain(part);
    });

    it('should set Secure with secure: "auto" only on HTTPS as Express sees it', async () => {
      const app = buildApp(express, memory);
      app.set('trust proxy', true);
      const https = await request(app).get('/set?k=a&v=1').set('X-Forwarded-Proto', 'https');
      const plain = await request(app).get('/set?k=a&v=1');
      expect(cookieOf(https.headers['set-cookie'])).toContain('; Secure');
      expect(cookieOf(plain.headers['set-cookie'])).not.toContain('Secure');
    });

    it('should slide a persistent cookie whenever the session is used', async () => {
      const app = buildApp(express, memory, { cookie: { maxAge: 3_600_000 } });
      const id = await login(app);
      const read = await request(app).get('/get?k=user').set('Cookie', `sessionid=${id}`).expect(200);
      expect(cookieValue(read.headers['set-cookie'])).toBe(id);
      const untouched = await request(app).get('/untouched').set('Cookie', `sessionid=${id}`).expect(200);
      expect(untouched.headers['set-cookie']).toBeUndefined();
    });

    it('should not re-send a browser-session cookie for an existing session', async () => {
      const app = buildApp(express, memory);
      const id = await login(app);
      const res = await request(app).get('/set?k=more&v=1').set('Cookie', `sessionid=${id}`).expect(200);
      expect(res.headers['set-cookie']).toBeUndefined();
    });
  });

  describe('headers follow the session', () => {
    it('should put the id in the headers when the operation settles, before an explicit writeHead', async () => {
      const app = express();
      app.use(session(memory));
      app.get('/', wrap(async (req, res) => {
        await req.session.set('a', 1);
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      }));
      const res = await request(app).get('/').expect(200, 'ok');
      expect(cookieValue(res.headers['set-cookie'])).toMatch(/^[A-Za-z0-9_-]{32}$/);
    });

    it('should take back a cookie when the same request logs the new session out again', async () => {
      const { storage, calls } = recordCalls(memory);
      const app = express();
      app.use(session(storage, { header: 'x-sid', cookie: { httpOnly: false } }));
      app.get('/', wrap(async (req, res) => {
        await req.session.set('a', 1);
        await req.session.removeAll();
        res.send('ok');
      }));
      const res = await request(app).get('/').expect(200, 'ok');
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.headers['x-sid']).toBeUndefined();
      expect(calls.map((c) => c.method)).toEqual(['removeAll']); // nothing was stored: nothing to write
    });

    it('should restore the session cookie when the application replaces Set-Cookie afterwards', async () => {
      const app = express();
      app.use(session(memory));
      app.get('/', wrap(async (req, res) => {
        await req.session.set('a', 1);
        res.setHeader('Set-Cookie', 'theme=dark');
        res.send('ok');
      }));
      const res = await request(app).get('/').expect(200);
      expect(cookieOf(res.headers['set-cookie'], 'theme')).toBe('theme=dark');
      const id = cookieValue(res.headers['set-cookie']) as string;
      await expect(memory.getSession(id)).resolves.toBeDefined();
    });
  });

  describe('req.session', () => {
    it('should refuse to be replaced', async () => {
      const app = express();
      app.use(session(memory));
      app.get('/', (req: Express.Request, res: import('express').Response) => {
        try {
          (req as { session: unknown }).session = {};
          res.send('replaced');
        } catch (err) {
          res.send((err as Error).name);
        }
      });
      await request(app).get('/').expect(200, 'SessionStateError');
    });

    it('should work in a sub-app mounted under the app that uses the middleware', async () => {
      const app = express();
      app.use(session(memory));
      const sub = express();
      sub.get('/set', valueRoute(async (req) => req.session.set('from', 'sub')));
      app.use('/sub', sub);
      app.get('/get', valueRoute(async (req) => req.session.get('from')));
      const res = await request(app).get('/sub/set').expect(200);
      const id = cookieValue(res.headers['set-cookie']) as string;
      await request(app).get('/get').set('Cookie', `sessionid=${id}`).expect(200, { value: 'sub' });
    });

    it('should survive res.locals being rebuilt from itself', async () => {
      const app = express();
      app.use(session(memory));
      app.use((_req: Express.Request, res: import('express').Response, next: () => void) => {
        res.locals = { ...res.locals, theme: 'dark' };
        next();
      });
      app.get('/set', valueRoute(async (req) => req.session.set('k', 'v')));
      const res = await request(app).get('/set').expect(200);
      expect(cookieValue(res.headers['set-cookie'])).toMatch(/^[A-Za-z0-9_-]{32}$/);
    });

    it('should stay an ordinary property where the middleware does not run', async () => {
      const app = express();
      app.get('/before', (request: Express.Request, res: import('express').Response) => {
        const req = request as { session: unknown };
        const before = req.session;
        req.session = { legacy: true }; // what another session library would do
        res.json({ before: before ?? null, after: req.session });
      });
      app.use(session(memory));
      app.get('/after', valueRoute(async (req) => req.session.get('x')));
      await request(app).get('/after').expect(200, { value: null });
      await request(app).get('/before').expect(200, { before: null, after: { legacy: true } });
      const other = express(); // an app in the same process without sessionware
      other.get('/', (req: Express.Request, res: import('express').Response) => {
        res.json({ session: (req as { session?: unknown }).session ?? null });
      });
      await request(other).get('/').expect(200, { session: null });
    });
  });

  describe('strict mode', () => {
    it('should never adopt an unknown id, and clear it', async () => {
      const { storage, calls } = recordCalls(memory);
      const app = buildApp(express, storage);
      const forged = generateId();
      const res = await request(app).get('/set?k=a&v=1').set('Cookie', `sessionid=${forged}`).expect(200);
      const id = cookieValue(res.headers['set-cookie']);
      expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(id).not.toBe(forged);
      expect(calls.filter((c) => c.id === forged).map((c) => c.method)).toEqual(['getSession']);
      const readOnly = await request(app).get('/get?k=a').set('Cookie', `sessionid=${forged}`).expect(200, { value: null });
      expect(cookieOf(readOnly.headers['set-cookie'])).toMatch(/^sessionid=; .*Expires=Thu, 01 Jan 1970/);
    });

    it.each([
      ['too short', 'abc'],
      ['a path', '../../../etc/passwd'],
      ['percent-encoded dots', '%2e%2e%2fx%2fyyyyyyy'],
      ['too long', 'a'.repeat(129)],
      ['a NUL byte', 'aaaaaaaa%00bbbb'],
    ])('should reject an id that is %s before any storage access', async (_what, bad) => {
      const { storage, calls } = recordCalls(memory);
      const app = buildApp(express, storage);
      const res = await request(app).get('/set?k=a&v=1').set('Cookie', `sessionid=${bad}`).expect(200);
      expect(cookieValue(res.headers['set-cookie'])).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(calls.map((c) => c.method)).toEqual(['setSession']);
    });

    it('should verify signatures when a secret is set, and rotate secrets', async () => {
      const oldSecret = 'o'.repeat(32);
      const newSecret = 'n'.repeat(32);
      const { storage, calls } = recordCalls(memory);
      const before = buildApp(express, storage, { secret: oldSecret });
      const res = await request(before).get('/set?k=user&v=alice').expect(200);
      const token = cookieValue(res.headers['set-cookie']) as string;
      expect(token).toMatch(/^[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}$/);
      const id = token.split('.')[0] as string;

      const rotated = buildApp(express, storage, { secret: [newSecret, oldSecret] });
      await request(rotated).get('/get?k=user').set('Cookie', `sessionid=${token}`).expect(200, { value: 'alice' });
      calls.length = 0;
      await request(rotated).get('/get?k=user').set('Cookie', `sessionid=${id}`).expect(200, { value: null });
      await request(rotated).get('/get?k=user').set('Cookie', `sessionid=${id}.${'A'.repeat(43)}`).expect(200, { value: null });
      expect(calls).toEqual([]); // forged tokens never reach the storage
      const regenerated = await request(rotated).get('/regenerate').set('Cookie', `sessionid=${token}`).expect(200);
      expect(new Signer(newSecret).unsign(cookieValue(regenerated.headers['set-cookie']) as string)).toBeDefined();
    });
  });

  describe('close', () => {
    it('should write a dirty session with setSession and refresh a clean one with updateTTL', async () => {
      const { storage, calls } = recordCalls(memory);
      const app = buildApp(express, storage);
      const id = await login(app);
      expect(calls.map((c) => c.method)).toEqual(['setSession']);
      calls.length = 0;
      await request(app).get('/get?k=user').set('Cookie', `sessionid=${id}`).expect(200, { value: 'alice' });
      await sleep(20); // the refresh may land after the response
      expect(calls.map((c) => c.method)).toEqual(['getSession', 'updateTTL']);
      calls.length = 0;
      await request(app).get('/set?k=n&v=2').set('Cookie', `sessionid=${id}`).expect(200);
      expect(calls.map((c) => c.method)).toEqual(['getSession', 'setSession']);
    });

    it('should store a dirty session before the client receives the end of the response', async () => {
      const { storage } = recordCalls(memory, { delay: { setSession: 150 } });
      const app = buildApp(express, storage);
      for (let i = 0; i < 5; i++) {
        const res = await request(app).get(`/set?k=n&v=${i}`).expect(200);
        const id = cookieValue(res.headers['set-cookie']) as string;
        // The very moment the response is complete, the write must be visible.
        const stored = await memory.getSession(id);
        expect(stored?.get('n')).toBe(JSON.stringify(String(i)));
      }
    });

    it('should hold back the end of a streamed response until the write lands', async () => {
      const { storage } = recordCalls(memory, { delay: { setSession: 100 } });
      const res = await request(buildApp(express, storage)).get('/stream').expect(200, 'part 1,part 2');
      const id = cookieValue(res.headers['set-cookie']) as string;
      expect((await memory.getSession(id))?.get('streamed')).toBe('true');
    });

    it('should leave the headers of a streamed read alone, and still clear a rejected id there', async () => {
      const app = buildApp(express, memory);
      const id = await login(app);
      const read = await request(app).get('/stream-read?k=user').set('Cookie', `sessionid=${id}`).expect(200, '"alice",done');
      expect(read.headers['set-cookie']).toBeUndefined();
      const forged = await request(app).get('/stream-read?k=user').set('Cookie', 'sessionid=..%2F..%2Fetc').expect(200, 'null,done');
      expect(cookieOf(forged.headers['set-cookie'])).toMatch(/^sessionid=; Max-Age=0;/);
    });

    it('should log out: delete now, clear the cookie, and later requests get nothing', async () => {
      const app = buildApp(express, memory);
      const id = await login(app);
      const res = await request(app).get('/logout').set('Cookie', `sessionid=${id}`).expect(200, 'bye');
      expect(cookieOf(res.headers['set-cookie'])).toMatch(/^sessionid=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax$/);
      await expect(memory.getSession(id)).resolves.toBeUndefined();
      await request(app).get('/get?k=user').set('Cookie', `sessionid=${id}`).expect(200, { value: null });
    });

    it('should regenerate on login: new cookie, data kept, old id dead', async () => {
      const app = buildApp(express, memory);
      const id = await login(app);
      const res = await request(app).get('/regenerate').set('Cookie', `sessionid=${id}`).expect(200);
      const next = cookieValue(res.headers['set-cookie']) as string;
      expect(next).not.toBe(id);
      await request(app).get('/get?k=user').set('Cookie', `sessionid=${next}`).expect(200, { value: 'alice' });
      await expect(memory.getSession(id)).resolves.toBeUndefined();
    });
  });

  describe('concurrency', () => {
    it('should keep both changes of two overlapping requests on different keys', async () => {
      const app = buildApp(express, memory);
      const id = await login(app);
      const cookie = `sessionid=${id}`;
      await Promise.all([
        request(app).get('/slow-set?k=a&v=slow&ms=80').set('Cookie', cookie).expect(200),
        sleep(10).then(() => request(app).get('/set?k=b&v=fast').set('Cookie', cookie).expect(200)),
      ]);
      await request(app).get('/data').set('Cookie', cookie).expect(200, { user: 'alice', a: 'slow', b: 'fast' });
    });

    it('should keep a logout a logout when a slow writer overlaps it', async () => {
      const app = buildApp(express, memory);
      const id = await login(app);
      const cookie = `sessionid=${id}`;
      const [slow] = await Promise.all([
        request(app).get('/slow-set?k=cart&v=late&ms=80').set('Cookie', cookie),
        sleep(10).then(() => request(app).get('/logout').set('Cookie', cookie).expect(200)),
      ]);
      expect(slow.status).toBe(200);
      expect(cookieOf(slow.headers['set-cookie'])).toMatch(/^sessionid=;/); // the slow response clears it too
      await expect(memory.getSession(id)).resolves.toBeUndefined();
      await request(app).get('/data').set('Cookie', cookie).expect(200, {});
    });
  });

  describe('errors', () => {
    it('should reject values JSON would lose and route the error to the error handler', async () => {
      await request(buildApp(express, memory)).get('/set-fn').expect(500, { error: 'SessionValueError', code: 'ERR_SESSION_VALUE' });
    });

    it('should route a failed write to next(err) while the response can still carry it', async () => {
      const { storage } = recordCalls(memory, { fail: { setSession: new Error('disk full') } });
      const res = await request(buildApp(express, storage)).get('/set?k=a&v=1').expect(500, { error: 'StorageError', code: 'ERR_SESSION_STORAGE' });
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it('should route a failed read to the error handler and leave untouched requests alone', async () => {
      const { storage } = recordCalls(memory, { fail: { getSession: new Error('backend down') } });
      const app = buildApp(express, storage);
      const id = generateId();
      await request(app).get('/get?k=a').set('Cookie', `sessionid=${id}`).expect(500, { error: 'StorageError', code: 'ERR_SESSION_STORAGE' });
      await request(app).get('/untouched').set('Cookie', `sessionid=${id}`).expect(200, 'ok');
    });

    it('should report failures after the response through onError, without crashing', async () => {
      const errors: unknown[] = [];
      const { storage } = recordCalls(memory, { fail: { updateTTL: new Error('timeout') } });
      const app = buildApp(express, memory);
      const id = await login(app);
      const failing = buildApp(express, storage, { onError: (err) => errors.push(err) });
      await request(failing).get('/get?k=user').set('Cookie', `sessionid=${id}`).expect(200, { value: 'alice' });
      await sleep(20);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(StorageError);
      expect((errors[0] as StorageError).operation).toBe('updateTTL');
      expect(String((errors[0] as Error).message)).not.toContain(id);
    });

    it('should report a failed write of a streamed response through onError', async () => {
      const errors: unknown[] = [];
      const { storage } = recordCalls(memory, { fail: { setSession: new Error('disk full') } });
      const res = await request(buildApp(express, storage, { onError: (err) => errors.push(err) })).get('/stream').expect(200);
      expect(res.text).toBe('part 1,part 2');
      expect(errors).toHaveLength(1);
      expect((errors[0] as StorageError).code).toBe('ERR_SESSION_STORAGE');
    });
  });
});

describe('session() used after the response ended', () => {
  it('should reject session calls instead of losing them silently', async () => {
    const express = FRAMEWORKS['Express 5'];
    const memory = new MemoryStorage();
    const app = express();
    app.use(session(memory));
    let late: unknown;
    app.get('/', (req, res) => {
      res.send('done');
      setImmediate(() => {
        req.session.set('a', 1).catch((err: unknown) => (late = err));
      });
    });
    await request(app).get('/').expect(200, 'done');
    await sleep(20);
    expect(late).toBeInstanceOf(SessionStateError);
    await memory.close();
  });
});
