/**
 * The storage contract suite: one lifecycle, run against every storage (the connect-redis
 * `lifecycleTest` idea). Each storage test file calls `describeStorage(name, factory)`.
 */
import { generateId, Manager, type SessionRecord, type Storage } from 'sessionware';

/** What a storage test file hands the contract suite. */
export interface StorageHarness {
  readonly storage: Storage;
  /**
   * Lets `ms` milliseconds pass for this storage: moves an injected clock forward, or (for servers
   * whose clock cannot be injected, like Redis) really waits. The suite keeps such waits short.
   */
  advance(ms: number): Promise<void>;
  /** Applies TTL refreshes the storage batches (e.g. `storage.flush()`); omit if it has none. */
  flush?(): Promise<void>;
  /** Releases everything the harness created (the suite calls `storage.close()` first). */
  cleanup?(): Promise<void>;
}

/** Builds a fresh, empty storage for each test. */
export type StorageFactory = () => Promise<StorageHarness>;

/** TTL long enough that nothing expires unless a test lets time pass on purpose. */
const LONG = 60 * 60 * 1000;

const rec = (entries: Record<string, unknown>): Map<string, string> =>
  new Map(Object.entries(entries).map(([k, v]) => [k, JSON.stringify(v)]));
const plain = (record: SessionRecord | undefined): Record<string, unknown> | undefined =>
  record && Object.fromEntries([...record].map(([k, v]) => [k, JSON.parse(v) as unknown]));
const changes = (set: Record<string, unknown>, removed: string[] = []) => ({ set: rec(set), removed: new Set(removed) });
const CREATE = { create: true } as const;
const UPDATE = { create: false } as const;

/**
 * Registers the contract tests for one storage.
 * @param shortTTL a TTL (ms) the expiry tests use; real-time storages want it small.
 */
export function describeStorage(name: string, factory: StorageFactory, { shortTTL = 400 }: { shortTTL?: number } = {}): void {
  describe(`Storage contract: ${name}`, () => {
    let h: StorageHarness;
    let storage: Storage;

    beforeEach(async () => {
      h = await factory();
      storage = h.storage;
    });
    afterEach(async () => {
      await storage.close();
      await h.cleanup?.();
    });

    describe('getSession / setSession', () => {
      it('should resolve undefined for an unknown id', async () => {
        await expect(storage.getSession(generateId(), LONG)).resolves.toBeUndefined();
      });

      it('should create a session with create: true and read it back verbatim', async () => {
        const id = generateId();
        const values = { n: 42, s: 'héllo "quoted" \u2028 😀', big: 12345678901234567, f: 0.1 + 0.2, empty: [], obj: {}, nested: { a: [1, { b: null }] }, t: true };
        await expect(storage.setSession(id, changes(values), LONG, CREATE)).resolves.toBe(true);
        expect(plain(await storage.getSession(id, LONG))).toEqual(values);
      });

      it('should keep awkward key names apart', async () => {
        const id = generateId();
        const keys = ['__proto__', 'constructor', 'toString', 'a.b', 'a:b', 'with space', 'ключ', ''];
        const record = new Map(keys.map((k, i) => [k, String(i)]));
        await storage.setSession(id, { set: record, removed: new Set() }, LONG, CREATE);
        const stored = await storage.getSession(id, LONG);
        expect(stored && [...stored].sort()).toEqual([...record].sort());
      });

      it('should not re-create a missing session with create: false', async () => {
        const id = generateId();
        await expect(storage.setSession(id, changes({ a: 1 }), LONG, UPDATE)).resolves.toBe(false);
        await expect(storage.getSession(id, LONG)).resolves.toBeUndefined();
      });

      it('should apply only what changed, keeping keys written by others', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ a: 1, b: 2, c: 3 }), LONG, CREATE);
        await storage.setSession(id, changes({ a: 10 }, ['c']), LONG, UPDATE);
        await storage.setSession(id, changes({ d: 4 }), LONG, UPDATE);
        expect(plain(await storage.getSession(id, LONG))).toEqual({ a: 10, b: 2, d: 4 });
      });

      it('should keep every change of overlapping writers on disjoint keys', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ base: true }), LONG, CREATE);
        const writers = Array.from({ length: 12 }, (_, i) => storage.setSession(id, changes({ [`k${i}`]: i }), LONG, UPDATE));
        expect(await Promise.all(writers)).toEqual(Array(12).fill(true));
        const stored = plain(await storage.getSession(id, LONG));
        expect(stored).toEqual({ base: true, ...Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`k${i}`, i])) });
      });

      it('should hand out isolated copies', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ a: 1 }), LONG, CREATE);
        const first = await storage.getSession(id, LONG);
        await storage.setSession(id, changes({ a: 2, b: 3 }), LONG, UPDATE);
        expect(plain(first)).toEqual({ a: 1 });
      });

      it('should accept ids of 8 and 128 characters with - and _', async () => {
        for (const id of ['a-b_c-d_', `${'x_-Y'.repeat(32)}`]) {
          await storage.setSession(id, changes({ ok: id.length }), LONG, CREATE);
          expect(plain(await storage.getSession(id, LONG))).toEqual({ ok: id.length });
        }
      });
    });

    describe('removeAll', () => {
      it('should delete the session and say whether one was there', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ a: 1 }), LONG, CREATE);
        await expect(storage.removeAll(id)).resolves.toBe(true);
        await expect(storage.getSession(id, LONG)).resolves.toBeUndefined();
        await expect(storage.removeAll(id)).resolves.toBe(false);
      });

      it('should never let a later update bring the session back', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ user: 'alice' }), LONG, CREATE);
        await storage.removeAll(id);
        await expect(storage.setSession(id, changes({ cart: [1] }), LONG, UPDATE)).resolves.toBe(false);
        await storage.updateTTL(id, LONG);
        await h.flush?.();
        await expect(storage.getSession(id, LONG)).resolves.toBeUndefined();
      });

      it('should win against writers racing it', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ user: 'alice' }), LONG, CREATE);
        const racers = Array.from({ length: 8 }, (_, i) => storage.setSession(id, changes({ [`r${i}`]: i }), LONG, UPDATE));
        await storage.removeAll(id);
        await Promise.all(racers);
        // Writers that finished before the removal are gone with it; none may run after it.
        await expect(storage.setSession(id, changes({ late: 1 }), LONG, UPDATE)).resolves.toBe(false);
        await expect(storage.getSession(id, LONG)).resolves.toBeUndefined();
      });
    });

    describe('TTL', () => {
      it('should treat an expired session as missing', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ a: 1 }), shortTTL, CREATE);
        await h.advance(shortTTL * 2);
        await expect(storage.getSession(id, shortTTL)).resolves.toBeUndefined();
        await expect(storage.setSession(id, changes({ b: 1 }), shortTTL, UPDATE)).resolves.toBe(false);
      });

      it('should extend a session with updateTTL', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ a: 1 }), shortTTL, CREATE);
        await h.advance(shortTTL * 0.6);
        await storage.updateTTL(id, shortTTL);
        await h.flush?.();
        await h.advance(shortTTL * 0.6);
        expect(plain(await storage.getSession(id, shortTTL))).toEqual({ a: 1 });
      });

      it('should reset the TTL on every write', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ a: 1 }), shortTTL, CREATE);
        await h.advance(shortTTL * 0.6);
        await storage.setSession(id, changes({ b: 2 }), shortTTL, UPDATE);
        await h.advance(shortTTL * 0.6);
        expect(plain(await storage.getSession(id, shortTTL))).toEqual({ a: 1, b: 2 });
      });

      it('should not create a session with updateTTL', async () => {
        const id = generateId();
        await storage.updateTTL(id, LONG);
        await h.flush?.();
        await expect(storage.getSession(id, LONG)).resolves.toBeUndefined();
      });
    });

    describe('per-key capabilities (where implemented)', () => {
      it('should read, write and remove single keys consistently with getSession', async () => {
        const id = generateId();
        const { get, set, setMap, remove, data, getSize } = storage;
        if (!set && !setMap) return; // whole-session storage: nothing to check here
        if (setMap) await expect(setMap.call(storage, id, rec({ a: 1, b: [2] }), LONG, CREATE)).resolves.toBe(true);
        else await set?.call(storage, id, 'a', '1', LONG, CREATE), await set?.call(storage, id, 'b', '[2]', LONG, UPDATE);
        expect(await storage.getSession(id, LONG)).toBeDefined();
        if (get) {
          await expect(get.call(storage, id, 'b')).resolves.toBe('[2]');
          await expect(get.call(storage, id, 'zz')).resolves.toBeUndefined();
        }
        if (remove) await remove.call(storage, id, ['a']);
        if (data) expect(plain(await data.call(storage, id))).toEqual(remove ? { b: [2] } : { a: 1, b: [2] });
        if (getSize) await expect(getSize.call(storage, id)).resolves.toBe(remove ? 1 : 2);
      });

      it('should not re-create a removed session through per-key writes', async () => {
        const id = generateId();
        const { set, setMap } = storage;
        if (!set && !setMap) return;
        await storage.setSession(id, changes({ a: 1 }), LONG, CREATE);
        await storage.removeAll(id);
        if (set) await expect(set.call(storage, id, 'x', '1', LONG, UPDATE)).resolves.toBe(false);
        if (setMap) await expect(setMap.call(storage, id, rec({ y: 2 }), LONG, UPDATE)).resolves.toBe(false);
        await expect(storage.getSession(id, LONG)).resolves.toBeUndefined();
      });
    });

    describe('through Manager and Session', () => {
      it('should persist a new session on close and read it from another session', async () => {
        const manager = new Manager({ storage, ttl: LONG });
        const s1 = manager.new();
        await s1.set('k1', 'v1');
        await s1.setMap({ k2: 2, k3: { deep: ['x'] } });
        expect(s1.isDirty()).toBe(true);
        const id = await s1.id();
        await s1.close();

        const s2 = manager.new(id);
        await expect(s2.get('k1')).resolves.toBe('v1');
        await expect(s2.get('k3')).resolves.toEqual({ deep: ['x'] });
        await expect(s2.size()).resolves.toBe(3);
        await expect(s2.contains('k2')).resolves.toBe(true);
        await expect(s2.contains('k9')).resolves.toBe(false);
        await s2.remove('k2', 'k9');
        await s2.close();

        const s3 = manager.new(id);
        await expect(s3.data()).resolves.toEqual({ k1: 'v1', k3: { deep: ['x'] } });
        await s3.close();
      });

      it('should never adopt an unknown id', async () => {
        const manager = new Manager({ storage, ttl: LONG });
        const forged = generateId();
        const s = manager.new(forged);
        await s.set('a', 1);
        const id = await s.id();
        expect(id).not.toBe(forged);
        await s.close();
        await expect(storage.getSession(forged, LONG)).resolves.toBeUndefined();
        expect(plain(await storage.getSession(id, LONG))).toEqual({ a: 1 });
      });

      it('should regenerate: new id, data kept, old id gone', async () => {
        const manager = new Manager({ storage, ttl: LONG });
        const s1 = manager.new();
        await s1.setMap({ user: 'alice', n: 1 });
        const oldId = await s1.id();
        await s1.close();

        const s2 = manager.new(oldId);
        await s2.set('n', 2);
        await s2.regenerate();
        const newId = await s2.id();
        expect(newId).not.toBe(oldId);
        await s2.close();
        await expect(storage.getSession(oldId, LONG)).resolves.toBeUndefined();
        expect(plain(await storage.getSession(newId, LONG))).toEqual({ user: 'alice', n: 2 });
      });

      it('should log out with removeAll, and later writes start a new id', async () => {
        const manager = new Manager({ storage, ttl: LONG });
        const s1 = manager.new();
        await s1.set('user', 'alice');
        const id = await s1.id();
        await s1.close();

        const s2 = manager.new(id);
        await s2.removeAll();
        await expect(s2.size()).resolves.toBe(0);
        await s2.set('flash', 'bye');
        const next = await s2.id();
        expect(next).not.toBe(id);
        await s2.close();
        await expect(storage.getSession(id, LONG)).resolves.toBeUndefined();
        expect(plain(await storage.getSession(next, LONG))).toEqual({ flash: 'bye' });
      });

      it('should keep both changes of two overlapping sessions and let a logout win', async () => {
        const manager = new Manager({ storage, ttl: LONG });
        const s0 = manager.new();
        await s0.set('user', 'alice');
        const id = await s0.id();
        await s0.close();

        const a = manager.new(id);
        const b = manager.new(id);
        await a.get('user');
        await b.get('user');
        await a.set('fromA', 1);
        await b.set('fromB', 2);
        await Promise.all([a.close(), b.close()]);
        expect(plain(await storage.getSession(id, LONG))).toEqual({ user: 'alice', fromA: 1, fromB: 2 });

        const slow = manager.new(id);
        await slow.get('user');
        const logout = manager.new(id);
        await logout.removeAll();
        await logout.close();
        await slow.set('cart', ['late']);
        await slow.close();
        await expect(storage.getSession(id, LONG)).resolves.toBeUndefined();
      });
    });
  });
}
