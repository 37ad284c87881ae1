/**
 * Login (`moveSession`) on the shared Redis with writers and a logout on *other connections*, as
 * other processes would race it: every acknowledged write ends up in the new session, and a logout
 * leaves no session under either id.
 */
import { generateId } from 'sessionware';
import { RedisHashStorage, RedisStorage } from 'sessionware/redis';
import { testClient, uniquePrefix, useSharedRedis } from '../helpers/redis';

const PREFIX = uniquePrefix('sw-test-move');
const redis = useSharedRedis(PREFIX);
const HOUR = 3_600_000;
const MOVE = { keep: undefined, forwardTTL: 60_000 };
const one = (key: string, value: string) => ({ set: new Map([[key, value]]), removed: new Set<string>() });

describe.each([['RedisStorage', RedisStorage], ['RedisHashStorage', RedisHashStorage]] as const)('%s: moveSession raced from other connections', (name, Storage) => {
  const prefix = `${PREFIX}${name}:`;

  it('should keep every acknowledged write of writers on other connections', async () => {
    const others = [testClient(redis.url), testClient(redis.url)];
    const mover = new Storage(redis.client, { prefix });
    const writers = others.map((client) => new Storage(client, { prefix }));
    try {
      for (let round = 0; round < 5; round++) {
        const [oldId, newId] = [generateId(), generateId()];
        await mover.setSession(oldId, one('user', '"alice"'), HOUR, { create: true });
        const expected = new Map([['user', '"alice"']]);
        const writes = Array.from({ length: 30 }, (_, i) => {
          expected.set(`w${i}`, String(i));
          const writer = writers[i % writers.length] as InstanceType<typeof Storage>;
          return i % 3 === 0 && 'set' in writer ? (writer as RedisHashStorage).set(oldId, `w${i}`, String(i), HOUR, { create: false }) : writer.setSession(oldId, one(`w${i}`, String(i)), HOUR, { create: false });
        });
        const moved = mover.moveSession(oldId, newId, one('moved', 'true'), HOUR, MOVE);
        expect(await Promise.all(writes)).toEqual(Array(30).fill(true));
        expect(await moved).toBeDefined();
        expected.set('moved', 'true');
        await expect(mover.getSession(newId)).resolves.toEqual(expected);
        await expect(mover.getSession(oldId)).resolves.toBeUndefined();
      }
    } finally {
      await mover.close();
      for (const writer of writers) await writer.close();
      for (const client of others) client.disconnect();
    }
  });

  it('should let a logout on another connection win over the move', async () => {
    const other = testClient(redis.url);
    const mover = new Storage(redis.client, { prefix });
    const logout = new Storage(other, { prefix });
    try {
      for (let round = 0; round < 10; round++) {
        const [oldId, newId] = [generateId(), generateId()];
        await mover.setSession(oldId, one('user', '"alice"'), HOUR, { create: true });
        const [, removed] = await Promise.all([mover.moveSession(oldId, newId, one('n', '1'), HOUR, MOVE), logout.removeAll(oldId)]);
        expect(removed).toBe(true);
        await expect(mover.getSession(oldId)).resolves.toBeUndefined();
        await expect(mover.getSession(newId)).resolves.toBeUndefined();
        await expect(mover.setSession(newId, one('late', '1'), HOUR, { create: false })).resolves.toBe(false);
      }
    } finally {
      await mover.close();
      await logout.close();
      other.disconnect();
    }
  });
});
