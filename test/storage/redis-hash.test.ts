import request from 'supertest';
import express from 'express';
import type { Redis } from 'ioredis';
import { generateId, Manager, SessionOptionsError, session } from 'sessionware';
import { RedisHashStorage } from 'sessionware/redis';
import { cookieValue } from '../helpers/app';
import { cleanupPrefix, sharedRedisUrl, sleep, stopSharedRedis, testClient, uniquePrefix } from '../helpers/redis';
import { describeStorage } from '../helpers/storage-contract';

const PREFIX = uniquePrefix('sw-test-hash');
let client: Redis;

beforeAll(async () => {
  client = testClient(await sharedRedisUrl());
});
afterAll(async () => {
  await cleanupPrefix(client, PREFIX);
  client.disconnect();
  await stopSharedRedis();
});

describeStorage(
  'RedisHashStorage',
  async () => {
    const storage = new RedisHashStorage(client, { prefix: PREFIX });
    return { storage, advance: sleep, flush: () => storage.flush() };
  },
  { shortTTL: 300 },
);

const HOUR = 3_600_000;
const CREATE = { create: true } as const;
const UPDATE = { create: false } as const;

describe('RedisHashStorage', () => {
  it('should reject bad options with a SessionOptionsError', () => {
    expect(() => new RedisHashStorage(client, { updateTTLInterval: Number.NaN })).toThrow(SessionOptionsError);
    expect(() => new RedisHashStorage(client, { commandTimeout: 0 })).toThrow(SessionOptionsError);
  });

  it('should keep one hash field per key holding its JSON, so types survive', async () => {
    const storage = new RedisHashStorage(client, { prefix: PREFIX });
    const manager = new Manager({ storage, ttl: HOUR });
    const s = manager.new();
    await s.setMap({ n: 3, big: 12345678901234567, obj: { a: [1] }, str: '3' });
    const id = await s.id();
    await s.close();
    expect(await client.hgetall(PREFIX + id)).toEqual({ n: '3', big: '12345678901234568', obj: '{"a":[1]}', str: '"3"' });
    const again = manager.new(id);
    await expect(again.get('n')).resolves.toBe(3);
    await expect(again.get('str')).resolves.toBe('3');
    await again.close();
    await storage.close();
  });

  it('should set the TTL in the same step as every write', async () => {
    const storage = new RedisHashStorage(client, { prefix: PREFIX });
    const id = generateId();
    await storage.set(id, 'a', '1', 50_000, CREATE);
    expect(await client.pttl(PREFIX + id)).toBeGreaterThan(45_000);
    await storage.setMap(id, new Map([['b', '2']]), HOUR, UPDATE);
    expect(await client.pttl(PREFIX + id)).toBeGreaterThan(HOUR - 5000);
    await storage.setSession(id, { set: new Map([['c', '3']]), removed: new Set(['a']) }, 70_000, UPDATE);
    expect(await client.pttl(PREFIX + id)).toBeLessThanOrEqual(70_000);
    expect(await client.hgetall(PREFIX + id)).toEqual({ b: '2', c: '3' });
    await storage.close();
  });

  it('should not create a hash with create: false, nor with remove', async () => {
    const storage = new RedisHashStorage(client, { prefix: PREFIX });
    const id = generateId();
    await expect(storage.set(id, 'a', '1', HOUR, UPDATE)).resolves.toBe(false);
    await storage.remove(id, ['a']);
    expect(await client.exists(PREFIX + id)).toBe(0);
    await storage.close();
  });

  it('should end a session whose last key is removed (a hash cannot be empty)', async () => {
    const storage = new RedisHashStorage(client, { prefix: PREFIX });
    const id = generateId();
    await storage.set(id, 'a', '1', HOUR, CREATE);
    await storage.remove(id, ['a']);
    await expect(storage.getSession(id)).resolves.toBeUndefined();
    await expect(storage.getSize(id)).resolves.toBe(0);
    await expect(storage.data(id)).resolves.toEqual(new Map());
    await storage.close();
  });

  describe('commands per request (MONITOR)', () => {
    let monitor: Awaited<ReturnType<Redis['monitor']>>;
    let seen: string[][];
    beforeAll(async () => {
      monitor = await client.monitor();
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (!source.includes('lua') && args.some((a) => a.includes(PREFIX))) seen.push(args.map((a, i) => (i === 0 ? a.toLowerCase() : a)));
      });
    });
    afterAll(() => monitor.disconnect());

    it('should read with one HGETALL, write with one script, log out with one DEL', async () => {
      const storage = new RedisHashStorage(client, { prefix: PREFIX });
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
      expect(seen.map((c) => c[0])).toEqual(seen.length > 1 ? ['evalsha', 'eval'] : ['evalsha']);

      seen = [];
      await request(app).get('/read').set('Cookie', `sessionid=${id}`).expect(200, '"alice"');
      await settle();
      expect(seen).toEqual([['hgetall', PREFIX + id]]); // the key came with HGETALL: no HGET
      expect(storage.pendingTTLUpdates).toBe(1);

      seen = [];
      await request(app).get('/logout').set('Cookie', `sessionid=${id}`).expect(200);
      await settle();
      expect(seen).toEqual([['del', PREFIX + id]]);
      await storage.close();
    });
  });
});
