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

  it('should store the session as length-prefixed entries under prefix + id, with a PX expiry', async () => {
    const storage = new RedisStorage(redis.client, { prefix: PREFIX });
    const id = generateId();
    await storage.setSession(id, { set: new Map([['n', '12345678901234567890'], ['ключ', '"é"']]), removed: new Set() }, HOUR, CREATE);
    const raw = await redis.client.getBuffer(PREFIX + id);
    // header: 'S', version, dead bytes; entries: 0xFF, '+', key byte length, key, value byte length, value
    const text = (s: string) => Buffer.from(s, 'utf8');
    expect(raw).toEqual(Buffer.concat([text('S0000000100000000'), Buffer.from([0xff]), text('+00000001n0000001412345678901234567890'), Buffer.from([0xff]), text('+00000008ключ00000004"é"')]));
    const pttl = await redis.client.pttl(PREFIX + id);
    expect(pttl).toBeGreaterThan(HOUR - 5000);
    expect(pttl).toBeLessThanOrEqual(HOUR);
    await storage.close();
  });

  it('should touch only the changed entries, and compact once dead bytes outweigh live ones', async () => {
    const storage = new RedisStorage(redis.client, { prefix: PREFIX });
    const id = generateId();
    const big = JSON.stringify('x'.repeat(100_000));
    await storage.setSession(id, { set: new Map([['big', big], ['n', '0']]), removed: new Set() }, HOUR, CREATE);
    const size = await redis.client.strlen(PREFIX + id);
    for (let i = 1; i <= 300; i++) await storage.setSession(id, { set: new Map([['n', String(i)]]), removed: new Set() }, HOUR, { create: false });
    // each write appended one small entry and marked the old one dead; compaction keeps it bounded
    const after = await redis.client.strlen(PREFIX + id);
    expect(after).toBeGreaterThan(size);
    expect(after).toBeLessThan(size * 2 + 100);
    const raw = (await redis.client.getBuffer(PREFIX + id)) as Buffer;
    expect(raw.toString('latin1', 1, 9)).toBe((301).toString(16).padStart(8, '0')); // the version moved on every write
    await expect(storage.getSession(id)).resolves.toEqual(new Map([['big', big], ['n', '300']]));
    // a large value replaced twice: compacted (dead bytes > live bytes)
    await storage.setSession(id, { set: new Map([['big', '1']]), removed: new Set() }, HOUR, { create: false });
    await storage.setSession(id, { set: new Map([['big', '2']]), removed: new Set(['n']) }, HOUR, { create: false });
    expect(await redis.client.strlen(PREFIX + id)).toBeLessThan(200);
    await expect(storage.getSession(id)).resolves.toEqual(new Map([['big', '2']]));
    await storage.close();
  });

  it('should find the right entries in a large session of many keys, whose values look like entries', async () => {
    const storage = new RedisStorage(redis.client, { prefix: PREFIX });
    const id = generateId();
    const record = new Map<string, string>();
    // keys and values that look like entry headers must not be taken for entries ('\u00ff' is not the byte 0xFF in UTF-8)
    for (let i = 0; i < 1500; i++) record.set(`k${i}`, JSON.stringify(`\u00ff+00000002k${i}00000001x+0000000${String(i).length + 1}k${i}`.repeat(4)));
    record.set('\u00ff+00000002k7', '"tricky key"');
    await storage.setSession(id, { set: record, removed: new Set() }, HOUR, CREATE);
    expect(await redis.client.strlen(PREFIX + id)).toBeGreaterThan(65_536);
    await storage.setSession(id, { set: new Map([['k7', '7'], ['k1499', '1499'], ['new', '"n"']]), removed: new Set(['k0', 'k750', 'absent']) }, HOUR, { create: false });
    await expect(storage.compareAndSet(id, 'k3', record.get('k3'), '3', HOUR, { create: false })).resolves.toBe('ok');
    await expect(storage.compareAndSet(id, 'k4', '"stale"', '4', HOUR, { create: false })).resolves.toBe('conflict');
    // a write of many keys walks the entries instead of searching each
    const many = new Map(Array.from({ length: 40 }, (_, i) => [`k${i * 30 + 1}`, String(i)]));
    await storage.setSession(id, { set: many, removed: new Set(['k2', 'k1498']) }, HOUR, { create: false });
    const expected = new Map(record);
    expected.set('k7', '7').set('k1499', '1499').set('new', '"n"').set('k3', '3');
    for (const [k, v] of many) expected.set(k, v);
    for (const k of ['k0', 'k750', 'k2', 'k1498']) expected.delete(k);
    await expect(storage.getSession(id)).resolves.toEqual(expected);
    await storage.close();
  });

  it('should read a session stored as a JSON object by earlier versions, and rewrite it on the next write', async () => {
    const storage = new RedisStorage(redis.client, { prefix: PREFIX });
    const id = generateId();
    await redis.client.set(PREFIX + id, JSON.stringify({ user: '"alice"', n: '1' }), 'PX', 50_000);
    await expect(storage.getSession(id)).resolves.toEqual(new Map([['user', '"alice"'], ['n', '1']]));
    // a call that writes nothing still rewrites the layout, keeping the expiry
    await expect(storage.compareAndSet(id, 'n', '"stale"', '5', HOUR, { create: false })).resolves.toBe('conflict');
    expect((await redis.client.get(PREFIX + id))?.startsWith('S')).toBe(true);
    expect(await redis.client.pttl(PREFIX + id)).toBeLessThanOrEqual(50_000);
    expect(await redis.client.pttl(PREFIX + id)).toBeGreaterThan(40_000);
    await expect(storage.setSession(id, { set: new Map([['n', '2']]), removed: new Set() }, HOUR, { create: false })).resolves.toBe(true);
    expect((await redis.client.get(PREFIX + id))?.startsWith('S')).toBe(true);
    await expect(storage.getSession(id)).resolves.toEqual(new Map([['user', '"alice"'], ['n', '2']]));
    expect(await redis.client.pttl(PREFIX + id)).toBeGreaterThan(HOUR - 5000);
    await storage.close();
  });

  it('should keep a small session written often small (at most twice its live size)', async () => {
    const storage = new RedisStorage(redis.client, { prefix: PREFIX });
    const id = generateId();
    await storage.setSession(id, { set: new Map([['user', '{"id":7,"name":"alice"}'], ['n', '0']]), removed: new Set() }, HOUR, CREATE);
    const size = await redis.client.strlen(PREFIX + id);
    for (let i = 1; i <= 200; i++) {
      await storage.setSession(id, { set: new Map([['n', String(i % 10)]]), removed: new Set() }, HOUR, { create: false });
      expect(await redis.client.strlen(PREFIX + id)).toBeLessThanOrEqual(size * 2 + 40);
    }
    await storage.close();
  });

  it('should keep an emptied session, still existing', async () => {
    const storage = new RedisStorage(redis.client, { prefix: PREFIX });
    const id = generateId();
    await storage.setSession(id, ONE, HOUR, CREATE);
    await expect(storage.setSession(id, { set: new Map(), removed: new Set(['a']) }, HOUR, { create: false })).resolves.toBe(true);
    expect(await redis.client.exists(PREFIX + id)).toBe(1);
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
