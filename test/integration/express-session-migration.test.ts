/**
 * Migrating from express-session, end to end with the real packages: users log in under
 * express-session + connect-redis (or connect-pg-simple); the app switches to sessionware with
 * StoreAdapter over the same store, the same secret and cookie name; the next request is still
 * logged in, and a logout then removes the old session from the store. Cookies sessionware issues
 * meanwhile are express-session's format, so the switch can also be rolled back.
 */
import request from 'supertest';
import express from 'express';
import { ExpressSessionSigner, session } from 'sessionware';
import { StoreAdapter } from 'sessionware/express-session-store';
import { cookieValue, wrap } from '../helpers/app';
import { createPgFixture, createRedisFixture, expressSession, type StoreFixture } from '../helpers/express-stores';
import { sharedRedisUrl, stopSharedRedis, testClient } from '../helpers/redis';

const SECRET = 'keyboard cat'; // express-session's README secret: short, as real apps' often are
const NAME = 'connect.sid';
const HOUR = 3_600_000;

/** The app as it ran before: express-session, its store, users log in. */
function expressSessionApp(store: StoreFixture['store']): express.Express {
  const app = express();
  app.use(expressSession({ store, secret: SECRET, resave: false, saveUninitialized: false, cookie: { maxAge: HOUR } }));
  app.get('/login', (req, res) => {
    const s = (req as unknown as { session: Record<string, unknown> }).session;
    s['passport'] = { user: 'alice' };
    s['views'] = 1;
    res.send('ok');
  });
  app.get('/me', (req, res) => {
    const s = (req as unknown as { session: Record<string, unknown> }).session;
    res.json({ passport: s['passport'] ?? null, views: s['views'] ?? null });
  });
  return app;
}

/** The same app after the switch: sessionware, the same store through StoreAdapter, the same secret. */
function sessionwareApp(storage: StoreAdapter): express.Express {
  const app = express();
  app.use(session(storage, { name: NAME, ttl: HOUR, signer: new ExpressSessionSigner(SECRET) }));
  app.get('/me', wrap(async (req, res) => {
    res.json({ passport: (await req.session.get('passport')) ?? null, views: (await req.session.get('views')) ?? null });
  }));
  app.get('/view', wrap(async (req, res) => {
    await req.session.set('views', ((await req.session.get<number>('views')) ?? 0) + 1);
    res.send('ok');
  }));
  app.get('/logout', wrap(async (req, res) => {
    await req.session.removeAll();
    res.send('bye');
  }));
  return app;
}

describe.each([
  ['connect-redis', () => createRedisFixture()],
  ['connect-pg-simple', () => createPgFixture()],
] as const)('migrating from express-session + %s', (_name, create) => {
  let fixture: StoreFixture;
  let storage: StoreAdapter;

  beforeEach(async () => {
    fixture = await create();
    storage = new StoreAdapter(fixture.store);
  });
  afterEach(async () => {
    await storage.close();
    await fixture.cleanup();
  });
  afterAll(stopSharedRedis);

  it('should keep a logged-in user logged in, then log them out for good', async () => {
    const login = await request(expressSessionApp(fixture.store)).get('/login').expect(200);
    const token = cookieValue(login.headers['set-cookie'], NAME) as string;
    expect(decodeURIComponent(token)).toMatch(/^s:[\w-]+\.[A-Za-z0-9+/]+$/);
    const id = decodeURIComponent(token).slice(2).split('.')[0] as string;
    const cookie = `${NAME}=${token}`;

    const app = sessionwareApp(storage);
    await request(app).get('/me').set('Cookie', cookie).expect(200, { passport: { user: 'alice' }, views: 1 });
    await request(app).get('/view').set('Cookie', cookie).expect(200);
    await request(app).get('/me').set('Cookie', cookie).expect(200, { passport: { user: 'alice' }, views: 2 });
    expect(await fixture.raw(id)).toMatchObject({ passport: { user: 'alice' }, views: 2, cookie: expect.any(Object) });
    // express-session still reads what sessionware wrote: the switch can be rolled back.
    await request(expressSessionApp(fixture.store)).get('/me').set('Cookie', cookie).expect(200, { passport: { user: 'alice' }, views: 2 });

    const logout = await request(app).get('/logout').set('Cookie', cookie).expect(200);
    expect(logout.headers['set-cookie']?.[0]).toMatch(new RegExp(`^${NAME}=;`));
    expect(await fixture.raw(id)).toBeUndefined();
    await request(app).get('/me').set('Cookie', cookie).expect(200, { passport: null, views: null });
    await request(expressSessionApp(fixture.store)).get('/me').set('Cookie', cookie).expect(200, { passport: null, views: null });
  });

  it("should issue new sessions in express-session's cookie format, and refuse cookies signed with another secret", async () => {
    const app = sessionwareApp(storage);
    const res = await request(app).get('/view').expect(200);
    const token = cookieValue(res.headers['set-cookie'], NAME) as string;
    expect(decodeURIComponent(token)).toMatch(/^s:[\w-]+\.[A-Za-z0-9+/]+$/);
    await request(expressSessionApp(fixture.store)).get('/me').set('Cookie', `${NAME}=${token}`).expect(200, { passport: null, views: 1 });

    const other = express();
    other.use(expressSession({ store: fixture.store, secret: 'another secret', resave: false, saveUninitialized: false }));
    other.get('/login', (req, res) => {
      (req as unknown as { session: Record<string, unknown> }).session['passport'] = { user: 'mallory' };
      res.send('ok');
    });
    const forged = cookieValue((await request(other).get('/login').expect(200)).headers['set-cookie'], NAME) as string;
    const me = await request(app).get('/me').set('Cookie', `${NAME}=${forged}`).expect(200);
    expect(me.body).toEqual({ passport: null, views: null });
  });
});

describe('migrating from express-session + connect-redis, sessions express-session kept alive with touch', () => {
  it('should keep a user whose stored cookie.expires went stale while the store kept the session alive', async () => {
    // express-session's touch (resave: false) moves connect-redis's EXPIRE but never rewrites the
    // value, so an active user's stored cookie.expires lies in the past.
    const fixture = await createRedisFixture();
    const admin = testClient(await sharedRedisUrl());
    const storage = new StoreAdapter(fixture.store);
    try {
      const id = 'Xq3v9T0bqN6kz2W8dYcH1mPfL5sRj7Ue'; // an express-session style id (24 random bytes, base64url)
      const stale = { cookie: { originalMaxAge: HOUR, expires: new Date(Date.now() - HOUR).toISOString(), httpOnly: true, path: '/' }, passport: { user: 'alice' } };
      await admin.set(fixture.prefix + id, JSON.stringify(stale), 'EX', 3600);
      const cookie = `${NAME}=${encodeURIComponent(new ExpressSessionSigner(SECRET).sign(id))}`;
      const app = sessionwareApp(storage);
      await request(app).get('/me').set('Cookie', cookie).expect(200, { passport: { user: 'alice' }, views: null });
      await request(app).get('/logout').set('Cookie', cookie).expect(200);
      expect(await admin.exists(fixture.prefix + id)).toBe(0);
    } finally {
      await storage.close();
      admin.disconnect();
      await fixture.cleanup();
      await stopSharedRedis();
    }
  });
});
