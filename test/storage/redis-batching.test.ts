/**
 * `batchCommands`: a lone command is written at once; the commands written while one is in flight
 * wait in the corked socket until the next `setImmediate` and reach Redis in one write (fewer reads
 * for Redis); replies stay in order. On a private redis-server, so `INFO stats` counts only us.
 */
import { Redis } from 'ioredis';
import { generateId, SessionOptionsError } from 'sessionware';
import { RedisHashStorage, RedisStorage } from 'sessionware/redis';
import { RedisServer, testClient } from '../helpers/redis';

const HOUR = 3_600_000;
const CREATE = { create: true } as const;
const PREFIX = 'sw-test-batch:';
const one = (key: string, value: string) => ({ set: new Map([[key, value]]), removed: new Set<string>() });
const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));

let server: RedisServer;
let client: Redis;
let admin: Redis;
beforeAll(async () => {
  server = await RedisServer.start();
  client = testClient(server.url);
  admin = testClient(server.url);
  await Promise.all([client.ping(), admin.ping()]);
});
afterAll(async () => {
  client?.disconnect();
  admin?.disconnect();
  await server?.stop();
});

/** The number of socket reads Redis made for its clients so far. */
async function reads(): Promise<number> {
  return Number(/total_reads_processed:(\d+)/.exec(await admin.info('stats'))?.[1]);
}

describe.each([
  ['RedisStorage', RedisStorage],
  ['RedisHashStorage', RedisHashStorage],
] as const)('%s batchCommands', (_name, Storage) => {
  it('should refuse a batchCommands that is not a boolean', () => {
    expect(() => new Storage(client, { batchCommands: 'yes' as unknown as boolean })).toThrow(SessionOptionsError);
  });

  it('should write a lone command at once and batch the ones sent while it is in flight', async () => {
    const storage = new Storage(client, { prefix: PREFIX });
    const id = generateId();
    await storage.setSession(id, one('n', '1'), HOUR, CREATE);
    const lone = storage.getSession(id);
    expect(client.stream.writableCorked).toBe(0); // nothing was in flight: written already
    const batched = [storage.getSession(id), storage.getSession(id)];
    expect(client.stream.writableCorked).toBe(1); // held until the next setImmediate
    await immediate();
    expect(client.stream.writableCorked).toBe(0);
    for (const record of await Promise.all([lone, ...batched])) expect(record?.get('n')).toBe('1');
    await storage.removeAll(id);
  });

  it('should send 100 concurrent requests in far fewer socket writes, every reply in its place', async () => {
    const storage = new Storage(client, { prefix: PREFIX });
    const ids = Array.from({ length: 100 }, () => generateId());
    await Promise.all(ids.map((id, i) => storage.setSession(id, one('i', String(i)), HOUR, CREATE)));
    const measure = async (s: InstanceType<typeof Storage>) => {
      const before = await reads();
      const records = await Promise.all(ids.map((id) => s.getSession(id)));
      const after = await reads();
      records.forEach((record, i) => expect(record?.get('i')).toBe(String(i)));
      return after - before - 1; // less the INFO
    };
    const batchedReads = await measure(storage);
    // with batching: the first GET alone, the other 99 in one write (Redis may split a large read).
    // Without it the count depends on how fast Redis reads (separate writes may still coalesce in
    // the kernel on a loaded machine), so only the replies are checked there.
    expect(batchedReads).toBeLessThanOrEqual(5);
    await measure(new Storage(client, { prefix: PREFIX, batchCommands: false }));
    await Promise.all(ids.map((id) => storage.removeAll(id)));
  });

  it('should never cork with batchCommands: false', async () => {
    const storage = new Storage(client, { prefix: PREFIX, batchCommands: false });
    const id = generateId();
    const writes = [storage.setSession(id, one('a', '1'), HOUR, CREATE), storage.getSession(id), storage.getSession(id)];
    expect(client.stream.writableCorked).toBe(0);
    await Promise.all(writes);
    await storage.removeAll(id);
  });
});
