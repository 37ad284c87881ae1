import { generateId, MemoryStorage, SessionOptionsError } from 'sessionware';
import { TestClock } from '../helpers/clock';
import { libPath, runScript } from '../helpers/child';
import { describeStorage } from 'sessionware/testing';

describeStorage('MemoryStorage', async () => {
  const clock = new TestClock();
  return { storage: new MemoryStorage({ now: clock.now }), advance: async (ms) => clock.advance(ms) };
});

const ONE = { set: new Map([['a', '1']]), removed: new Set<string>() };

describe('MemoryStorage', () => {
  it('should reject bad options with a SessionOptionsError', () => {
    expect(() => new MemoryStorage({ pruneInterval: 0 })).toThrow(SessionOptionsError);
    expect(() => new MemoryStorage({ maxSessions: 0 })).toThrow(SessionOptionsError);
  });

  it('should prune expired sessions so the map shrinks back', async () => {
    const clock = new TestClock();
    const storage = new MemoryStorage({ now: clock.now });
    for (let i = 0; i < 1000; i++) await storage.setSession(generateId(), ONE, 1000, { create: true });
    const keep = generateId();
    await storage.setSession(keep, ONE, 5000, { create: true });
    expect(storage.size).toBe(1001);
    clock.advance(2000);
    storage.prune();
    expect(storage.size).toBe(1);
    await expect(storage.getSession(keep, 5000)).resolves.toBeDefined();
    await storage.close();
  });

  it('should evict the least recently written session beyond maxSessions', async () => {
    const storage = new MemoryStorage({ maxSessions: 2 });
    const [a, b, c] = [generateId(), generateId(), generateId()];
    await storage.setSession(a, ONE, 60_000, { create: true });
    await storage.setSession(b, ONE, 60_000, { create: true });
    await storage.updateTTL(a, 60_000); // a is now more recent than b
    await storage.setSession(c, ONE, 60_000, { create: true });
    expect(storage.size).toBe(2);
    await expect(storage.getSession(b, 60_000)).resolves.toBeUndefined();
    await expect(storage.getSession(a, 60_000)).resolves.toBeDefined();
    await storage.close();
  });

  it('should never evict the session it is writing, even when every other one was used lately', async () => {
    const storage = new MemoryStorage({ maxSessions: 2 });
    const [a, b, c] = [generateId(), generateId(), generateId()];
    await storage.setSession(a, ONE, 60_000, { create: true });
    await storage.setSession(b, ONE, 60_000, { create: true });
    await storage.updateTTL(a, 60_000);
    await storage.updateTTL(b, 60_000);
    await storage.setSession(c, ONE, 60_000, { create: true });
    expect(storage.size).toBe(2);
    await expect(storage.getSession(c, 60_000)).resolves.toBeDefined();
    await storage.close();
  });

  it('should keep a session that is used all the time while a flood of new ones goes round', async () => {
    const storage = new MemoryStorage({ maxSessions: 100 });
    const hot = generateId();
    await storage.setSession(hot, ONE, 60_000, { create: true });
    for (let i = 0; i < 1000; i++) {
      await storage.setSession(generateId(), ONE, 60_000, { create: true });
      if (i % 10 === 0) await storage.setSession(hot, ONE, 60_000, { create: false }); // written more often than the hand comes round
      expect(storage.size).toBeLessThanOrEqual(100);
    }
    await expect(storage.getSession(hot, 60_000)).resolves.toBeDefined();
    await storage.close();
  });

  it('should keep the forward a move just left when maxSessions evicts, and never loop with maxSessions 1', async () => {
    const MOVE = { keep: undefined, forwardTTL: 60_000 };
    const storage = new MemoryStorage({ maxSessions: 3 });
    const [a, b, oldId, newId] = [generateId(), generateId(), generateId(), generateId()];
    await storage.setSession(a, ONE, 60_000, { create: true });
    await storage.setSession(b, ONE, 60_000, { create: true });
    await storage.setSession(oldId, ONE, 60_000, { create: true });
    await storage.moveSession(oldId, newId, { set: new Map(), removed: new Set() }, 60_000, MOVE);
    expect(storage.size).toBe(3);
    await expect(storage.setSession(oldId, { set: new Map([['late', '1']]), removed: new Set() }, 60_000, { create: false })).resolves.toBe(true);
    await expect(storage.getSession(newId, 60_000)).resolves.toEqual(new Map([['a', '1'], ['late', '1']]));
    await storage.close();

    const tiny = new MemoryStorage({ maxSessions: 1 });
    await tiny.setSession(a, ONE, 60_000, { create: true });
    await expect(tiny.moveSession(a, b, { set: new Map(), removed: new Set() }, 60_000, MOVE)).resolves.toEqual(new Map([['a', '1']]));
    expect(tiny.size).toBe(1);
    await expect(tiny.getSession(b, 60_000)).resolves.toEqual(new Map([['a', '1']]));
    await tiny.close();
  });

  it('should not keep the process alive with its prune timer', async () => {
    const result = await runScript(`
      const { MemoryStorage } = require(${JSON.stringify(libPath('storage/memory.ts'))});
      const storage = new MemoryStorage({ pruneInterval: 60_000 });
      storage.setSession('abcdefgh', { set: new Map([['a', '1']]), removed: new Set() }, 60_000, { create: true })
        .then(() => console.log('stored'));
    `, { timeoutMs: 15_000 });
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('stored');
  });

  it('should return memory to its baseline after sessions expire', async () => {
    const result = await runScript(`
      const { MemoryStorage } = require(${JSON.stringify(libPath('storage/memory.ts'))});
      const { generateId } = require(${JSON.stringify(libPath('id.ts'))});
      let now = 0;
      const storage = new MemoryStorage({ now: () => now });
      const heap = () => { global.gc(); global.gc(); return process.memoryUsage().heapUsed; };
      (async () => {
        const before = heap();
        const changes = { set: new Map([['user', '{"id":1,"name":"alice"}']]), removed: new Set() };
        for (let i = 0; i < 100000; i++) await storage.setSession(generateId(), changes, 1000, { create: true });
        const full = heap();
        now += 2000;
        storage.prune();
        const after = heap();
        console.log(JSON.stringify({ before, full, after, size: storage.size }));
        await storage.close();
      })();
    `, { nodeArgs: ['--expose-gc'], timeoutMs: 60_000 });
    expect(result.code).toBe(0);
    const { before, full, after, size } = JSON.parse(result.stdout.trim().split('\n').pop() as string) as { before: number; full: number; after: number; size: number };
    expect(size).toBe(0);
    expect(full - before).toBeGreaterThan(5_000_000); // 100k sessions really took room
    expect(after - before).toBeLessThan((full - before) * 0.1); // and it came back
  });
});
