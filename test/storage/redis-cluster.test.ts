/**
 * Both Redis storages on a real 3-master Redis Cluster, spawned for this file and torn down after.
 */
import { Cluster } from 'ioredis';
import { generateId } from 'sessionware';
import { RedisHashStorage, RedisStorage } from 'sessionware/redis';
import { RedisTestCluster, sleep, uniquePrefix } from '../helpers/redis';
import { describeStorage } from 'sessionware/testing';

const PREFIX = uniquePrefix('sw-test-cluster');
let cluster: RedisTestCluster;
let client: Cluster;

beforeAll(async () => {
  cluster = await RedisTestCluster.start();
  client = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } });
  client.on('error', () => undefined);
  await client.ping();
}, 60_000);
afterAll(async () => {
  client?.disconnect();
  await cluster?.stop();
});

for (const [name, Storage] of [['RedisStorage', RedisStorage], ['RedisHashStorage', RedisHashStorage]] as const) {
  const prefix = `${PREFIX}${name}:`; // the contract reuses fixed ids: keep the layouts apart
  describeStorage(
    `${name} on a Redis Cluster`,
    async () => {
      const storage = new Storage(client, { prefix });
      return { storage, advance: sleep, flush: () => storage.flush() };
    },
    { shortTTL: 300 },
  );

  describe(`${name} on a Redis Cluster`, () => {
    it('should spread sessions over every master and refresh batched TTLs on all of them', async () => {
      const storage = new Storage(client, { prefix });
      const ids = Array.from({ length: 60 }, () => generateId());
      for (const id of ids) await storage.setSession(id, { set: new Map([['a', '1']]), removed: new Set() }, 100_000, { create: true });
      const perNode = await Promise.all(client.nodes('master').map((node) => node.dbsize()));
      expect(perNode.every((n) => n > 0)).toBe(true);
      for (const id of ids) await storage.updateTTL(id, 3_600_000);
      await storage.updateTTL(generateId(), 3_600_000); // a missing session stays missing
      expect(storage.pendingTTLUpdates).toBe(61);
      await storage.flush();
      const ttls = await Promise.all(ids.map((id) => client.pttl(prefix + id)));
      expect(ttls.every((t) => t > 3_500_000)).toBe(true);
      await storage.close();
      expect(client.status).toBe('ready');
    });
  });
}
