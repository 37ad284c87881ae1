/**
 * The owner index of both Redis storages on a real 3-master Redis Cluster, where the index and the
 * sessions live in different slots (no script sees both): `addOwner` still prunes a bounded number
 * of ended sessions, a listing drops ended and moved sessions, and a member whose session is not
 * written yet is kept until its TTL passed. The contract suite runs there too (redis-cluster.test.ts).
 */
import { createHash } from 'node:crypto';
import { generateId, type Storage } from 'sessionware';
import { RedisHashStorage, RedisStorage } from 'sessionware/redis';
import { sleep, uniquePrefix, useRedisCluster } from '../helpers/redis';

const PREFIX = uniquePrefix('sw-test-cluster-owners');
const HOUR = 3_600_000;
const OWNER_KEY = '$sw:owner';
const redis = useRedisCluster();

type Owned = Storage & Required<Pick<Storage, 'addOwner' | 'ownerSessions' | 'forgetOwner'>> & { close(): Promise<void> };
const indexKey = (prefix: string, owner: string) => `${prefix}owner:${createHash('sha256').update(owner).digest('base64url')}`;

describe.each([
  ['RedisStorage', RedisStorage],
  ['RedisHashStorage', RedisHashStorage],
] as const)('%s owner index on a Redis Cluster', (name, Kind) => {
  const prefix = `${PREFIX}${name}:`;
  let storage: Owned;
  beforeEach(() => {
    storage = new Kind(redis.client, { prefix }) as Owned;
  });
  afterEach(() => storage.close());
  const own = async (owner: string, id: string, ttl: number) => {
    await storage.addOwner(owner, id, ttl);
    await storage.setSession(id, { set: new Map([[OWNER_KEY, JSON.stringify(owner)]]), removed: new Set() }, ttl, { create: true });
  };

  it('should prune at most 8 ended sessions per addOwner, and the rest when listing', async () => {
    const owner = `ada:${generateId()}`;
    const key = indexKey(prefix, owner);
    const ended = Array.from({ length: 12 }, () => generateId()); // in slots all over the cluster
    for (const id of ended) await own(owner, id, 200);
    const live = generateId();
    await own(owner, live, HOUR);
    await sleep(400);
    await storage.addOwner(owner, live, HOUR);
    expect(await redis.client.zcard(key)).toBe(13 - 8);
    const listed = await storage.ownerSessions(owner);
    expect(listed.map((o) => o.id)).toEqual([live]);
    expect(Math.abs((listed[0]?.expiresAt ?? 0) - (Date.now() + HOUR))).toBeLessThan(5_000);
    expect(await redis.client.zrange(key, '0', '-1')).toEqual([live]);
  });

  it('should drop a moved session at once and keep a not-yet-written one until its TTL passed', async () => {
    const owner = `bob:${generateId()}`;
    const key = indexKey(prefix, owner);
    const [oldId, newId, pending] = [generateId(), generateId(), generateId()];
    await own(owner, oldId, HOUR);
    await storage.addOwner(owner, newId, HOUR);
    await storage.moveSession(oldId, newId, { set: new Map(), removed: new Set() }, HOUR, { keep: undefined, forwardTTL: 60_000 });
    await storage.addOwner(owner, pending, 300);
    expect((await storage.ownerSessions(owner)).map((o) => o.id)).toEqual([newId]);
    expect((await redis.client.zrange(key, '0', '-1')).sort()).toEqual([newId, pending].sort());
    await sleep(450);
    expect((await storage.ownerSessions(owner)).map((o) => o.id)).toEqual([newId]);
    expect(await redis.client.zrange(key, '0', '-1')).toEqual([newId]);
    await storage.forgetOwner(owner, [newId]);
    expect(await redis.client.exists(key)).toBe(0);
  });
});
