/**
 * Both Redis storages on a real 3-master Redis Cluster, spawned for this file and torn down after.
 */
import { generateId, StorageError, type SessionRecord } from 'sessionware';
import { RedisHashStorage, RedisStorage } from 'sessionware/redis';
import { sleep, uniquePrefix, useRedisCluster } from '../helpers/redis';
import { describeStorage } from 'sessionware/testing';

const PREFIX = uniquePrefix('sw-test-cluster');
const redis = useRedisCluster();

for (const [name, Storage] of [['RedisStorage', RedisStorage], ['RedisHashStorage', RedisHashStorage]] as const) {
  const prefix = `${PREFIX}${name}:`; // the contract reuses fixed ids: keep the layouts apart
  describeStorage(
    `${name} on a Redis Cluster`,
    async () => {
      const storage = new Storage(redis.client, { prefix });
      return { storage, advance: sleep, flush: () => storage.flush() };
    },
    { shortTTL: 300 },
  );

  describe(`${name} on a Redis Cluster: moveSession across slots`, () => {
    const HOUR = 3_600_000;
    const one = (key: string, value: string) => ({ set: new Map([[key, value]]), removed: new Set<string>() });
    const NONE = { set: new Map<string, string>(), removed: new Set<string>() };
    const MOVE = { keep: undefined, forwardTTL: 60_000 };

    /** A storage whose step 2 (the copy to the new key) first runs `between`, as a racing request would. */
    function racing(between: (storage: InstanceType<typeof Storage>, attempt: number) => Promise<unknown>) {
      const storage = new Storage(redis.client, { prefix });
      const target = storage as unknown as { writeMoved(id: string, record: SessionRecord, ttl: number): Promise<void> };
      const step2 = target.writeMoved.bind(storage);
      let attempt = 0;
      target.writeMoved = async (id, record, ttl) => {
        await between(storage, ++attempt);
        return step2(id, record, ttl);
      };
      return { storage, attempts: () => attempt };
    }

    it('should move again when a write lands between the read and the swap, losing nothing', async () => {
      const [oldId, newId] = [generateId(), generateId()];
      const { storage, attempts } = racing(async (s, attempt) => {
        if (attempt === 1) expect(await s.setSession(oldId, one('late', '1'), HOUR, { create: false })).toBe(true);
      });
      await storage.setSession(oldId, one('user', '"alice"'), HOUR, { create: true });
      const moved = await storage.moveSession(oldId, newId, one('n', '2'), HOUR, MOVE);
      expect(attempts()).toBe(2);
      expect(moved).toEqual(new Map([['user', '"alice"'], ['late', '1'], ['n', '2']]));
      await expect(storage.getSession(newId)).resolves.toEqual(moved);
      await expect(storage.getSession(oldId)).resolves.toBeUndefined();
      await storage.close();
    });

    it('should let a logout between the read and the swap win, deleting the copy', async () => {
      const [oldId, newId] = [generateId(), generateId()];
      const { storage } = racing((s) => s.removeAll(oldId));
      await storage.setSession(oldId, one('user', '"alice"'), HOUR, { create: true });
      await expect(storage.moveSession(oldId, newId, NONE, HOUR, MOVE)).resolves.toBeUndefined();
      expect(await redis.client.exists(prefix + newId)).toBe(0);
      await expect(storage.getSession(oldId)).resolves.toBeUndefined();
      await expect(storage.setSession(oldId, one('late', '1'), HOUR, { create: false })).resolves.toBe(false);
      await storage.close();
    });

    it('should give up with a StorageError when every attempt is overtaken by a write, keeping the session', async () => {
      const [oldId, newId] = [generateId(), generateId()];
      const { storage, attempts } = racing((s, attempt) => s.setSession(oldId, one(`w${attempt}`, '1'), HOUR, { create: false }));
      await storage.setSession(oldId, one('user', '"alice"'), HOUR, { create: true });
      await expect(storage.moveSession(oldId, newId, NONE, HOUR, MOVE)).rejects.toThrow(StorageError);
      expect(attempts()).toBe(10);
      expect(await redis.client.exists(prefix + newId)).toBe(0);
      expect((await storage.getSession(oldId))?.size).toBe(11);
      await storage.close();
    });

    it('should keep the forward in the old key\'s slot, with a hash-tagged prefix too', async () => {
      const tagged = new Storage(redis.client, { prefix: `{${prefix}}` });
      const [oldId, newId] = [generateId(), generateId()];
      await tagged.setSession(oldId, one('user', '"alice"'), HOUR, { create: true });
      await tagged.moveSession(oldId, newId, NONE, HOUR, MOVE);
      await expect(tagged.setSession(oldId, one('late', '1'), HOUR, { create: false })).resolves.toBe(true);
      await expect(tagged.getSession(newId)).resolves.toEqual(new Map([['user', '"alice"'], ['late', '1']]));
      await expect(tagged.removeAll(oldId)).resolves.toBe(true);
      await expect(tagged.getSession(newId)).resolves.toBeUndefined();
      await tagged.close();
      for (const node of redis.client.nodes('master')) for (const key of await node.keys(`{${prefix}}*`)) await node.del(key);
    });
  });

  describe(`${name} on a Redis Cluster`, () => {
    it('should spread sessions over every master and refresh batched TTLs on all of them', async () => {
      const storage = new Storage(redis.client, { prefix });
      const ids = Array.from({ length: 60 }, () => generateId());
      for (const id of ids) await storage.setSession(id, { set: new Map([['a', '1']]), removed: new Set() }, 100_000, { create: true });
      const perNode = await Promise.all(redis.client.nodes('master').map((node) => node.dbsize()));
      expect(perNode.every((n) => n > 0)).toBe(true);
      for (const id of ids) await storage.updateTTL(id, 3_600_000);
      await storage.updateTTL(generateId(), 3_600_000); // a missing session stays missing
      expect(storage.pendingTTLUpdates).toBe(61);
      await storage.flush();
      const ttls = await Promise.all(ids.map((id) => redis.client.pttl(prefix + id)));
      expect(ttls.every((t) => t > 3_500_000)).toBe(true);
      await storage.close();
      expect(redis.client.status).toBe('ready');
    });
  });
}
