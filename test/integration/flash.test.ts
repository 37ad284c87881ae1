/**
 * Flash messages over real HTTP on every storage: queued, shown once, never to two tabs, no
 * session created by a page that only looks for them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { FileStorage, session, type Storage } from 'sessionware';
import { RedisStorage } from 'sessionware/redis';
import { cleanupPrefix, sharedRedisUrl, stopSharedRedis, testClient, uniquePrefix } from '../helpers/redis';
import { cookieValue, wrap } from '../helpers/app';
import { describeEachStorage } from '../helpers/storages';

function flashApp(storage: Storage) {
  const sessions = session(storage);
  const app = express();
  app.use(sessions);
  app.get('/flash', wrap(async (req, res) => {
    await req.session.flash(String(req.query['type'] ?? 'info'), String(req.query['m']));
    res.redirect('/');
  }));
  app.get('/flash-object', wrap(async (req, res) => {
    await req.session.flash('toast', { text: 'saved', level: 2 });
    res.send('ok');
  }));
  app.get('/show', wrap(async (req, res) => {
    res.json(await req.session.flashes(String(req.query['type'] ?? 'info')));
  }));
  app.get('/show-all', wrap(async (req, res) => {
    res.json(await req.session.flashes());
  }));
  app.get('/data', wrap(async (req, res) => {
    res.json(await req.session.data());
  }));
  app.get('/bad', wrap(async (req, res) => {
    await req.session.flash('info', () => 1);
    res.send('unreachable');
  }));
  app.use((err: Error & { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ code: err.code ?? null, message: err.message });
  });
  return { app, sessions };
}

describeEachStorage((_name, current) => {
  it('should show a queued flash once, in order, then no more; hidden from data()', async () => {
    const { app } = flashApp(current());
    const first = await request(app).get('/flash?m=saved').expect(302);
    const cookie = `sessionid=${cookieValue(first.headers['set-cookie']) ?? ''}`;
    await request(app).get('/flash?m=again').set('Cookie', cookie).expect(302);
    await request(app).get('/flash?type=error&m=oops').set('Cookie', cookie).expect(302);
    expect((await request(app).get('/data').set('Cookie', cookie).expect(200)).body).toEqual({});
    expect((await request(app).get('/show').set('Cookie', cookie).expect(200)).body).toEqual(['saved', 'again']);
    expect((await request(app).get('/show').set('Cookie', cookie).expect(200)).body).toEqual([]);
    await request(app).get('/flash-object').set('Cookie', cookie).expect(200);
    expect((await request(app).get('/show-all').set('Cookie', cookie).expect(200)).body).toEqual({ error: ['oops'], toast: [{ text: 'saved', level: 2 }] });
    expect((await request(app).get('/show-all').set('Cookie', cookie).expect(200)).body).toEqual({});
  });

  it('should never show one flash to two tabs: 12 overlapping requests, each message shown exactly once', async () => {
    const { app } = flashApp(current());
    const cookie = `sessionid=${cookieValue((await request(app).get('/flash?m=m0').expect(302)).headers['set-cookie']) ?? ''}`;
    for (let i = 1; i < 4; i++) await request(app).get(`/flash?m=m${i}`).set('Cookie', cookie).expect(302);
    const shown = await Promise.all(Array.from({ length: 12 }, () => request(app).get('/show').set('Cookie', cookie).expect(200)));
    const all = shown.flatMap((r) => r.body as string[]);
    expect(all).toEqual(['m0', 'm1', 'm2', 'm3']);
    expect(shown.filter((r) => (r.body as string[]).length > 0)).toHaveLength(1);
  });

  it('should keep every flash queued by overlapping requests', async () => {
    const { app } = flashApp(current());
    const cookie = `sessionid=${cookieValue((await request(app).get('/flash?m=first').expect(302)).headers['set-cookie']) ?? ''}`;
    await Promise.all(Array.from({ length: 8 }, (_, i) => request(app).get(`/flash?m=p${i}`).set('Cookie', cookie).expect(302)));
    const shown = (await request(app).get('/show').set('Cookie', cookie).expect(200)).body as string[];
    expect(shown[0]).toBe('first');
    expect([...shown].sort()).toEqual(['first', 'p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
  });

  it('should create no session (no cookie, no write) for a visitor whose page only looks for flashes', async () => {
    const storage = current();
    const { app, sessions } = flashApp(storage);
    const res = await request(app).get('/show').expect(200);
    expect(res.body).toEqual([]);
    expect(res.headers['set-cookie']).toBeUndefined();
    if (storage.count) expect(await sessions.manager.count()).toBe(0);
  });

  it('should refuse a message that is not JSON data, and a bad type, storing nothing', async () => {
    const { app } = flashApp(current());
    const res = await request(app).get('/bad').expect(500);
    expect(res.body).toMatchObject({ code: 'ERR_SESSION_VALUE' });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect((await request(app).get('/flash?type=&m=x').expect(500)).body.message).toContain('flash type must be a non-empty string');
  });
});

describe('flashes() across two processes sharing a storage (two storage instances, two apps)', () => {
  const pairs: Array<[string, () => Promise<{ a: Storage; b: Storage; cleanup: () => Promise<void> }>]> = [
    ['FileStorage', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'sessionware-flash-'));
      const a = new FileStorage(dir);
      const b = new FileStorage(dir);
      return { a, b, cleanup: async () => { await a.close(); await b.close(); await rm(dir, { recursive: true, force: true }); } };
    }],
    ['RedisStorage', async () => {
      const url = await sharedRedisUrl();
      const [ca, cb] = [testClient(url), testClient(url)];
      const prefix = uniquePrefix('sw-flash');
      const a = new RedisStorage(ca, { prefix });
      const b = new RedisStorage(cb, { prefix });
      return { a, b, cleanup: async () => { await a.close(); await b.close(); await cleanupPrefix(ca, prefix); ca.disconnect(); cb.disconnect(); } };
    }],
  ];
  afterAll(stopSharedRedis);

  it.each(pairs)('should show each flash exactly once on %s, whichever process serves the tab', async (_name, make) => {
    const { a, b, cleanup } = await make();
    try {
      const [one, two] = [flashApp(a).app, flashApp(b).app];
      const cookie = `sessionid=${cookieValue((await request(one).get('/flash?m=m0').expect(302)).headers['set-cookie']) ?? ''}`;
      for (let i = 1; i < 6; i++) await request(i % 2 ? two : one).get(`/flash?m=m${i}`).set('Cookie', cookie).expect(302);
      const shown = await Promise.all(Array.from({ length: 16 }, (_, i) => request(i % 2 ? one : two).get('/show').set('Cookie', cookie).expect(200)));
      expect(shown.flatMap((r) => r.body as string[]).sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    } finally {
      await cleanup();
    }
  });
});
