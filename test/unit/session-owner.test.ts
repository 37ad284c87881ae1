/**
 * `setOwner()` / `getOwner()` and the manager's listing, below HTTP: the order of the index and
 * the write, `regenerate()` before and after `setOwner()`, creation times, `lastUsed` with a
 * session's own TTL, and storage failures.
 */
import { FileStorage, Manager, MemoryStorage, StorageError, type Storage } from 'sessionware';
import { useTempDir } from '../helpers/temp-dir';

const HOUR = 3_600_000;

describe('session owners', () => {
  const tmp = useTempDir('sessionware-owner-unit-');

  const storages: [string, () => Storage][] = [
    ['MemoryStorage', () => new MemoryStorage()],
    ['FileStorage', () => new FileStorage(tmp.path)],
  ];

  for (const [name, make] of storages) {
    it(`should index the new id when a session not stored yet is regenerated after setOwner (${name})`, async () => {
      const storage = make();
      const manager = new Manager({ storage, ttl: HOUR });
      const s = manager.new();
      await s.set('cart', [1]);
      await s.setOwner('ada');
      await s.regenerate();
      const id = await s.id();
      await s.close();
      expect((await manager.sessionsOf('ada')).map((d) => d.digest)).toEqual([manager.digestOf(id)]);
      const again = manager.new(id);
      expect(await again.getOwner()).toBe('ada');
      expect(await again.data()).toEqual({ cart: [1] });
      expect(await again.size()).toBe(1);
      await again.close();
      await storage.close();
    });

    it(`should call addOwner before the write that stores $sw:owner (${name})`, async () => {
      const storage = make();
      const order: string[] = [];
      for (const method of ['addOwner', 'setSession', 'setMap', 'set'] as const) {
        const original = (storage as unknown as Record<string, unknown>)[method];
        if (typeof original !== 'function') continue;
        (storage as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
          order.push(method);
          return (original as (...a: unknown[]) => unknown).apply(storage, args);
        };
      }
      const manager = new Manager({ storage, ttl: HOUR });
      const s = manager.new();
      await s.setOwner('ada');
      await s.close();
      expect(order[0]).toBe('addOwner');
      expect(order.length).toBe(2);
      await storage.close();
    });
  }

  it('should record a creation time once, and list lastUsed from the session\'s own TTL', async () => {
    const storage = new MemoryStorage();
    const manager = new Manager({ storage, ttl: HOUR });
    const s = manager.new();
    await s.set('a', 1);
    await s.setTTL(30 * 24 * HOUR); // remember me
    const id = await s.id();
    await s.close();
    const before = Date.now();
    const owned = manager.new(id);
    await owned.setOwner('ada');
    await owned.close();
    const [listed] = await manager.sessionsOf('ada');
    expect(listed?.created?.getTime()).toBeGreaterThanOrEqual(before - 5);
    expect(Math.abs((listed?.lastUsed.getTime() ?? 0) - Date.now())).toBeLessThan(1000);
    expect((listed?.expires.getTime() ?? 0) - Date.now()).toBeGreaterThan(29 * 24 * HOUR);
    const created = listed?.created?.getTime();
    const again = manager.new(id);
    await again.setOwner('bob');
    await again.close();
    expect((await manager.sessionsOf('bob'))[0]?.created?.getTime()).toBe(created);
    expect(await manager.sessionsOf('ada')).toEqual([]);
    await storage.close();
  });

  it('should turn an index failure into a StorageError naming the method, and write no owner', async () => {
    const storage = new MemoryStorage();
    storage.addOwner = async () => {
      throw new Error('index down');
    };
    const manager = new Manager({ storage, ttl: HOUR });
    const s = manager.new();
    await s.set('a', 1);
    const id = await s.id();
    await s.close();
    const owned = manager.new(id);
    await expect(owned.setOwner('ada')).rejects.toMatchObject({ name: 'StorageError', operation: 'addOwner' });
    await owned.close();
    expect((await storage.getSession(id, HOUR))?.has('$sw:owner')).toBe(false);
    await storage.close();
  });

  it('should refuse a storage that has only some of the index methods', async () => {
    const storage = new MemoryStorage();
    (storage as { forgetOwner?: unknown }).forgetOwner = undefined;
    const manager = new Manager({ storage, ttl: HOUR });
    await expect(manager.sessionsOf('ada')).rejects.toThrow(StorageError);
    await expect(manager.new().setOwner('ada')).rejects.toThrow(/keeps no owner index/);
    await storage.close();
  });
});
