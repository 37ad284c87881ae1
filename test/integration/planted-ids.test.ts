/**
 * A well-formed but unknown id planted as a duplicate cookie (from a sibling subdomain or a longer
 * path: `sessionid=<planted>; sessionid=<real>`) must not log the user out: the session tries the
 * next id the client sent, adopts only one the storage knows (strict mode), and never clears the
 * real cookie.
 */
import express from 'express';
import request from 'supertest';
import { generateId, Manager, MemoryStorage, session, type Storage } from 'sessionware';
import { wrap } from '../helpers/app';

async function seed(storage: Storage, values: Record<string, unknown>): Promise<string> {
  const s = new Manager({ storage }).new();
  await s.setMap(values);
  const id = await s.id();
  await s.close();
  return id;
}

describe('planted duplicate ids', () => {
  let storage: MemoryStorage;
  let loads: string[];
  let app: express.Express;
  beforeEach(() => {
    storage = new MemoryStorage();
    loads = [];
    const getSession = storage.getSession.bind(storage);
    storage.getSession = (id, ttl) => {
      loads.push(id);
      return getSession(id, ttl);
    };
    app = express();
    app.use(session(storage));
    app.get('/me', wrap(async (req, res) => {
      res.json({ user: (await req.session.get('user')) ?? null });
    }));
    app.get('/count', wrap(async (req, res) => {
      res.json({ n: await req.session.increment('n') });
    }));
    app.get('/logout', wrap(async (req, res) => {
      await req.session.removeAll();
      res.send('bye');
    }));
  });
  afterEach(() => storage.close());

  it('should find the real session behind a planted, well-formed, unknown id, and set no cookie', async () => {
    const real = await seed(storage, { user: 'ada' });
    const planted = generateId();
    loads = [];
    const res = await request(app).get('/me').set('Cookie', `sessionid=${planted}; sessionid=${real}`).expect(200);
    expect(res.body).toEqual({ user: 'ada' });
    expect(res.headers['set-cookie']).toBeUndefined(); // neither cleared nor replaced
    expect(loads).toEqual([planted, real]);
  });

  it('should write to the real session behind the planted id, without a new id', async () => {
    const real = await seed(storage, { user: 'ada', n: 1 });
    const res = await request(app).get('/count').set('Cookie', `sessionid=${generateId()}; sessionid=${real}`).expect(200);
    expect(res.body).toEqual({ n: 2 });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect((await storage.getSession(real, 60_000))?.get('n')).toBe('2');
  });

  it('should look at most at 4 values (4 getSession calls) and never adopt an unknown id', async () => {
    const real = await seed(storage, { user: 'ada' });
    const planted = [generateId(), generateId(), generateId()];
    loads = [];
    const found = await request(app).get('/me').set('Cookie', [...planted, real].map((v) => `sessionid=${v}`).join('; ')).expect(200);
    expect(found.body).toEqual({ user: 'ada' });
    expect(loads).toHaveLength(4);

    loads = [];
    const fifth = await request(app).get('/me').set('Cookie', [...planted, generateId(), real].map((v) => `sessionid=${v}`).join('; ')).expect(200);
    expect(fifth.body).toEqual({ user: null }); // the fifth value is not looked at
    expect(loads).toHaveLength(4);
    expect(fifth.headers['set-cookie']).toBeUndefined(); // duplicates: nothing is cleared

    const fresh = await request(app).get('/count').set('Cookie', planted.map((v) => `sessionid=${v}`).join('; ')).expect(200);
    expect(fresh.body).toEqual({ n: 1 });
    const sent = String(fresh.headers['set-cookie']).split(';')[0]?.split('=')[1];
    expect(planted).not.toContain(sent); // strict mode: a new id, never one of the unknown ones
    for (const id of planted) await expect(storage.getSession(id, 60_000)).resolves.toBeUndefined();
  });

  it('should try the next id of a duplicated header too', async () => {
    const real = await seed(storage, { user: 'ada' });
    const res = await request(app).get('/me').set('sessionid', `${generateId()}, ${real}`).expect(200);
    expect(res.body).toEqual({ user: 'ada' });
    expect(res.headers['sessionid']).toBeUndefined();
  });

  it('should load only once when the first id is known, and not at all for a single unknown id beyond it', async () => {
    const real = await seed(storage, { user: 'ada' });
    loads = [];
    await request(app).get('/me').set('Cookie', `sessionid=${real}; sessionid=${generateId()}`).expect(200);
    expect(loads).toEqual([real]);
  });

  it('should still log out (and clear the cookie) through the real id behind a planted one', async () => {
    const real = await seed(storage, { user: 'ada' });
    const res = await request(app).get('/logout').set('Cookie', `sessionid=${generateId()}; sessionid=${real}`).expect(200);
    expect(String(res.headers['set-cookie'])).toMatch(/^sessionid=;/);
    await expect(storage.getSession(real, 60_000)).resolves.toBeUndefined();
  });
});
