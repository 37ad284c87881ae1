/**
 * The owner index of both Redis storages, beyond the contract suite: where it lives (a sorted set
 * under the prefix, with no expiry of its own), that dead members are pruned by `addOwner` (a
 * bounded number per call) and by listing, that a moved session's old id leaves the index at
 * once, and what each call costs in commands (recorded on the storage's own client: MONITOR on
 * the shared server is disturbed by other test runs' traffic).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { generateId, type Storage } from 'sessionware';
import { RedisHashStorage, RedisStorage } from 'sessionware/redis';
import { sleep, testClient, uniquePrefix, useSharedRedis } from '../helpers/redis';
import { recordCommands } from '../helpers/redis-record';

const PREFIX = uniquePrefix('sw-test-owners');
const redis = useSharedRedis(PREFIX);
const OWNER_KEY = '$sw:owner';
const HOUR = 3_600_000;
const CREATE = { create: true } as const;

type RedisSessionStorage = Storage & Required<Pick<Storage, 'addOwner' | 'ownerSessions' | 'forgetOwner'>> & { close(): Promise<void> };

const indexKey = (prefix: string, owner: string) => `${prefix}owner:${createHash('sha256').update(owner).digest('base64url')}`;
const own = async (storage: RedisSessionStorage, owner: string, id: string, ttl: number) => {
  await storage.addOwner(owner, id, ttl);
  await storage.setSession(id, { set: new Map([[OWNER_KEY, JSON.stringify(owner)]]), removed: new Set() }, ttl, CREATE);
};

describe.each<[string, (client: Redis, prefix: string) => RedisSessionStorage]>([
  ['RedisStorage', (client, prefix) => new RedisStorage(client, { prefix }) as RedisSessionStorage],
  ['RedisHashStorage', (client, prefix) => new RedisHashStorage(client, { prefix }) as RedisSessionStorage],
])('%s owner index', (name, make) => {
  const prefix = `${PREFIX}${name}:`;
  let client: Redis;
  let monitor: { take(): string[][] };
  let storage: RedisSessionStorage;
  beforeAll(() => {
    client = testClient(redis.url);
    monitor = recordCommands(client);
  });
  afterAll(() => client.disconnect());
  beforeEach(() => {
    storage = make(client, prefix);
  });
  afterEach(() => storage.close());

  it('should keep a sorted set under the prefix, named by a digest of the owner, with no expiry of its own', async () => {
    const owner = `ada:${generateId()}`;
    const id = generateId();
    await own(storage, owner, id, HOUR);
    const key = indexKey(prefix, owner);
    expect(await redis.client.type(key)).toBe('zset');
    expect(await redis.client.zrange(key, '0', '-1')).toEqual([id]);
    // A session's TTL is extended by requests that never touch the index: the index must not expire first.
    expect(await redis.client.pttl(key)).toBe(-1);
    // Its score keeps a not-yet-written session for at least its TTL.
    const [, score] = await redis.client.zrange(key, '0', '-1', 'WITHSCORES');
    expect(Number(score)).toBeGreaterThan(Date.now() + HOUR - 10_000);
    // count() does not take the index for a session.
    await expect(storage.count?.()).resolves.toBeGreaterThanOrEqual(1);
    const before = await storage.count?.();
    await redis.client.zadd(indexKey(prefix, `other:${generateId()}`), 1, generateId());
    await expect(storage.count?.()).resolves.toBe(before);
  });

  it('should prune dead members as owners are added (a bounded number per call) and drop the rest when listing', async () => {
    const owner = `bob:${generateId()}`;
    const key = indexKey(prefix, owner);
    const dead = Array.from({ length: 20 }, () => generateId());
    for (const id of dead) await own(storage, owner, id, 200);
    const live = generateId();
    await own(storage, owner, live, HOUR);
    expect(await redis.client.zcard(key)).toBe(21);
    await sleep(400); // the 20 short sessions expired (Redis expiry: no clock to inject)
    await storage.addOwner(owner, live, HOUR);
    expect(await redis.client.zcard(key)).toBe(21 - 8); // at most 8 checked per addOwner
    await storage.addOwner(owner, live, HOUR);
    expect(await redis.client.zcard(key)).toBe(21 - 16);
    // listing checks every member: the 5 dead ones left are removed
    await expect(storage.ownerSessions(owner)).resolves.toEqual([{ id: live, expiresAt: expect.any(Number) }]);
    expect(await redis.client.zrange(key, '0', '-1')).toEqual([live]);
    await storage.removeAll(live);
    await expect(storage.ownerSessions(owner)).resolves.toEqual([]);
    // a missing member added with an hour to live stays (not listed) until that hour passed
    expect(await redis.client.zcard(key)).toBe(1);
    await redis.client.zadd(key, 1, live); // as if its hour had passed
    await expect(storage.ownerSessions(owner)).resolves.toEqual([]);
    expect(await redis.client.exists(key)).toBe(0); // empty: Redis deleted the index
  });

  it('should keep a member whose session is not written yet until its TTL passed', async () => {
    const owner = `carol:${generateId()}`;
    const id = generateId();
    await storage.addOwner(owner, id, 300);
    await expect(storage.ownerSessions(owner)).resolves.toEqual([]);
    expect(await redis.client.zcard(indexKey(prefix, owner))).toBe(1);
    await sleep(450);
    await expect(storage.ownerSessions(owner)).resolves.toEqual([]);
    expect(await redis.client.zcard(indexKey(prefix, owner))).toBe(0);
  });

  it('should remove the old id of a moved session at the next listing, while its forward lives', async () => {
    const owner = `dan:${generateId()}`;
    const [oldId, newId] = [generateId(), generateId()];
    await own(storage, owner, oldId, HOUR);
    await storage.addOwner(owner, newId, HOUR);
    await storage.moveSession(oldId, newId, { set: new Map(), removed: new Set() }, HOUR, { keep: undefined, forwardTTL: 60_000 });
    const listed = await storage.ownerSessions(owner);
    expect(listed.map((o) => o.id)).toEqual([newId]);
    const expiresAt = listed[0]?.expiresAt ?? 0;
    expect(Math.abs(expiresAt - (Date.now() + HOUR))).toBeLessThan(5_000);
    expect(await redis.client.zrange(indexKey(prefix, owner), '0', '-1')).toEqual([newId]);
  });

  it('should cost one script per addOwner and per ownerSessions, one ZREM per forgetOwner, and nothing on reads', async () => {
    const owner = `eve:${generateId()}`;
    const id = generateId();
    await own(storage, owner, id, HOUR);
    monitor.take();
    const script = (cmds: string[][]) => cmds.map((c) => c[0]).filter((c) => c !== 'eval'); // a first EVAL after NOSCRIPT is not a round trip of its own
    await storage.addOwner(owner, id, HOUR);
    expect(script(monitor.take())).toEqual(['evalsha']);
    await storage.ownerSessions(owner);
    expect(script(monitor.take())).toEqual(['evalsha']);
    await storage.getSession(id, HOUR);
    expect((monitor.take()).map((c) => c[0])).toEqual([name === 'RedisStorage' ? 'get' : 'hgetall']);
    await storage.setSession(id, { set: new Map([['n', '1']]), removed: new Set() }, HOUR, { create: false });
    expect(script(monitor.take())).toEqual(['evalsha']);
    await storage.forgetOwner(owner, [id]);
    expect((monitor.take()).map((c) => c.slice(0, 2))).toEqual([['zrem', indexKey(prefix, owner)]]);
    await storage.forgetOwner(owner, []);
    expect(monitor.take()).toEqual([]);
  });
});
