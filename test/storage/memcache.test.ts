/**
 * MemcacheStorage against a real memcached spawned for this file: the contract suite, then what is
 * particular to memcached (item layout, expiry times, limits, forwards, corrupt items).
 */
import { MemcacheClient } from 'memcache-client';
import { CorruptSessionError, generateId, SessionOptionsError, SessionValueError, StorageError } from 'sessionware';
import { MemcacheStorage } from 'sessionware/memcache';
import { describeStorage } from 'sessionware/testing';
import { sleep, uniquePrefix } from '../helpers/redis';
import { commandsBetween, MemcachedServer, sharedMemcached, stopSharedMemcached } from '../helpers/memcached';

let server: MemcachedServer;
beforeAll(async () => {
  server = await sharedMemcached();
});
afterAll(stopSharedMemcached);

// memcached counts whole seconds: expiry tests need TTLs of a few seconds.
describeStorage(
  'MemcacheStorage',
  async () => {
    const storage = new MemcacheStorage((await sharedMemcached()).address, { prefix: uniquePrefix('sw-mc') });
    return { storage, advance: sleep };
  },
  { shortTTL: 2000 },
);

const ONE = { set: new Map([['a', '1']]), removed: new Set<string>() };
const CREATE = { create: true } as const;
const UPDATE = { create: false } as const;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('MemcacheStorage', () => {
  let prefix: string;
  let storage: MemcacheStorage;
  beforeEach(() => {
    prefix = uniquePrefix('sw-mc');
    storage = new MemcacheStorage(server.address, { prefix });
  });
  afterEach(() => storage.close());

  it('should reject bad options with a SessionOptionsError', () => {
    expect(() => new MemcacheStorage(server.address, { prefix: 'has space' })).toThrow(SessionOptionsError);
    expect(() => new MemcacheStorage(server.address, { prefix: 'x'.repeat(123) })).toThrow(/at most 122/);
    expect(() => new MemcacheStorage(server.address, { commandTimeout: 0 })).toThrow(SessionOptionsError);
    expect(() => new MemcacheStorage(server.address, { maxItemSize: 10 })).toThrow(SessionOptionsError);
    expect(() => new MemcacheStorage(server.address, { casRetries: -1 })).toThrow(SessionOptionsError);
    expect(() => new MemcacheStorage(undefined as unknown as string)).toThrow(/memcache-client/);
    expect(() => new MemcacheStorage(server.address, { prefix: 'x'.repeat(122) })).not.toThrow();
  });

  it('should store one item per session: a JSON object of JSON texts under prefix + id', async () => {
    const id = generateId();
    await storage.setSession(id, { set: new Map([['n', '12345678901234567890'], ['x', '{}']]), removed: new Set() }, HOUR, CREATE);
    expect(JSON.parse((await server.valueOf(prefix + id)) as string)).toEqual({ n: '12345678901234567890', x: '{}' });
    const ttl = await server.ttlOf(prefix + id);
    expect(ttl).toBeGreaterThan(3595);
    expect(ttl).toBeLessThanOrEqual(3601);
  });

  it('should slide the TTL on read (gat)', async () => {
    const id = generateId();
    await storage.setSession(id, ONE, 60_000, CREATE);
    await storage.getSession(id, HOUR);
    expect(await server.ttlOf(prefix + id)).toBeGreaterThan(3595);
  });

  it('should send TTLs above 30 days as absolute Unix times (a relative one would expire at once)', async () => {
    const id = generateId();
    await storage.setSession(id, ONE, 31 * DAY, CREATE);
    await expect(storage.getSession(id, 31 * DAY)).resolves.toEqual(new Map([['a', '1']]));
    const ttl = (await server.ttlOf(prefix + id)) as number;
    expect(Math.abs(ttl - 31 * 24 * 3600)).toBeLessThan(10);
    await storage.setSession(id, ONE, 400 * DAY, UPDATE);
    expect(Math.abs(((await server.ttlOf(prefix + id)) as number) - 400 * 24 * 3600)).toBeLessThan(10);
    await storage.updateTTL(id, 90 * DAY);
    expect(Math.abs(((await server.ttlOf(prefix + id)) as number) - 90 * 24 * 3600)).toBeLessThan(10);
  });

  it('should reject a session over the item size limit with a clear error naming the key, before sending it', async () => {
    const id = generateId();
    await storage.setSession(id, ONE, HOUR, CREATE);
    const huge = { set: new Map([['small', '1'], ['blob', JSON.stringify('x'.repeat(1_048_576))]]), removed: new Set<string>() };
    const err = await storage.setSession(id, huge, HOUR, UPDATE).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).message).toMatch(/over the item limit of 1048576 bytes.*'blob'.*-I/);
    expect((err as StorageError).cause).toBeInstanceOf(SessionValueError);
    expect(((err as StorageError).cause as SessionValueError).key).toBe('blob');
    await expect(storage.setSession(generateId(), huge, HOUR, CREATE)).rejects.toThrow(/'blob'/);
    await expect(storage.getSession(id, HOUR)).resolves.toEqual(new Map([['a', '1']]));
  });

  it('should turn memcached\'s own "too large" reply (a smaller -I) into the same clear error', async () => {
    const small = new MemcacheStorage(server.address, { prefix, maxItemSize: 4 * 1_048_576 });
    const changes = { set: new Map([['blob', JSON.stringify('x'.repeat(1_100_000))]]), removed: new Set<string>() };
    await expect(small.setSession(generateId(), changes, HOUR, CREATE)).rejects.toThrow(/item size limit.*maxItemSize/);
    await expect(small.setSession(generateId(), ONE, HOUR, CREATE)).resolves.toBe(true); // the connection is still in sync
    await small.close();
  });

  it('should refuse an id that is not a valid memcached key with a clear StorageError', async () => {
    await expect(storage.getSession('has space\r\nflush_all', HOUR)).rejects.toThrow(/not a valid memcached key/);
    await expect(storage.setSession('x'.repeat(300), ONE, HOUR, CREATE)).rejects.toThrow(StorageError);
  });

  it('should treat a corrupt item as missing, report it, and never overwrite it with create: false', async () => {
    const errors: StorageError[] = [];
    const reporting = new MemcacheStorage(server.address, { prefix, onError: (e) => errors.push(e) });
    const id = generateId();
    await server.put(prefix + id, 'not json');
    await expect(reporting.getSession(id, HOUR)).resolves.toBeUndefined();
    expect(errors[0]).toBeInstanceOf(CorruptSessionError);
    expect(errors[0]?.message).not.toContain(id);
    await expect(reporting.setSession(id, ONE, HOUR, UPDATE)).resolves.toBe(false);
    expect(await server.valueOf(prefix + id)).toBe('not json');
    await reporting.close();
  });

  it('should cost no command for updateTTL right after a read, and one gat otherwise', async () => {
    const id = generateId();
    await storage.setSession(id, ONE, HOUR, CREATE);
    const before = await server.stats();
    await storage.getSession(id, HOUR);
    await storage.updateTTL(id, HOUR);
    const mid = await server.stats();
    expect(commandsBetween(before, mid)).toMatchObject({ total: 1, cmd_touch: 1 }); // the gat
    await storage.updateTTL(id, HOUR); // not just read: refreshes
    expect(commandsBetween(mid, await server.stats())).toMatchObject({ total: 1, cmd_touch: 1 });
  });

  it('should keep a forward\'s own expiry when its id is read (gat would slide it)', async () => {
    const [oldId, newId] = [generateId(), generateId()];
    await storage.setSession(oldId, ONE, HOUR, CREATE);
    await storage.moveSession(oldId, newId, { set: new Map(), removed: new Set() }, HOUR, { keep: undefined, forwardTTL: 60_000 });
    expect(await server.valueOf(prefix + oldId)).toMatch(new RegExp(`^@\\d+:${newId}$`));
    await expect(storage.getSession(oldId, HOUR)).resolves.toBeUndefined();
    await storage.updateTTL(oldId, HOUR);
    expect(await server.ttlOf(prefix + oldId)).toBeLessThanOrEqual(62);
    expect(await server.valueOf(`${prefix}${oldId}>`)).toBeUndefined(); // the forward lives in the old item only
    expect(await server.ttlOf(prefix + newId)).toBeGreaterThan(3595);
  });

  it('should log out with one gat -1, after which memcached treats the item exactly as deleted', async () => {
    const id = generateId();
    await storage.setSession(id, ONE, HOUR, CREATE);
    const before = await server.stats();
    await expect(storage.removeAll(id)).resolves.toBe(true);
    const after = await server.stats();
    expect(commandsBetween(before, after)).toMatchObject({ total: 1, cmd_touch: 1, cmd_get: 0, cmd_set: 0, delete_hits: 0, delete_misses: 0 });
    expect(after['touch_hits']! - before['touch_hits']!).toBe(1);
    expect(await server.valueOf(prefix + id)).toBeUndefined(); // get
    expect(await server.ttlOf(prefix + id)).toBeUndefined(); // mg
    await expect(storage.getSession(id, HOUR)).resolves.toBeUndefined(); // gats
    await expect(storage.setSession(id, ONE, HOUR, UPDATE)).resolves.toBe(false); // gets misses: never re-created
    await expect(storage.compareAndSet(id, 'a', '1', '2', HOUR, UPDATE)).resolves.toBe('gone');
    await expect(storage.removeAll(id)).resolves.toBe(false);
    // create: true (a new session under this id, as only a fresh id gets) adds a brand-new item
    await expect(storage.setSession(id, { set: new Map([['b', '2']]), removed: new Set() }, HOUR, CREATE)).resolves.toBe(true);
    await expect(storage.getSession(id, HOUR)).resolves.toEqual(new Map([['b', '2']]));
  });

  it('should end a stale cas of a logged-out session with NOT_FOUND (no resurrection by a read taken before)', async () => {
    const id = generateId();
    await storage.setSession(id, ONE, HOUR, CREATE);
    await storage.getSession(id, HOUR); // this request's gats: its CAS token is remembered
    const other = new MemcacheStorage(server.address, { prefix });
    await other.removeAll(id);
    const before = await server.stats();
    await expect(storage.setSession(id, { set: new Map([['late', '1']]), removed: new Set() }, HOUR, UPDATE)).resolves.toBe(false);
    expect(commandsBetween(before, await server.stats())).toMatchObject({ cas_misses: 1, cas_hits: 0 });
    expect(await server.valueOf(prefix + id)).toBeUndefined();
    await other.close();
  });

  it('should undo the move when a logout ends the old id between its add and its cas (the logout wins)', async () => {
    const [oldId, newId] = [generateId(), generateId()];
    await storage.setSession(oldId, ONE, HOUR, CREATE);
    const other = new MemcacheStorage(server.address, { prefix });
    // Interleave deterministically: the logout (another process) runs right after the move's
    // second command (gets old, add new, then the cas this test wants to lose).
    const client = storage.client;
    const xsend = client.xsend.bind(client);
    let sent = 0;
    let loggedOut: boolean | undefined;
    client.xsend = (async (...args: Parameters<typeof xsend>) => {
      const reply = await xsend(...args);
      if (++sent === 2) loggedOut = await other.removeAll(oldId);
      return reply;
    }) as typeof client.xsend;
    const moved = await storage.moveSession(oldId, newId, { set: new Map(), removed: new Set() }, HOUR, { keep: undefined, forwardTTL: 60_000 });
    expect(loggedOut).toBe(true);
    expect(moved).toBeUndefined();
    expect(await server.valueOf(prefix + oldId)).toBeUndefined();
    expect(await server.valueOf(prefix + newId)).toBeUndefined(); // the move deleted its new item
    await other.close();
  });

  it('should end a session reached through a chain of forwards with one gat -1 per hop', async () => {
    const ids = [generateId(), generateId(), generateId()] as const;
    await storage.setSession(ids[0], ONE, HOUR, CREATE);
    const forward = { keep: undefined, forwardTTL: 60_000 };
    await storage.moveSession(ids[0], ids[1], { set: new Map(), removed: new Set() }, HOUR, forward);
    await storage.moveSession(ids[1], ids[2], { set: new Map(), removed: new Set() }, HOUR, forward);
    const before = await server.stats();
    await expect(storage.removeAll(ids[0])).resolves.toBe(true);
    expect(commandsBetween(before, await server.stats())).toMatchObject({ total: 3, cmd_touch: 3 });
    for (const id of ids) expect(await server.valueOf(prefix + id)).toBeUndefined();
  });

  it('should keep every write of many writers on one session (bounded cas retries)', async () => {
    const id = generateId();
    await storage.setSession(id, ONE, HOUR, CREATE);
    const writers = Array.from({ length: 40 }, (_, i) => storage.setSession(id, { set: new Map([[`k${i}`, String(i)]]), removed: new Set() }, HOUR, UPDATE));
    expect(await Promise.all(writers)).toEqual(Array(40).fill(true));
    expect((await storage.getSession(id, HOUR))?.size).toBe(41);
  });

  it('should give up with a StorageError after casRetries lost races (against other processes)', async () => {
    // One instance runs its own writes to a session in turn; separate instances (like separate
    // processes) race each other's cas.
    const instances = Array.from({ length: 20 }, () => new MemcacheStorage(server.address, { prefix, casRetries: 0 }));
    const id = generateId();
    await storage.setSession(id, ONE, HOUR, CREATE);
    const results = await Promise.allSettled(instances.map((s, i) => s.setSession(id, { set: new Map([[`k${i}`, '1']]), removed: new Set() }, HOUR, UPDATE)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0]?.reason).toBeInstanceOf(StorageError);
    expect(String(failed[0]?.reason)).toMatch(/casRetries/);
    const stored = await storage.getSession(id, HOUR);
    expect(stored?.size).toBe(1 + results.length - failed.length); // every write that resolved is there
    await Promise.all(instances.map((s) => s.close()));
  });

  it('should keep every write of writers in separate instances racing on one session', async () => {
    const instances = Array.from({ length: 12 }, () => new MemcacheStorage(server.address, { prefix }));
    const id = generateId();
    await storage.setSession(id, ONE, HOUR, CREATE);
    const writes = instances.flatMap((s, i) => [0, 1, 2].map((j) => s.setSession(id, { set: new Map([[`k${i}-${j}`, '1']]), removed: new Set() }, HOUR, UPDATE)));
    expect(await Promise.all(writes)).toEqual(Array(36).fill(true));
    expect((await storage.getSession(id, HOUR))?.size).toBe(37);
    await Promise.all(instances.map((s) => s.close()));
  });

  it('should merge overlapping writes of one instance into few gets + cas, keeping every change', async () => {
    const id = generateId();
    await storage.setSession(id, ONE, HOUR, CREATE);
    const before = await server.stats();
    const writes = Array.from({ length: 30 }, (_, i) => storage.setSession(id, { set: new Map([[`k${i}`, String(i)]]), removed: new Set(i === 29 ? ['a'] : []) }, HOUR, UPDATE));
    expect(await Promise.all(writes)).toEqual(Array(30).fill(true));
    const commands = commandsBetween(before, await server.stats());
    expect(commands['cas_hits']).toBeLessThan(10); // the first write, then batches
    expect(commands['cas_badval']).toBe(0);
    const stored = await storage.getSession(id, HOUR);
    expect(stored?.size).toBe(30);
    expect(stored?.has('a')).toBe(false);
  });

  it('should fail only the write that is too large when it was batched with others', async () => {
    const id = generateId();
    await storage.setSession(id, ONE, HOUR, CREATE);
    const huge = { set: new Map([['blob', JSON.stringify('x'.repeat(1_048_576))]]), removed: new Set<string>() };
    const small = (k: string) => ({ set: new Map([[k, '1']]), removed: new Set<string>() });
    const results = await Promise.allSettled([storage.setSession(id, small('first'), HOUR, UPDATE), storage.setSession(id, small('b1'), HOUR, UPDATE), storage.setSession(id, huge, HOUR, UPDATE), storage.setSession(id, small('b2'), HOUR, UPDATE)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(/'blob'/);
    expect([...((await storage.getSession(id, HOUR)) ?? new Map()).keys()].sort()).toEqual(['a', 'b1', 'b2', 'first']);
  });

  it('should drop a whole batch, re-creating nothing, when a logout came first', async () => {
    const id = generateId();
    await storage.setSession(id, ONE, HOUR, CREATE);
    const other = new MemcacheStorage(server.address, { prefix });
    await storage.getSession(id, HOUR); // this instance read it just before the logout elsewhere
    await other.removeAll(id);
    const first = storage.setSession(id, { set: new Map([['x', '1']]), removed: new Set() }, HOUR, UPDATE);
    const batched = [1, 2, 3].map((i) => storage.setSession(id, { set: new Map([[`y${i}`, '1']]), removed: new Set() }, HOUR, UPDATE));
    expect(await first).toBe(false);
    expect(await Promise.all(batched)).toEqual([false, false, false]);
    expect(await server.valueOf(prefix + id)).toBeUndefined();
    await other.close();
  });

  it('should reject writes with a StorageError, not lose sessions, when a full memcached runs with -M', async () => {
    const full = await MemcachedServer.start({ args: ['-M', '-m', '2'] });
    const strict = new MemcacheStorage(full.address, { prefix });
    const blob = { set: new Map([['b', JSON.stringify('x'.repeat(100_000))]]), removed: new Set<string>() };
    const ids: string[] = [];
    try {
      const err = await (async () => {
        for (let i = 0; i < 100; i++) {
          const id = generateId();
          await strict.setSession(id, blob, HOUR, CREATE);
          ids.push(id);
        }
        return undefined;
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect(String(err)).toMatch(/out of memory/);
      for (const id of ids) expect((await strict.getSession(id, HOUR))?.size).toBe(1); // nothing was evicted
    } finally {
      await strict.close();
      await full.stop();
    }
  });

  it('should use a memcache-client passed in and leave it open on close', async () => {
    const client = new MemcacheClient({ server: server.address });
    const borrowed = new MemcacheStorage(client, { prefix });
    const id = generateId();
    await borrowed.setSession(id, ONE, HOUR, CREATE);
    await borrowed.close();
    expect(borrowed.client).toBe(client);
    expect((await client.get<string>(prefix + id))?.value).toBe('{"a":"1"}');
    client.shutdown();
  });
});
