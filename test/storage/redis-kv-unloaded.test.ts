/**
 * `RedisStorage.loadAndSet` against the stored layout (`kv-format`): the write-and-load script
 * carries every key and JSON text byte for byte (no JSON decoding in Lua), counts the bytes
 * `maxSessionBytes` counts, keeps the version a Cluster move checks and the values a
 * compare-and-set compares, picks the TTL as the hash storage does, and reads every shape of value
 * `GET` reads (large sessions, compacted ones, the layout of earlier versions). The contract part
 * (`contract-unloaded`) runs in redis.test.ts and on a Cluster in redis-cluster.test.ts.
 */
import { CorruptSessionError, generateId, type SessionRecord, type StorageError } from 'sessionware';
import { RedisStorage } from 'sessionware/redis';
import { uniquePrefix, useSharedRedis } from '../helpers/redis';

const PREFIX = uniquePrefix('sw-test-kv-unloaded');
const redis = useSharedRedis(PREFIX);

const HOUR = 3_600_000;
const NO_LIMIT = Number.POSITIVE_INFINITY;
const CREATE = { create: true } as const;
const KEEP = { create: false } as const;

const changes = (set: SessionRecord, removed: readonly string[] = []) => ({ set, removed: new Set(removed) });
const bytesOf = (record: SessionRecord) => [...record].reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
const raw = (id: string) => redis.client.getBuffer(PREFIX + id);
const head = async (id: string) => (await raw(id))?.toString('latin1', 0, 17);

/**
 * Keys and JSON texts a script must carry exactly as the TypeScript side wrote them: multi-byte and
 * astral UTF-8, numbers no double holds, nested JSON, escapes and texts a JSON decoder + encoder in
 * Lua (cjson) would rewrite ([] vs {}, '\/', '\u00e9', 1e400, -0), and keys that look like the
 * layout's own bytes or like Lua patterns.
 */
const TRICKY: SessionRecord = new Map([
  ['ключ', JSON.stringify('значение')],
  ['🔑 emoji', JSON.stringify('😀 astral 𝄞')],
  ['big', '12345678901234567890123456789'],
  ['bigString', JSON.stringify('9007199254740993')],
  ['negativeZero', '-0'],
  ['exponent', '1e+21'],
  ['nested', JSON.stringify({ a: { b: [1, '\u0000', null, '"q"', '\\', '\n'], ü: true }, text: JSON.stringify({ inner: '"x"' }) })],
  ['lone surrogate', JSON.stringify('\ud800 half')],
  ['cjson would rewrite', '{"emptyArray":[],"emptyObject":{},"slash":"a\\/b","escaped":"\\u00e9\\ud83d\\ude00","huge":1e400}'],
  ['a', '"a prefix of ab"'],
  ['ab', '"ab"'],
  ['%s.*+?[]^$()-', '"Lua pattern characters"'],
  ['"quoted" \\ key\n\ttab', '"control characters"'],
  ['00000002ab', '"looks like a length"'],
  ['\u00ff+00000001a', '"looks like an entry"'],
  ['', '"the empty key"'],
]);

describe('RedisStorage.loadAndSet (one script onto the stored layout)', () => {
  const storages: RedisStorage[] = [];
  const make = (onError?: (err: StorageError) => void) => {
    const storage = new RedisStorage(redis.client, { prefix: PREFIX, ...(onError && { onError }) });
    storages.push(storage);
    return storage;
  };
  afterEach(async () => {
    await Promise.all(storages.splice(0).map((s) => s.close()));
  });

  it('should carry tricky keys and JSON texts byte for byte, resolving exactly what a GET then reads', async () => {
    const storage = make();
    const id = generateId();
    await storage.setSession(id, changes(TRICKY), HOUR, CREATE);
    const values: SessionRecord = new Map([
      ['ключ', JSON.stringify('другое значение ü€😀')],
      ['nested', JSON.stringify([{ deeper: JSON.stringify([JSON.stringify('three levels')]) }])],
      ['🆕 key ü', '98765432109876543210.5'],
      ['ab', '"replaced, a kept"'],
      ['cjson would rewrite', '{"b":[],"a":{}}'],
    ]);
    const expected = new Map([...TRICKY, ...values]);
    const result = await storage.loadAndSet(id, values, HOUR, NO_LIMIT);
    expect(result).toEqual({ written: true, record: expected });
    await expect(storage.getSession(id)).resolves.toEqual(expected);
    for (const [key, text] of expected) expect(result?.record.get(key)).toBe(text);
  });

  it('should count the UTF-8 bytes of every key and text as the session does, to the byte, writing nothing beyond', async () => {
    const storage = make();
    const id = generateId();
    await storage.setSession(id, changes(TRICKY), HOUR, CREATE);
    const values: SessionRecord = new Map([
      ['ключ', JSON.stringify('ü'.repeat(3))],
      ['new €', '"€😀"'],
    ]);
    const limit = bytesOf(new Map([...TRICKY, ...values]));
    const before = await raw(id);
    await expect(storage.loadAndSet(id, values, HOUR, limit - 1)).resolves.toEqual({ written: false, record: TRICKY });
    expect(await raw(id)).toEqual(before); // not even the version moved
    await expect(storage.loadAndSet(id, values, HOUR, limit)).resolves.toEqual({ written: true, record: new Map([...TRICKY, ...values]) });
  });

  it('should move the version (what a Cluster move checks) and leave compare-and-set comparing the new values', async () => {
    const storage = make();
    const id = generateId();
    await storage.setSession(id, changes(new Map([['n', '1'], ['user', '"alice"']])), HOUR, CREATE);
    const before = (await head(id)) as string;
    await storage.loadAndSet(id, new Map([['n', '2']]), HOUR, NO_LIMIT);
    const after = (await head(id)) as string;
    expect(parseInt(after.slice(1, 9), 16)).toBe(parseInt(before.slice(1, 9), 16) + 1);
    expect(parseInt(after.slice(9), 16)).toBeGreaterThan(parseInt(before.slice(9), 16)); // the old entry of n is dead
    await expect(storage.compareAndSet(id, 'n', '1', '3', HOUR, KEEP)).resolves.toBe('conflict');
    await expect(storage.compareAndSet(id, 'n', '2', '3', HOUR, KEEP)).resolves.toBe('ok');
    await expect(storage.getSession(id)).resolves.toEqual(new Map([['n', '3'], ['user', '"alice"']]));
  });

  it('should read and write large sessions in every shape: few large entries, many keys, and compact', async () => {
    const storage = make();
    const [few, many] = [generateId(), generateId()];
    const large = new Map([
      ['a', JSON.stringify('x'.repeat(40_000))],
      ['b', JSON.stringify('y'.repeat(40_000))],
      ['n', '0'],
    ]);
    await storage.setSession(few, changes(large), HOUR, CREATE);
    const first = await storage.loadAndSet(few, new Map([['a', '1']]), HOUR, NO_LIMIT);
    expect(first).toEqual({ written: true, record: new Map([...large, ['a', '1']]) });
    expect(await redis.client.strlen(PREFIX + few)).toBeGreaterThan(80_000); // the old entry stays, dead
    const second = await storage.loadAndSet(few, new Map([['b', '2']]), HOUR, NO_LIMIT);
    expect(second).toEqual({ written: true, record: new Map([['a', '1'], ['b', '2'], ['n', '0']]) });
    expect(await redis.client.strlen(PREFIX + few)).toBeLessThan(200); // dead bytes outweighed live ones: compacted
    await expect(storage.getSession(few)).resolves.toEqual(second?.record);

    const record = new Map<string, string>();
    for (let i = 0; i < 1500; i++) record.set(`k${i}`, JSON.stringify(`\u00ff+00000002k${i}00000001x`.repeat(4)));
    await storage.setSession(many, changes(record), HOUR, CREATE);
    expect(await redis.client.strlen(PREFIX + many)).toBeGreaterThan(65_536);
    const values = new Map([['k7', '7'], ['k1499', '1499'], ['new', '"n"']]);
    const result = await storage.loadAndSet(many, values, HOUR, NO_LIMIT);
    expect(result).toEqual({ written: true, record: new Map([...record, ...values]) });
    await expect(storage.getSession(many)).resolves.toEqual(result?.record);
  });

  it('should rewrite a value of the earlier JSON layout (unicode included) and write onto it', async () => {
    const storage = make();
    const id = generateId();
    await redis.client.set(PREFIX + id, JSON.stringify({ user: '"alice"', ключ: '"é😀"', n: '1' }), 'PX', 50_000);
    const result = await storage.loadAndSet(id, new Map([['n', '2']]), HOUR, NO_LIMIT);
    const expected = new Map([['user', '"alice"'], ['ключ', '"é😀"'], ['n', '2']]);
    expect(result).toEqual({ written: true, record: expected });
    expect((await head(id))?.startsWith('S')).toBe(true);
    await expect(storage.getSession(id)).resolves.toEqual(expected);
    expect(await redis.client.pttl(PREFIX + id)).toBeGreaterThan(HOUR - 5000);
  });

  it('should treat a value it cannot read as a missing session, report it to onError and leave it as it is', async () => {
    const errors: StorageError[] = [];
    const storage = make((err) => errors.push(err));
    for (const value of ['not json', 'S00000001', `S0000000100000000${'\u00ff'}+zz`]) {
      const id = generateId();
      await redis.client.set(PREFIX + id, value, 'PX', HOUR);
      const before = await raw(id);
      await expect(storage.loadAndSet(id, new Map([['n', '1']]), HOUR, NO_LIMIT)).resolves.toBeUndefined();
      expect(await raw(id)).toEqual(before);
      const err = errors.pop();
      expect(err).toBeInstanceOf(CorruptSessionError);
      expect(err?.operation).toBe('loadAndSet');
      expect(err?.message).not.toContain(id);
    }
    expect(errors).toEqual([]);
    // a missing session is no corruption
    await expect(storage.loadAndSet(generateId(), new Map([['n', '1']]), HOUR, NO_LIMIT)).resolves.toBeUndefined();
    expect(errors).toEqual([]);
  });

  it("should set the session's own TTL ($sw:ttl, in the values or stored) when it is a positive number, else the one passed", async () => {
    const storage = make();
    const ttlAfter = async (stored: string | undefined, written: string | undefined): Promise<number> => {
      const id = generateId();
      await storage.setSession(id, changes(new Map(stored === undefined ? [['a', '1']] : [['$sw:ttl', stored]])), 5_000, CREATE);
      const values = new Map([['b', '2']]);
      if (written !== undefined) values.set('$sw:ttl', written);
      expect((await storage.loadAndSet(id, values, HOUR, NO_LIMIT))?.written).toBe(true);
      return redis.client.pttl(PREFIX + id);
    };
    const near = (pttl: number, ttl: number) => pttl > ttl - 5000 && pttl <= ttl;
    expect(near(await ttlAfter(undefined, undefined), HOUR)).toBe(true);
    expect(near(await ttlAfter('300000', undefined), 300_000)).toBe(true);
    expect(near(await ttlAfter('300000', '120000'), 120_000)).toBe(true);
    expect(near(await ttlAfter(undefined, '120000'), 120_000)).toBe(true);
    const fractional = await ttlAfter('90000.2', undefined);
    expect(fractional).toBeLessThanOrEqual(90_001);
    expect(fractional).toBeGreaterThan(85_000);
    for (const bad of ['0', '-5', '"300000"', '1e999', 'null']) expect(near(await ttlAfter(bad, undefined), HOUR)).toBe(true);
  });

  it('should leave a forward and the session it points to untouched', async () => {
    const storage = make();
    const [oldId, newId] = [generateId(), generateId()];
    await storage.setSession(oldId, changes(new Map([['user', '"alice"']])), HOUR, CREATE);
    await storage.moveSession(oldId, newId, changes(new Map()), HOUR, { keep: undefined, forwardTTL: 60_000 });
    const forward = `{${PREFIX}${oldId}}>`;
    const [target, moved] = [await redis.client.get(forward), await raw(newId)];
    expect(target).toBe(newId);
    await expect(storage.loadAndSet(oldId, new Map([['planted', 'true']]), HOUR, NO_LIMIT)).resolves.toBeUndefined();
    expect(await redis.client.get(forward)).toBe(target);
    expect(await redis.client.pttl(forward)).toBeLessThanOrEqual(60_000);
    expect(await raw(newId)).toEqual(moved);
    expect(await redis.client.exists(PREFIX + oldId)).toBe(0);
  });

  it('should write onto a session whose keys were all removed (it still exists)', async () => {
    const storage = make();
    const id = generateId();
    await storage.setSession(id, changes(new Map([['a', '1']])), HOUR, CREATE);
    await storage.setSession(id, changes(new Map(), ['a']), HOUR, KEEP);
    await expect(storage.loadAndSet(id, new Map([['b', '2']]), HOUR, NO_LIMIT)).resolves.toEqual({ written: true, record: new Map([['b', '2']]) });
  });
});
