import { generateId, Manager, SessionOptionsError } from 'sessionware';
import { RedisHashStorage } from 'sessionware/redis';
import { sleep, uniquePrefix, useSharedRedis } from '../helpers/redis';
import { describeStorage } from 'sessionware/testing';

const PREFIX = uniquePrefix('sw-test-hash');
const redis = useSharedRedis(PREFIX);

describeStorage(
  'RedisHashStorage',
  async () => {
    const storage = new RedisHashStorage(redis.client, { prefix: PREFIX });
    return { storage, advance: sleep, flush: () => storage.flush() };
  },
  { shortTTL: 300 },
);

const HOUR = 3_600_000;
const CREATE = { create: true } as const;
const UPDATE = { create: false } as const;

describe('RedisHashStorage', () => {
  it('should reject bad options with a SessionOptionsError', () => {
    expect(() => new RedisHashStorage(redis.client, { updateTTLInterval: Number.NaN })).toThrow(SessionOptionsError);
    expect(() => new RedisHashStorage(redis.client, { commandTimeout: 0 })).toThrow(SessionOptionsError);
  });

  it('should keep one hash field per key holding its JSON, so types survive', async () => {
    const storage = new RedisHashStorage(redis.client, { prefix: PREFIX });
    const manager = new Manager({ storage, ttl: HOUR });
    const s = manager.new();
    await s.setMap({ n: 3, big: 12345678901234567, obj: { a: [1] }, str: '3' });
    const id = await s.id();
    await s.close();
    expect(await userFields(PREFIX + id)).toEqual({ n: '3', big: '12345678901234568', obj: '{"a":[1]}', str: '"3"' });
    const again = manager.new(id);
    await expect(again.get('n')).resolves.toBe(3);
    await expect(again.get('str')).resolves.toBe('3');
    await again.close();
    await storage.close();
  });

  it('should set the TTL in the same step as every write', async () => {
    const storage = new RedisHashStorage(redis.client, { prefix: PREFIX });
    const id = generateId();
    await storage.set(id, 'a', '1', 50_000, CREATE);
    expect(await redis.client.pttl(PREFIX + id)).toBeGreaterThan(45_000);
    await storage.setMap(id, new Map([['b', '2']]), HOUR, UPDATE);
    expect(await redis.client.pttl(PREFIX + id)).toBeGreaterThan(HOUR - 5000);
    await storage.setSession(id, { set: new Map([['c', '3']]), removed: new Set(['a']) }, 70_000, UPDATE);
    expect(await redis.client.pttl(PREFIX + id)).toBeLessThanOrEqual(70_000);
    expect(await userFields(PREFIX + id)).toEqual({ b: '2', c: '3' });
    await storage.close();
  });

  it('should not create a hash with create: false, nor with remove', async () => {
    const storage = new RedisHashStorage(redis.client, { prefix: PREFIX });
    const id = generateId();
    await expect(storage.set(id, 'a', '1', HOUR, UPDATE)).resolves.toBe(false);
    await storage.remove(id, ['a']);
    expect(await redis.client.exists(PREFIX + id)).toBe(0);
    await storage.close();
  });

  it('should keep a session whose last key is removed, by a reserved field users never see', async () => {
    const storage = new RedisHashStorage(redis.client, { prefix: PREFIX });
    const id = generateId();
    await storage.set(id, 'a', '1', HOUR, CREATE);
    await storage.remove(id, ['a']);
    await expect(storage.getSession(id)).resolves.toEqual(new Map());
    await expect(storage.getSize(id)).resolves.toBe(0);
    await expect(storage.data(id)).resolves.toEqual(new Map());
    await expect(storage.set(id, 'b', '2', HOUR, UPDATE)).resolves.toBe(true);
    await expect(storage.get(id, 'b')).resolves.toBe('2');
    const fields = await redis.client.hgetallBuffer(PREFIX + id);
    expect(Object.keys(fields)).toHaveLength(2); // 'b' and the reserved field
    await storage.close();
  });

  it('should keep user keys apart from the reserved field, whatever they decode to', async () => {
    const storage = new RedisHashStorage(redis.client, { prefix: PREFIX });
    const id = generateId();
    // U+FFFD is what ioredis decodes the reserved byte 0xFF to; '' and '\u00ff' are near it too
    const record = new Map([['\ufffd', '1'], ['', '2'], ['\u00ff', '3'], ['s1', '4']]);
    await storage.setSession(id, { set: record, removed: new Set() }, HOUR, CREATE);
    await expect(storage.getSession(id)).resolves.toEqual(record);
    await expect(storage.getSize(id)).resolves.toBe(4);
    await storage.remove(id, ['\ufffd', '', '\u00ff', 's1']);
    await expect(storage.getSession(id)).resolves.toEqual(new Map());
    await expect(storage.setSession(id, { set: new Map([['x', '1']]), removed: new Set() }, HOUR, UPDATE)).resolves.toBe(true);
    await expect(storage.data(id)).resolves.toEqual(new Map([['x', '1']]));
    await storage.close();
  });

  it('should read hashes written by earlier versions (no reserved field)', async () => {
    const storage = new RedisHashStorage(redis.client, { prefix: PREFIX });
    const id = generateId();
    await redis.client.hset(PREFIX + id, { user: '"alice"' });
    await redis.client.pexpire(PREFIX + id, HOUR);
    await expect(storage.getSession(id)).resolves.toEqual(new Map([['user', '"alice"']]));
    await expect(storage.getSize(id)).resolves.toBe(1);
    await expect(storage.setSession(id, { set: new Map([['n', '1']]), removed: new Set(['user']) }, HOUR, UPDATE)).resolves.toBe(true);
    await expect(storage.getSession(id)).resolves.toEqual(new Map([['n', '1']]));
    await storage.close();
  });
});

/** The hash's fields without the reserved one (field 0xFF, which ioredis decodes as U+FFFD). */
async function userFields(key: string): Promise<Record<string, string>> {
  const all = await redis.client.hgetallBuffer(key);
  return Object.fromEntries(Object.entries(all).filter(([field]) => field !== '\ufffd').map(([k, v]) => [k, v.toString()]));
}
