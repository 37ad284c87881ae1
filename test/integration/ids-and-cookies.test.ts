/**
 * Ids and cookies over real HTTP: duplicated cookies, SameSite=None / Partitioned on plain HTTP,
 * two session() middlewares on one request, and reaching the middleware's storage.
 */
import request from 'supertest';
import { FileStorage, MemoryStorage, SessionStateError, generateId, session } from 'sessionware';
import { FRAMEWORKS, buildApp, cookieOf, cookieValue, recordCalls, wrap } from '../helpers/app';

describe.each(Object.entries(FRAMEWORKS))('ids and cookies on %s', (_name, express) => {
  let memory: MemoryStorage;
  beforeEach(() => {
    memory = new MemoryStorage();
  });
  afterEach(() => memory.close());

  async function login(app: Parameters<typeof request>[0]): Promise<string> {
    const res = await request(app).get('/set?k=user&v=alice').expect(200);
    return cookieValue(res.headers['set-cookie']) as string;
  }

  describe('duplicate cookies', () => {
    it.each([
      ['junk first', (id: string) => `sessionid=junk; sessionid=${id}`],
      ['a percent-encoded value first', (id: string) => `sessionid=${'x'.repeat(3)}%2F; other=1; sessionid=${id}`],
      ['quoted', (id: string) => `sessionid=""; sessionid="${id}"`],
      ['a longer-path duplicate among others', (id: string) => `a=1; sessionid=../../etc; b=2;sessionid=${id}; c=3`],
    ])('should use the first valid value (%s) and keep the cookie', async (_what, header) => {
      const app = buildApp(express, memory);
      const id = await login(app);
      const read = await request(app).get('/get?k=user').set('Cookie', header(id)).expect(200, { value: 'alice' });
      expect(read.headers['set-cookie']).toBeUndefined();
      const write = await request(app).get('/set?k=more&v=1').set('Cookie', header(id)).expect(200);
      expect(write.headers['set-cookie']).toBeUndefined();
      await expect(memory.getSession(id)).resolves.toBeDefined();
    });

    it('should not clear the cookie because of junk duplicates when none is valid', async () => {
      const app = buildApp(express, memory);
      const res = await request(app).get('/get?k=user').set('Cookie', `sessionid=junk; sessionid=${generateId()}`).expect(200, { value: null });
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it('should still clear on logout when the client sent duplicates', async () => {
      const app = buildApp(express, memory);
      const id = await login(app);
      const res = await request(app).get('/logout').set('Cookie', `sessionid=junk; sessionid=${id}`).expect(200, 'bye');
      expect(cookieOf(res.headers['set-cookie'])).toMatch(/^sessionid=; Max-Age=0/);
      await expect(memory.getSession(id)).resolves.toBeUndefined();
    });

    it('should look at no more than four values and never pass an invalid one to the storage', async () => {
      const { storage, calls } = recordCalls(memory);
      const app = buildApp(express, storage);
      const id = await login(app);
      calls.length = 0;
      const header = [...Array.from({ length: 4 }, (_, i) => `sessionid=bad${i}!`), `sessionid=${id}`].join('; ');
      await request(app).get('/get?k=user').set('Cookie', header).expect(200, { value: null });
      expect(calls).toEqual([]);
    });

    it('should take a valid id from the header when every cookie value is junk', async () => {
      const app = buildApp(express, memory);
      const id = await login(app);
      await request(app).get('/get?k=user').set('Cookie', 'sessionid=junk').set('sessionid', id).expect(200, { value: 'alice' });
    });
  });

  describe('SameSite=None and Partitioned with secure: "auto"', () => {
    it('should send neither attribute on plain HTTP, and both with Secure on HTTPS', async () => {
      const app = buildApp(express, memory, { cookie: { sameSite: 'none', partitioned: true } });
      app.set('trust proxy', true);
      const plain = cookieOf((await request(app).get('/set?k=a&v=1').expect(200)).headers['set-cookie']) as string;
      expect(plain).not.toMatch(/SameSite|Partitioned|Secure/);
      const https = cookieOf((await request(app).get('/set?k=a&v=1').set('X-Forwarded-Proto', 'https').expect(200)).headers['set-cookie']) as string;
      expect(https).toContain('SameSite=None');
      expect(https).toContain('Partitioned');
      expect(https).toContain('Secure');
    });

    it('should do the same for the persistent cookie and for clearing it', async () => {
      const app = buildApp(express, memory, { cookie: { sameSite: 'none', maxAge: 60_000 } });
      const id = await login(app);
      const res = await request(app).get('/logout').set('Cookie', `sessionid=${id}`).expect(200);
      expect(cookieOf(res.headers['set-cookie'])).not.toMatch(/SameSite|Secure/);
    });
  });

  describe('two session() middlewares on one request', () => {
    function adminApp(admin: MemoryStorage) {
      const app = express();
      app.use(session(memory));
      app.get('/set', wrap(async (req, res) => {
        await req.session.set('who', 'site');
        res.send('ok');
      }));
      const area = express.Router();
      area.use(session(admin, { name: 'adminsid', cookie: { path: '/admin' } }));
      area.get('/set', wrap(async (req, res) => {
        await req.session.set('who', 'admin');
        res.send('ok');
      }));
      area.get('/get', wrap(async (req, res) => void res.json({ value: (await req.session.get('who')) ?? null })));
      app.use('/admin', area);
      return app;
    }

    it('should give the innermost one req.session, each with its own cookie and storage', async () => {
      const admin = new MemoryStorage();
      try {
        const app = adminApp(admin);
        const site = cookieValue((await request(app).get('/set').expect(200)).headers['set-cookie']) as string;
        const res = await request(app).get('/admin/set').set('Cookie', `sessionid=${site}`).expect(200);
        const adminId = cookieValue(res.headers['set-cookie'], 'adminsid') as string;
        expect(cookieOf(res.headers['set-cookie'], 'adminsid')).toContain('Path=/admin');
        expect(cookieOf(res.headers['set-cookie'])).toBeUndefined(); // the site session was not touched
        expect((await admin.getSession(adminId))?.get('who')).toBe('"admin"');
        expect((await memory.getSession(site))?.get('who')).toBe('"site"');
        await expect(memory.getSession(adminId)).resolves.toBeUndefined();
        await request(app).get('/admin/get').set('Cookie', `sessionid=${site}; adminsid=${adminId}`).expect(200, { value: 'admin' });
      } finally {
        await admin.close();
      }
    });

    it('should store both sessions before the response completes when both change in one request', async () => {
      const site = recordCalls(memory, { delay: { setSession: 100 } });
      const admin = new MemoryStorage();
      const slowAdmin = recordCalls(admin, { delay: { setSession: 60 } });
      try {
        const app = express();
        app.use(session(site.storage));
        app.use((req: import('express').Request, _res: import('express').Response, next: import('express').NextFunction) => {
          req.session.set('visited', 'admin').then(() => next(), next); // the outer session changes first
        });
        const area = express.Router();
        area.use(session(slowAdmin.storage, { name: 'adminsid', cookie: { path: '/admin' } }));
        area.get('/set', wrap(async (req, res) => {
          await req.session.set('who', 'admin');
          res.setHeader('Content-Length', '2');
          res.write('ok');
          setTimeout(() => res.end(), 5);
        }));
        app.use('/admin', area);
        const res = await request(app).get('/admin/set').expect(200, 'ok');
        const siteId = cookieValue(res.headers['set-cookie']) as string;
        const adminId = cookieValue(res.headers['set-cookie'], 'adminsid') as string;
        expect((await memory.getSession(siteId))?.get('visited')).toBe('"admin"');
        expect((await admin.getSession(adminId))?.get('who')).toBe('"admin"');
      } finally {
        await admin.close();
      }
    });

    it('should fail the request with a SessionStateError when both use the same cookie name', async () => {
      const app = express();
      app.use(session(memory));
      app.use(session(new MemoryStorage()));
      app.get('/', (_req: import('express').Request, res: import('express').Response) => void res.send('unreachable'));
      let seen: unknown;
      app.use((err: unknown, _req: import('express').Request, res: import('express').Response, _next: import('express').NextFunction) => {
        seen = err;
        res.status(500).send('clash');
      });
      await request(app).get('/').expect(500, 'clash');
      expect(seen).toBeInstanceOf(SessionStateError);
      expect(String((seen as Error).message)).toContain('"sessionid"');
    });

    it('should serve once when the same middleware is mounted twice', async () => {
      const { storage, calls } = recordCalls(memory);
      const sessions = session(storage);
      const app = express();
      app.use(sessions);
      app.use(sessions);
      app.get('/', wrap(async (req, res) => {
        await req.session.set('a', 1);
        res.send('ok');
      }));
      const res = await request(app).get('/').expect(200);
      expect((res.headers['set-cookie'] as unknown as string[]).length).toBe(1);
      expect(calls.map((c) => c.method)).toEqual(['setSession']);
    });
  });
});

describe('the storage of session()', () => {
  it('should expose the storage it was given, and close it', async () => {
    const memory = new MemoryStorage();
    const { storage, calls } = recordCalls(memory);
    const sessions = session(storage);
    expect(sessions.storage).toBe(storage);
    await sessions.close();
    expect(calls.map((c) => c.method)).toEqual(['close']);
  });

  it('should create its own default FileStorage, reachable and closable', async () => {
    const sessions = session();
    expect(sessions.storage).toBeInstanceOf(FileStorage);
    expect(session().storage).not.toBe(sessions.storage); // each middleware owns its default
    const app = FRAMEWORKS['Express 5']();
    app.use(sessions);
    app.get('/', wrap(async (req, res) => {
      await req.session.set('a', 1);
      res.send('ok');
    }));
    const res = await request(app).get('/').expect(200);
    const id = cookieValue(res.headers['set-cookie']) as string;
    await expect(sessions.storage.getSession(id, 60_000)).resolves.toBeDefined();
    await sessions.storage.removeAll(id);
    await sessions.close();
  });
});
