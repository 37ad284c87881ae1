import { CorruptSessionError, generateId, SessionOptionsError, type StorageError } from 'sessionware';
import { RedisStorage } from 'sessionware/redis';
import { sleep, uniquePrefix, useSharedRedis } from '../helpers/redis';
import { describeStorage } from 'sessionware/testing';

const PREFIX = uniquePrefix('sw-test-kv');
const redis = useSharedRedis(PREFIX);

describeStorage(
  'RedisStorage',
  async () => {
    const storage = new RedisStorage(redis.client, { prefix: PREFIX });
    return { storage, advance: sleep, flush: () => storage.flush() };
  },
  { shortTTL: 300 },
);

const ONE = { set: new Map([['a', '1']]), removed: new Set<string>() };
const CREATE = { create: true } as const;
const HOUR = 3_600_000;

describe('RedisStorage', () => {
  it('should reject bad options with a SessionOptionsError', () => {
    expect(() => new RedisStorage(redis.client, { updateTTLInterval: 0 })).toThrow(SessionOptionsError);
    expect(() => new RedisStorage(redis.client, { commandTimeout: -1 })).toThrow(SessionOptionsError);
    expect(() => new RedisStorage(redis.client, { prefix: 3 as unknown as string })).toThrow(SessionOptionsError);
    expect(() => new RedisStorage(undefined as unknown as string)).toThrow(/ioredis/);
  });

  it('should store the session as one JSON object of JSON texts under prefix + id, with a PX expiry', async () => {
    const storage = new RedisStorage(redis.client, { prefix: PREFIX });
    const id = generateId();
    await storage.setSession(id, { set: new Map([['n', '12345678901234567890'], ['1', '"one"'], ['x', '{}']]), removed: new Set() }, HOUR, CREATE);
    const raw = await redis.client.get(PREFIX + id);
    expect(JSON.parse(raw as string)).toEqual({ n: '12345678901234567890', '1': '"one"', x: '{}' });
    const pttl = await redis.client.pttl(PREFIX + id);
    expect(pttl).toBeGreaterThan(HOUR - 5000);
    expect(pttl).toBeLessThanOrEqual(HOUR);
    await storage.close();
  });

  it('should keep an emptied session as an empty object, still existing', async () => {
    const storage = new RedisStorage(redis.client, { prefix: PREFIX });
    const id = generateId();
    await storage.setSession(id, ONE, HOUR, CREATE);
    await expect(storage.setSession(id, { set: new Map(), removed: new Set(['a']) }, HOUR, { create: false })).resolves.toBe(true);
    expect(await redis.client.get(PREFIX + id)).toBe('{}');
    expect(await storage.getSession(id)).toEqual(new Map());
    await storage.close();
  });

  it('should treat a corrupt value as a missing session and report it to onError', async () => {
    const errors: StorageError[] = [];
    const storage = new RedisStorage(redis.client, { prefix: PREFIX, onError: (e) => errors.push(e) });
    const id = generateId();
    await redis.client.set(PREFIX + id, 'not json', 'PX', HOUR);
    await expect(storage.getSession(id)).resolves.toBeUndefined();
    expect(errors[0]).toBeInstanceOf(CorruptSessionError);
    expect(errors[0]?.message).not.toContain(id);
    await expect(storage.setSession(id, ONE, HOUR, { create: false })).resolves.toBe(false);
    await storage.close();
  });

  it('should batch long-TTL refreshes until flush, and send short-TTL refreshes at once', async () => {
    const storage = new RedisStorage(redis.client, { prefix: PREFIX, updateTTLInterval: 60_000 });
    const [long, short] = [generateId(), generateId()];
    await storage.setSession(long, ONE, 200_000, CREATE);
    await storage.setSession(short, ONE, 5_000, CREATE);
    await storage.updateTTL(long, HOUR);
    await storage.updateTTL(short, 100_000); // < 2 intervals: at once
    expect(storage.pendingTTLUpdates).toBe(1);
    expect(await redis.client.pttl(PREFIX + long)).toBeLessThanOrEqual(200_000);
    expect(await redis.client.pttl(PREFIX + short)).toBeGreaterThan(90_000);
    await storage.flush();
    expect(storage.pendingTTLUpdates).toBe(0);
    expect(await redis.client.pttl(PREFIX + long)).toBeGreaterThan(HOUR - 5000);
    await storage.close();
  });

  it('should flush by itself every updateTTLInterval, and on close', async () => {
    const storage = new RedisStorage(redis.client, { prefix: PREFIX, updateTTLInterval: 100 });
    const id = generateId();
    await storage.setSession(id, ONE, 5_000, CREATE);
    await storage.updateTTL(id, 60_000);
    await sleep(400);
    expect(await redis.client.pttl(PREFIX + id)).toBeGreaterThan(50_000);
    await storage.updateTTL(id, HOUR);
    await storage.close();
    expect(await redis.client.pttl(PREFIX + id)).toBeGreaterThan(HOUR - 5000);
    expect(redis.client.status).toBe('ready'); // a redis.client passed in stays open
  });

  it('should create, own and close its redis.client when given connection options', async () => {
    const { port, hostname } = new URL(redis.url);
    const storage = new RedisStorage({ host: hostname, port: Number(port) }, { prefix: PREFIX });
    const id = generateId();
    await storage.setSession(id, ONE, HOUR, CREATE);
    await expect(storage.getSession(id)).resolves.toEqual(new Map([['a', '1']]));
    await storage.close();
    expect(storage.client.status).toBe('end');
    const fromUrl = new RedisStorage(redis.url, { prefix: PREFIX });
    await expect(fromUrl.getSession(id)).resolves.toEqual(new Map([['a', '1']]));
    await fromUrl.close();
  });
});
