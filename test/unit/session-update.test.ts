/**
 * `session.update()` / `increment()` on `Manager.new()` sessions: compare-and-set semantics,
 * retries, the conflict bound, value rules, `maxSessionBytes`, a gone session, and a storage
 * without `compareAndSet`.
 */
import {
  Manager,
  MemoryStorage,
  SessionConflictError,
  SessionError,
  SessionOptionsError,
  SessionValueError,
  StorageError,
  session,
  type Storage,
} from 'sessionware';

declare module 'sessionware' {
  interface SessionData {
    hits: number;
    tags: string[];
  }
}

const LONG = 60_000;

async function seed(manager: Manager, values: Record<string, unknown>): Promise<string> {
  const s = manager.new();
  await s.setMap(values);
  const id = await s.id();
  await s.close();
  return id;
}

describe('session.update() and increment()', () => {
  let storage: MemoryStorage;
  let manager: Manager;
  beforeEach(() => {
    storage = new MemoryStorage();
    manager = new Manager({ storage, ttl: LONG });
  });
  afterEach(() => storage.close());

  it('should increment a missing key from 0 and resolve the stored value, written through at once', async () => {
    const id = await seed(manager, { other: 1 });
    const s = manager.new(id);
    await expect(s.increment('hits')).resolves.toBe(1);
    await expect(s.increment('hits', 5)).resolves.toBe(6);
    await expect(s.get('hits')).resolves.toBe(6);
    expect((await storage.getSession(id, LONG))?.get('hits')).toBe('6'); // before close
    expect(s.isDirty()).toBe(true);
    await s.close();
  });

  it('should apply the change onto the value stored at the moment of the write (re-read after a conflict)', async () => {
    const id = await seed(manager, { hits: 1 });
    const s = manager.new(id);
    await s.get('hits'); // loaded: 1
    const other = manager.new(id);
    await other.increment('hits', 10); // 11, behind s's back
    await other.close();
    const calls: Array<number | undefined> = [];
    await expect(s.update('hits', (n) => (calls.push(n), (n ?? 0) + 1))).resolves.toBe(12);
    expect(calls).toEqual([1, 11]); // ran twice: the first result was computed from a stale value
    await s.close();
    expect((await storage.getSession(id, LONG))?.get('hits')).toBe('12');
  });

  it('should compute from this request\'s own unsent set() of the key, and replace it', async () => {
    const id = await seed(manager, { tags: ['a'] });
    const s = manager.new(id);
    await s.set('tags', ['x']); // MemoryStorage has no per-key writes: unsent until close
    await expect(s.update('tags', (t = []) => [...t, 'y'])).resolves.toEqual(['x', 'y']);
    expect((await storage.getSession(id, LONG))?.get('tags')).toBe('["x","y"]');
    await s.close();
    expect((await storage.getSession(id, LONG))?.get('tags')).toBe('["x","y"]');
  });

  it('should remove the key when the function returns undefined', async () => {
    const id = await seed(manager, { tags: ['a'], keep: true });
    const s = manager.new(id);
    await expect(s.update('tags', () => undefined)).resolves.toBeUndefined();
    await expect(s.contains('tags')).resolves.toBe(false);
    await s.close();
    expect([...((await storage.getSession(id, LONG)) ?? new Map()).keys()]).toEqual(['keep']);
  });

  it('should create a new session (an id the client then gets) on a fresh session', async () => {
    const s = manager.new();
    await expect(s.increment('hits')).resolves.toBe(1);
    expect(s.isNew()).toBe(false);
    const id = await s.id();
    await s.close();
    expect((await storage.getSession(id, LONG))?.get('hits')).toBe('1');
  });

  it('should reject a non-number stored value with a SessionValueError naming the key, writing nothing', async () => {
    const id = await seed(manager, { label: 'x' });
    const s = manager.new(id);
    const err = await s.increment('label').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionValueError);
    expect((err as SessionValueError).key).toBe('label');
    expect((err as Error).message).toContain('label');
    await expect((s.increment as (k: string, by: unknown) => Promise<number>)('hits', '2')).rejects.toBeInstanceOf(SessionValueError);
    await expect(s.increment('hits', Number.NaN)).rejects.toBeInstanceOf(SessionValueError);
    await s.close();
    expect((await storage.getSession(id, LONG))?.get('label')).toBe('"x"');
  });

  it('should apply the value rules and maxSessionBytes, and pass on what the function throws', async () => {
    const small = new Manager({ storage, ttl: LONG, maxSessionBytes: 100 });
    const s = small.new();
    await expect(s.update('re', () => /x/)).rejects.toBeInstanceOf(SessionValueError);
    await expect(s.update('big', () => 'x'.repeat(200))).rejects.toThrow(/maxSessionBytes/);
    const boom = new Error('boom');
    await expect(s.update('k', () => {
      throw boom;
    })).rejects.toBe(boom);
    await expect(s.data()).resolves.toEqual({});
    await s.close();
  });

  it('should reject with SessionConflictError (ERR_SESSION_CONFLICT) after maxConflicts conflicts', async () => {
    const id = await seed(manager, { hits: 0 });
    const strict = new Manager({ storage, ttl: LONG, maxConflicts: 2 });
    const s = strict.new(id);
    let runs = 0;
    const err = await s.update('hits', (n) => {
      runs++;
      void storage.setSession(id, { set: new Map([['hits', String(runs * 100)]]), removed: new Set() }, LONG, { create: false }); // someone else always wins
      return (n ?? 0) + 1;
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionConflictError);
    expect(err).toBeInstanceOf(SessionError);
    expect(err).toMatchObject({ code: 'ERR_SESSION_CONFLICT', key: 'hits', conflicts: 3 });
    expect(runs).toBe(3);
    await s.close();
  });

  it('should never re-create a session a logout removed', async () => {
    const id = await seed(manager, { hits: 1 });
    const s = manager.new(id);
    await s.get('hits');
    await storage.removeAll(id);
    await expect(s.increment('hits')).resolves.toBe(2); // what would have been stored; nothing is
    expect(s.isNew()).toBe(true);
    await expect(s.get('hits')).resolves.toBeUndefined();
    await s.close();
    await expect(storage.getSession(id, LONG)).resolves.toBeUndefined();
  });

  it('should reject clearly on a storage without compareAndSet', async () => {
    const bare = new MemoryStorage();
    const plain: Storage = {
      getSession: (id, ttl) => bare.getSession(id, ttl),
      setSession: (id, c, ttl, o) => bare.setSession(id, c, ttl, o),
      updateTTL: (id, ttl) => bare.updateTTL(id, ttl),
      removeAll: (id) => bare.removeAll(id),
      moveSession: (oldId, newId, c, ttl, o) => bare.moveSession(oldId, newId, c, ttl, o),
      close: () => bare.close(),
    };
    const s = new Manager({ storage: plain, ttl: LONG }).new();
    const err = await s.increment('hits').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toMatch(/compareAndSet\(\).*update\(\)/);
    await s.close();
    await bare.close();
  });

  it('should validate maxConflicts in Manager and session()', () => {
    expect(() => new Manager({ storage, maxConflicts: -1 })).toThrow(SessionOptionsError);
    expect(() => new Manager({ storage, maxConflicts: 1.5 })).toThrow(SessionOptionsError);
    expect(() => session(storage, { maxConflicts: Number.NaN })).toThrow(/maxConflicts/);
    expect(() => session(storage, { maxConflicts: 0 })).not.toThrow();
  });

  it('should type update and increment through SessionData', async () => {
    const s = manager.new();
    const tags: string[] | undefined = await s.update('tags', (t) => [...(t ?? []), 'a']);
    const hits: number = await s.increment('hits');
    // @ts-expect-error tags is declared as string[], not a number
    await s.increment('tags').catch(() => undefined);
    // @ts-expect-error the function must return the declared type
    await s.update('hits', () => 'x').catch(() => undefined);
    expect([tags, hits]).toEqual([['a'], 1]);
    await s.close();
  });
});
