/**
 * Redis round trips per request over real HTTP, counted with MONITOR: a read-only request on an
 * existing session sends exactly one command (the batched TTL refresh excluded), a write one
 * script, a logout one script (DEL of the session and of a forward); for both Redis storages. On
 * both, a request whose first operation is a write sends one script (`loadAndSet`), not GET /
 * HGETALL + script, and keeps every guarantee of the loaded path.
 */
import express from 'express';
import request from 'supertest';
import { generateId, session, type SessionOptions, type SessionRecord, type Storage } from 'sessionware';
import { RedisHashStorage, RedisStorage } from 'sessionware/redis';
import { cookieValue } from '../helpers/app';
import { commandCountApp, monitorCommands, uniquePrefix, useSharedRedis } from '../helpers/redis';

const PREFIX = uniquePrefix('sw-test-cmds');
const redis = useSharedRedis(PREFIX);

type RedisSessionStorage = Storage & { flush(): Promise<void>; readonly pendingTTLUpdates: number; close(): Promise<void> };

describe.each<[string, (prefix: string) => RedisSessionStorage, string]>([
  ['RedisStorage', (prefix) => new RedisStorage(redis.client, { prefix }), 'get'],
  ['RedisHashStorage', (prefix) => new RedisHashStorage(redis.client, { prefix }), 'hgetall'],
])('%s: commands per request (MONITOR)', (name, make, readCommand) => {
  const prefix = `${PREFIX}${name}:`;
  const monitor = monitorCommands(redis, prefix);

  it(`should read with one ${readCommand.toUpperCase()}, write with one script, refresh in a batch and log out with one script`, async () => {
    const storage = make(prefix);
    const app = commandCountApp(storage);
    await monitor.take();

    const id = cookieValue((await request(app).get('/set').expect(200)).headers['set-cookie']) as string;
    const written = await monitor.take();
    // One EVALSHA (plus one EVAL the first time this server sees the script).
    expect(written.map((c) => c[0])).toEqual(written.length > 1 ? ['evalsha', 'eval'] : ['evalsha']);

    await request(app).get('/read').set('Cookie', `sessionid=${id}`).expect(200, '"alice"');
    expect(await monitor.take()).toEqual([[readCommand, prefix + id]]);
    expect(storage.pendingTTLUpdates).toBe(1);

    await storage.flush();
    expect((await monitor.take()).map((c) => c.slice(0, 2))).toEqual([['pexpire', prefix + id]]);

    await request(app).get('/logout').set('Cookie', `sessionid=${id}`).expect(200);
    const logout = await monitor.take();
    expect(logout.map((c) => c[0])).toEqual(logout.length > 1 ? ['evalsha', 'eval'] : ['evalsha']);
    expect(logout[0]?.slice(2)).toEqual(['2', prefix + id, `{${prefix}${id}}>`]);
    await storage.close();
  });

  it('should move a session (login) with one script: old key, its forward key and the new key', async () => {
    const storage = make(prefix);
    const [oldId, newId] = [generateId(), generateId()];
    await storage.setSession(oldId, { set: new Map([['user', '"alice"']]), removed: new Set() }, 60_000, { create: true });
    await monitor.take();
    await expect(storage.moveSession?.(oldId, newId, { set: new Map(), removed: new Set() }, 60_000, { keep: undefined, forwardTTL: 1000 })).resolves.toEqual(new Map([['user', '"alice"']]));
    const moved = await monitor.take();
    expect(moved.map((c) => c[0])).toEqual(moved.length > 1 ? ['evalsha', 'eval'] : ['evalsha']);
    expect(moved[0]?.slice(2, 6)).toEqual(['3', prefix + oldId, `{${prefix}${oldId}}>`, prefix + newId]);
    await storage.close();
  });
});

const HOUR = 3_600_000;

describe.each<[string, (prefix: string) => RedisSessionStorage, string]>([
  ['RedisStorage', (prefix) => new RedisStorage(redis.client, { prefix }), 'get'],
  ['RedisHashStorage', (prefix) => new RedisHashStorage(redis.client, { prefix }), 'hgetall'],
])('%s: a write before any read is one script (loadAndSet)', (name, make, readCommand) => {
  const prefix = `${PREFIX}unloaded:${name}:`;
  const monitor = monitorCommands(redis, prefix);
  const scripts = (commands: string[][]) => commands.filter((c) => c[0] !== 'eval'); // EVAL: the first load of a script
  const names = (commands: string[][]) => scripts(commands).map((c) => c[0]);
  beforeEach(() => monitor.take()); // drop what the test before checked after its last take

  function app(options: SessionOptions = {}) {
    const storage = make(prefix);
    const a = express();
    a.use(session(storage, options));
    a.get('/set', async (req, res) => {
      await req.session.set('n', Number(req.query['n'] ?? 1));
      res.json((await req.session.get('user')) ?? null);
    });
    a.get('/read-set', async (req, res) => {
      await req.session.set('n', ((await req.session.get<number>('n')) ?? 0) + 1);
      res.send('ok');
    });
    a.get('/big', async (req, res) => {
      await req.session.set(String(req.query['key']), 'x'.repeat(Number(req.query['bytes'])));
      res.send('ok');
    });
    a.get('/remember', async (req, res) => {
      await req.session.set('user', 'alice');
      await req.session.setTTL(300_000);
      res.send('ok');
    });
    a.get('/login', async (req, res) => {
      await req.session.regenerate();
      res.send('ok');
    });
    a.get('/logout', async (req, res) => {
      await req.session.removeAll();
      res.send('bye');
    });
    a.use((err: Error & { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).json({ code: err.code });
    });
    return { app: a, storage };
  }

  /** Writes `key` as another request would (through a storage of its own). */
  async function written(id: string, key: string, text: string): Promise<void> {
    const other = make(prefix);
    await other.setSession(id, { set: new Map([[key, text]]), removed: new Set() }, HOUR, { create: false });
    await other.close();
  }

  /** The stored record, read by a storage of its own (its commands are counted: take them after). */
  async function stored(id: string): Promise<SessionRecord | undefined> {
    const other = make(prefix);
    const record = await other.getSession(id, HOUR);
    await other.close();
    return record;
  }

  /** The key's bytes as Redis serialises them (`DUMP`: a hash's fields or a string's bytes). */
  const dump = (id: string) => redis.client.dumpBuffer(prefix + id);

  async function seeded(a: express.Express, path = '/set?n=1'): Promise<string> {
    const id = cookieValue((await request(a).get(path).expect(200)).headers['set-cookie']) as string;
    await written(id, 'user', '"alice"');
    await monitor.take();
    return id;
  }

  it(`should write a session whose first operation is set() with one script and no ${readCommand.toUpperCase()}, loading it too`, async () => {
    const { app: a, storage } = app();
    const id = await seeded(a);
    const res = await request(a).get('/set?n=5').set('Cookie', `sessionid=${id}`).expect(200);
    expect(res.body).toBe('alice'); // get() after the write is answered from the record the script returned
    expect(res.headers['set-cookie']).toBeUndefined(); // the same id: nothing to tell the client
    const commands = await monitor.take();
    expect(names(commands)).toEqual(['evalsha']);
    expect(scripts(commands)[0]?.slice(2, 4)).toEqual(['1', prefix + id]);
    expect((await stored(id))?.get('n')).toBe('5');
    expect(storage.pendingTTLUpdates).toBe(0); // the write reset the TTL: no refresh queued
    await storage.close();
  });

  it('should still load first when the application reads first', async () => {
    const { app: a, storage } = app();
    const id = await seeded(a);
    await request(a).get('/read-set').set('Cookie', `sessionid=${id}`).expect(200);
    expect(names(await monitor.take())).toEqual([readCommand, 'evalsha']);
    expect((await stored(id))?.get('n')).toBe('2');
    await storage.close();
  });

  it('should treat an unknown id exactly as the loaded path does: nothing stored under it, a fresh id', async () => {
    const { app: a, storage } = app();
    const unknown = generateId();
    const res = await request(a).get('/set?n=3').set('Cookie', `sessionid=${unknown}`).expect(200);
    const commands = scripts(await monitor.take());
    const fresh = cookieValue(res.headers['set-cookie']) as string;
    expect(fresh).toBeDefined();
    expect(fresh).not.toBe(unknown);
    expect(commands.map((c) => c[3])).toEqual([prefix + unknown, prefix + fresh]); // the one-step try, then the new session
    expect(await redis.client.exists(prefix + unknown)).toBe(0);
    expect((await stored(fresh))?.get('n')).toBe('3');
    await storage.close();
  });

  it('should keep a logout a logout: a write with the old cookie gets a new session', async () => {
    const { app: a, storage } = app();
    const id = await seeded(a);
    await request(a).get('/logout').set('Cookie', `sessionid=${id}`).expect(200);
    const res = await request(a).get('/set?n=9').set('Cookie', `sessionid=${id}`).expect(200);
    expect(res.body).toBeNull(); // the new session has no user
    const fresh = cookieValue(res.headers['set-cookie']) as string;
    expect(fresh).not.toBe(id);
    expect(await redis.client.exists(prefix + id)).toBe(0);
    await storage.close();
  });

  it('should not follow the forward of a login: a write with the pre-login id never reaches the new session', async () => {
    const { app: a, storage } = app();
    const id = await seeded(a);
    const login = await request(a).get('/login').set('Cookie', `sessionid=${id}`).expect(200);
    const newId = cookieValue(login.headers['set-cookie']) as string;
    expect(await redis.client.exists(`{${prefix}${id}}>`)).toBe(1); // the forward is there
    const res = await request(a).get('/set?n=666').set('Cookie', `sessionid=${id}`).expect(200);
    expect(res.body).toBeNull();
    expect(cookieValue(res.headers['set-cookie'])).not.toBe(id);
    expect(cookieValue(res.headers['set-cookie'])).not.toBe(newId);
    expect((await stored(newId))?.get('n')).toBe('1');
    await storage.close();
  });

  it('should enforce maxSessionBytes against the stored session inside the script, writing nothing beyond it', async () => {
    const { app: a, storage } = app({ maxSessionBytes: 300 });
    const id = await seeded(a);
    await request(a).get('/big?key=big&bytes=150').set('Cookie', `sessionid=${id}`).expect(200);
    await monitor.take();
    // n (1 + 1) + user (4 + 7) + big (3 + 152) = 168 bytes stored
    await written(id, 'other', '"y"'); // by another request meanwhile: 5 + 3 bytes
    const res = await request(a).get('/set?n=1234567').set('Cookie', `sessionid=${id}`).expect(200);
    expect(res.body).toBe('alice');
    await monitor.take();
    const before = await stored(id);
    const raw = await dump(id); // the stored bytes, unchanged too
    await monitor.take();
    // now n (1 + 7) + user + big + other = 182 bytes: big2 (4 + 118) would make 304, over 300 only
    // because of the other request's write, which this request never loaded
    const big = await request(a).get('/big?key=big2&bytes=116').set('Cookie', `sessionid=${id}`).expect(500);
    expect(big.body).toEqual({ code: 'ERR_SESSION_VALUE' });
    expect(names(await monitor.take())).toEqual(['evalsha']); // one script, which wrote nothing
    expect(await stored(id)).toEqual(before);
    expect(await dump(id)).toEqual(raw);
    await storage.close();
  });

  it("should keep the session's own TTL (setTTL) and slide its cookie", async () => {
    const { app: a, storage } = app({ ttl: 24 * 60 * 60 * 1000 });
    const id = cookieValue((await request(a).get('/remember').expect(200)).headers['set-cookie']) as string;
    await redis.client.pexpire(prefix + id, 1000);
    await monitor.take();
    const res = await request(a).get('/set?n=2').set('Cookie', `sessionid=${id}`).expect(200);
    expect(names(await monitor.take())).toEqual(['evalsha']);
    const pttl = await redis.client.pttl(prefix + id);
    expect(pttl).toBeGreaterThan(290_000);
    expect(pttl).toBeLessThanOrEqual(300_000);
    expect(String(res.headers['set-cookie'])).toMatch(new RegExp(`sessionid=${id}; Max-Age=300;`));
    await storage.close();
  });

  it('should load first with absoluteTTL, and with duplicate cookies', async () => {
    const { app: a, storage } = app({ absoluteTTL: 60 * 60 * 1000 });
    const id = await seeded(a);
    await request(a).get('/set?n=2').set('Cookie', `sessionid=${id}`).expect(200);
    expect(names(await monitor.take())[0]).toBe(readCommand);
    await storage.close();
    const plain = app();
    const other = await seeded(plain.app);
    await request(plain.app).get('/set?n=2').set('Cookie', `sessionid=${generateId()}; sessionid=${other}`).expect(200);
    expect(names(await monitor.take())[0]).toBe(readCommand);
    expect((await stored(other))?.get('n')).toBe('2');
    await plain.storage.close();
  });
});
