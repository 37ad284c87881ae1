import request from 'supertest';
import express from 'express';
import type { Redis } from 'ioredis';
import { CorruptSessionError, generateId, SessionOptionsError, session, type StorageError } from 'sessionware';
import { RedisStorage } from 'sessionware/redis';
import { cookieValue } from '../helpers/app';
import { cleanupPrefix, sharedRedisUrl, sleep, stopSharedRedis, testClient, uniquePrefix } from '../helpers/redis';
import { describeStorage } from '../helpers/storage-contract';

const PREFIX = uniquePrefix('sw-test-kv');
let url: string;
let client: Redis;

beforeAll(async () => {
  url = await sharedRedisUrl();
  client = testClient(url);
});
afterAll(async () => {
  await cleanupPrefix(client, PREFIX);
  client.disconnect();
  await stopSharedRedis();
});

describeStorage(
  'RedisStorage',
  async () => {
    const storage = new RedisStorage(client, { prefix: PREFIX });
    return { storage, advance: sleep, flush: () => storage.flush() };
  },
  { shortTTL: 300 },
);

const ONE = { set: new Map([['a', '1']]), removed: new Set<string>() };
const CREATE = { create: true } as const;
const HOUR = 3_600_000;

describe('RedisStorage', () => {
  it('should reject bad options with a SessionOptionsError', () => {
    expect(() => new RedisStorage(client, { updateTTLInterval: 0 })).toThrow(SessionOptionsError);
    expect(() => new RedisStorage(client, { commandTimeout: -1 })).toThrow(SessionOptionsError);
    expect(() => new RedisStorage(client, { prefix: 3 as unknown as string })).toThrow(SessionOptionsError);
    expect(() => new RedisStorage(undefined as unknown as Redis)).toThrow(/ioredis/);
  });

  it('should store the session as one JSON object of JSON texts under prefix + id, with a PX expiry', async () => {
    const storage = new RedisStorage(client, { prefix: PREFIX });
    const id = generateId();
    await storage.setSession(id, { set: new Map([['n', '12345678901234567890'], ['1', '"one"'], ['x', '{}']]), removed: new Set() }, HOUR, CREATE);
    const raw = await client.get(PREFIX + id);
    expect(JSON.parse(raw as string)).toEqual({ n: '12345678901234567890', '1': '"one"', x: '{}' });
    const pttl = await client.pttl(PREFIX + id);
    expect(pttl).toBeGreaterThan(HOUR - 5000);
    expect(pttl).toBeLessThanOrEqual(HOUR);
    await storage.close();
  });

  it('should keep an emptied session as an empty object, still existing', async () => {
    const storage = new RedisStorage(client, { prefix: PREFIX });
    const id = generateId();
    await storage.setSession(id, ONE, HOUR, CREATE);
    await expect(storage.setSession(id, { set: new Map(), removed: new Set(['a']) }, HOUR, { create: false })).resolves.toBe(true);
    expect(await client.get(PREFIX + id)).toBe('{}');
    expect(await storage.getSession(id)).toEqual(new Map());
    await storage.close();
  });

  it('should treat a corrupt value as a missing session and report it to onError', async () => {
    const errors: StorageError[] = [];
    const storage = new RedisStorage(client, { prefix: PREFIX, onError: (e) => errors.push(e) });
    const id = generateId();
    await client.set(PREFIX + id, 'not json', 'PX', HOUR);
    await expect(storage.getSession(id)).resolves.toBeUndefined();
    expect(errors[0]).toBeInstanceOf(CorruptSessionError);
    expect(errors[0]?.message).not.toContain(id);
    await expect(storage.setSession(id, ONE, HOUR, { create: false })).resolves.toBe(false);
    await storage.close();
  });

  it('should batch long-TTL refreshes until flush, and send short-TTL refreshes at once', async () => {
    const storage = new RedisStorage(client, { prefix: PREFIX, updateTTLInterval: 60_000 });
    const [long, short] = [generateId(), generateId()];
    await storage.setSession(long, ONE, 200_000, CREATE);
    await storage.setSession(short, ONE, 5_000, CREATE);
    await storage.updateTTL(long, HOUR);
    await storage.updateTTL(short, 100_000); // < 2 intervals: at once
    expect(storage.pendingTTLUpdates).toBe(1);
    expect(await client.pttl(PREFIX + long)).toBeLessThanOrEqual(200_000);
    expect(await client.pttl(PREFIX + short)).toBeGreaterThan(90_000);
    await storage.flush();
    expect(storage.pendingTTLUpdates).toBe(0);
    expect(await client.pttl(PREFIX + long)).toBeGreaterThan(HOUR - 5000);
    await storage.close();
  });

  it('should flush by itself every updateTTLInterval, and on close', async () => {
    const storage = new RedisStorage(client, { prefix: PREFIX, updateTTLInterval: 100 });
    const id = generateId();
    await storage.setSession(id, ONE, 5_000, CREATE);
    await storage.updateTTL(id, 60_000);
    await sleep(400);
    expect(await client.pttl(PREFIX + id)).toBeGreaterThan(50_000);
    await storage.updateTTL(id, HOUR);
    await storage.close();
    expect(await client.pttl(PREFIX + id)).toBeGreaterThan(HOUR - 5000);
    expect(client.status).toBe('ready'); // a client passed in stays open
  });

  it('should create, own and close its client when given connection options', async () => {
    const { port, hostname } = new URL(url);
    const storage = new RedisStorage({ host: hostname, port: Number(port) }, { prefix: PREFIX });
    const id = generateId();
    await storage.setSession(id, ONE, HOUR, CREATE);
    await expect(storage.getSession(id)).resolves.toEqual(new Map([['a', '1']]));
    await storage.close();
    expect(storage.client.status).toBe('end');
    const fromUrl = new RedisStorage(url, { prefix: PREFIX });
    await expect(fromUrl.getSession(id)).resolves.toEqual(new Map([['a', '1']]));
    await fromUrl.close();
  });

  describe('commands per request (MONITOR)', () => {
    let monitor: Awaited<ReturnType<Redis['monitor']>>;
    let seen: string[][];
    beforeAll(async () => {
      monitor = await client.monitor();
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        // Commands a script runs show up with source "lua": only what the client sent counts.
        if (!source.includes('lua') && args.some((a) => a.includes(PREFIX))) seen.push(args.map((a, i) => (i === 0 ? a.toLowerCase() : i === 1 && a.length > 60 ? `${a.slice(0, 8)}…` : a)));
      });
    });
    afterAll(() => monitor.disconnect());

    it('should send exactly one command for a read-only request, one for a write, one for a logout', async () => {
      const storage = new RedisStorage(client, { prefix: PREFIX });
      const app = express();
      app.use(session(storage));
      app.get('/set', async (req, res) => {
        await req.session.set('user', 'alice');
        res.send('ok');
      });
      app.get('/read', async (req, res) => {
        res.json(await req.session.get('user'));
      });
      app.get('/logout', async (req, res) => {
        await req.session.removeAll();
        res.send('bye');
      });
      const settle = () => sleep(150);

      seen = [];
      const id = cookieValue((await request(app).get('/set').expect(200)).headers['set-cookie']) as string;
      await settle();
      // One EVALSHA (plus one EVAL the first time this server sees the script).
      expect(seen.map((c) => c[0])).toEqual(seen.length > 1 ? ['evalsha', 'eval'] : ['evalsha']);

      seen = [];
      await request(app).get('/read').set('Cookie', `sessionid=${id}`).expect(200, '"alice"');
      await settle();
      expect(seen).toEqual([['get', PREFIX + id]]);
      expect(storage.pendingTTLUpdates).toBe(1);

      seen = [];
      await storage.flush();
      await settle();
      expect(seen.map((c) => c.slice(0, 2))).toEqual([['pexpire', PREFIX + id]]);

      seen = [];
      await request(app).get('/logout').set('Cookie', `sessionid=${id}`).expect(200);
      await settle();
      expect(seen).toEqual([['del', PREFIX + id]]);
      await storage.close();
    });
  });
});
