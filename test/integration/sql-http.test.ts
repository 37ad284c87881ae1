/**
 * The SQL storages over real HTTP on the real servers: overlapping requests on disjoint keys keep
 * every write, a logout wins against a slow writer, a regenerate forwards late writes, and the
 * statements each request sends are counted at the pool (a read-only request costs exactly one).
 */
import request from 'supertest';
import express from 'express';
import { generateId, session, SessionValueError } from 'sessionware';
import { buildApp, cookieValue } from '../helpers/app';
import { commandCountApp } from '../helpers/redis';
import { STORAGES, type StorageInstance } from '../helpers/storages';
import { countedSqlStorage, type CountedSqlStorage } from '../helpers/sql-storage';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const plainRecord = (record: ReadonlyMap<string, string> | undefined) => record && Object.fromEntries([...record].map(([k, v]) => [k, JSON.parse(v) as unknown]));

describe.each(STORAGES.filter((s) => s.name === 'PostgresStorage' || s.name === 'MysqlStorage'))('$name over HTTP', (setup) => {
  let instance: StorageInstance;
  let app: express.Express;
  beforeEach(async () => {
    instance = await setup.create();
    app = buildApp(express, instance.storage);
  });
  afterEach(() => instance.cleanup());

  async function login(): Promise<string> {
    const res = await request(app).get('/set?k=user&v=alice').expect(200);
    return cookieValue(res.headers['set-cookie']) as string;
  }

  it('should keep every write of overlapping requests on disjoint keys', async () => {
    const cookie = `sessionid=${await login()}`;
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => request(app).get(`/slow-set?k=k${i}&v=${i}&ms=${40 + ((i * 37) % 150)}`).set('Cookie', cookie).expect(200)),
    );
    const expected: Record<string, string> = { user: 'alice' };
    for (let i = 0; i < 8; i++) expected[`k${i}`] = String(i);
    await request(app).get('/data').set('Cookie', cookie).expect(200, expected);
  });

  it('should not let a slow writer resurrect a session logged out meanwhile', async () => {
    const id = await login();
    const cookie = `sessionid=${id}`;
    const slow = request(app).get('/slow-set?k=cart&v=late&ms=300').set('Cookie', cookie).then((r) => r);
    await sleep(100);
    await request(app).get('/logout').set('Cookie', cookie).expect(200);
    const late = await slow;
    expect(late.status).toBe(200);
    expect(cookieValue(late.headers['set-cookie']) ?? '').not.toBe(id);
    await expect(instance.storage.getSession(id, 60_000)).resolves.toBeUndefined();
    await request(app).get('/data').set('Cookie', cookie).expect(200, {});
  });

  it('should give a regenerated session a new id, the old one adopting nothing', async () => {
    const id = await login();
    const res = await request(app).get('/regenerate').set('Cookie', `sessionid=${id}`).expect(200);
    const next = cookieValue(res.headers['set-cookie']) as string;
    expect(next).not.toBe(id);
    await request(app).get('/data').set('Cookie', `sessionid=${next}`).expect(200, { user: 'alice' });
    const old = await request(app).get('/data').set('Cookie', `sessionid=${id}`).expect(200, {});
    expect(cookieValue(old.headers['set-cookie']) ?? '').not.toBe(id);
  });
});

describe.each([
  ['PostgresStorage', 'pg'],
  ['MysqlStorage', 'mysql'],
] as const)('statements per request on %s', (_name, kind) => {
  let storage: CountedSqlStorage['storage'];
  let take: () => Promise<string[]>;
  let cleanup: () => Promise<void>;
  let app: express.Express;

  beforeAll(async () => {
    const sql = await countedSqlStorage(kind, 'sw_count');
    ({ storage, take, cleanup } = sql);
    app = commandCountApp(storage);
  });
  afterAll(() => cleanup());

  it('should cost one statement for a new session, one per read-only request (TTL refreshes batched), and one per logout', async () => {
    const res = await request(app).get('/set').expect(200);
    const cookie = `sessionid=${cookieValue(res.headers['set-cookie']) as string}`;
    expect(await take()).toHaveLength(1);
    for (let i = 0; i < 5; i++) await request(app).get('/read').set('Cookie', cookie).expect(200, '"alice"');
    expect(await take()).toHaveLength(5);
    await storage.flush();
    expect(await take()).toHaveLength(1); // one batched refresh for all five reads
    await request(app).get('/untouched').set('Cookie', cookie).expect(404);
    expect(await take()).toHaveLength(0);
    await request(app).get('/logout').set('Cookie', cookie).expect(200);
    expect(await take()).toHaveLength(1);
  });

  it('should cost one statement per contract call on a live session', async () => {
    const id = generateId();
    const next = generateId();
    const none = { set: new Map<string, string>(), removed: new Set<string>() };
    const one = (k: string, v: string, removed: string[] = []) => ({ set: new Map([[k, v]]), removed: new Set(removed) });
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['setSession (create)', () => storage.setSession(id, one('a', '1'), 60_000, { create: true })],
      ['getSession', () => storage.getSession(id, 60_000)],
      ['setSession (update)', () => storage.setSession(id, one('b', '2', ['x']), 60_000, { create: false })],
      ['compareAndSet', () => storage.compareAndSet?.(id, 'a', '1', '2', 60_000, { create: false }) as Promise<unknown>],
      ['count', () => storage.count?.() as Promise<unknown>],
      ['updateTTL + flush', () => storage.updateTTL(id, 60_000).then(() => storage.flush())],
      ['moveSession', () => storage.moveSession(id, next, one('c', '3'), 60_000, { keep: undefined, forwardTTL: 60_000 })],
      ['moveSession (keep)', async () => {
        const other = generateId();
        await storage.setSession(other, one('a', '1'), 60_000, { create: true });
        await take();
        return storage.moveSession(other, generateId(), one('c', '3'), 60_000, { keep: new Set(['a', 'c']), forwardTTL: 60_000 });
      }],
      ['moveSession (gone)', () => storage.moveSession(generateId(), generateId(), none, 60_000, { keep: undefined, forwardTTL: 60_000 })],
      ['removeAll', () => storage.removeAll(next)],
    ];
    const counts: Record<string, number> = {};
    for (const [name, call] of calls) {
      await take();
      await call();
      counts[name] = (await take()).length;
    }
    expect(counts).toEqual(Object.fromEntries(calls.map(([name]) => [name, 1])));
    // A write to an id that is gone: PostgreSQL tells "gone" from "a forward" in the same
    // statement; MySQL (no RETURNING, no data-modifying CTE) asks once more.
    await storage.setSession(generateId(), none, 60_000, { create: false });
    expect(await take()).toHaveLength(kind === 'pg' ? 1 : 2);
  });

  it('should log in (regenerate with keep) in one statement and still see the data in that request', async () => {
    const login = express();
    login.use(session(storage));
    login.get('/cart', async (req, res) => {
      await req.session.setMap({ cart: ['book'], tracking: 1 });
      res.send('ok');
    });
    login.get('/login', async (req, res) => {
      await req.session.regenerate({ keep: ['cart'] });
      await req.session.set('user', 'bob');
      res.json(await req.session.data());
    });
    const first = await request(login).get('/cart').expect(200);
    const cookie = `sessionid=${cookieValue(first.headers['set-cookie']) as string}`;
    await take();
    const res = await request(login).get('/login').set('Cookie', cookie).expect(200, { cart: ['book'], user: 'bob' });
    expect(await take()).toHaveLength(3); // the load, the move, the write at close
    const next = cookieValue(res.headers['set-cookie']) as string;
    expect(plainRecord(await storage.getSession(next, 60_000))).toEqual({ cart: ['book'], user: 'bob' });
  });

  it('should cost two statements for a read-modify-write request (the read, then one merge)', async () => {
    const res = await request(app).get('/set').expect(200);
    const cookie = `sessionid=${cookieValue(res.headers['set-cookie']) as string}`;
    await take();
    await request(app).get('/set').set('Cookie', cookie).expect(200);
    expect(await take()).toHaveLength(2);
  });
});

describe.each(STORAGES.filter((s) => s.name === 'PostgresStorage'))('a key $name cannot hold, over HTTP', (setup) => {
  const BAD = 'a\u0000b';
  it.each(['set', 'setMap', 'update', 'remove'])('should reject %s() of it at the call with a SessionValueError naming the key, writing nothing', async (op) => {
    const instance = await setup.create();
    try {
      const app = express();
      app.use(session(instance.storage));
      app.get('/login', async (req, res) => {
        await req.session.set('user', 'alice');
        res.send('ok');
      });
      app.get('/bad', async (req, res) => {
        const s = req.session;
        const call = op === 'set' ? s.set(BAD, 1) : op === 'setMap' ? s.setMap({ fine: 1, [BAD]: 2 }) : op === 'update' ? s.update(BAD, () => 1) : s.remove('user', BAD);
        const err: unknown = await call.then(() => null, (e: unknown) => e);
        res.status(err ? 400 : 200).json({ value: err instanceof SessionValueError, key: err instanceof SessionValueError ? err.key : null, escaped: err instanceof Error && err.message.includes('"a\\u0000b"') });
      });
      const login = await request(app).get('/login').expect(200);
      const id = cookieValue(login.headers['set-cookie']) as string;
      const res = await request(app).get('/bad').set('Cookie', `sessionid=${id}`);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ value: true, key: BAD, escaped: true });
      expect(await instance.storage.getSession(id, 60_000)).toEqual(new Map([['user', '"alice"']]));
    } finally {
      await instance.cleanup();
    }
  });
});
