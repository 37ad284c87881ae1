/**
 * `sessionware/testing`: the storage contract suite. One lifecycle, run against every storage
 * (the connect-redis `lifecycleTest` idea); run it against your own storage too. It works with
 * jest, vitest, mocha and `node:test`: it uses the runner's `describe`/`it`/`beforeEach`/`afterEach`
 * (the globals, or the ones you pass) and `node:assert/strict`.
 *
 * @example jest (globals)
 * ```ts
 * import { describeStorage } from 'sessionware/testing';
 * import { MyStorage } from '../src/my-storage';
 *
 * describeStorage('MyStorage', async () => ({ storage: new MyStorage(), advance: (ms) => sleep(ms) }));
 * ```
 * @example node:test
 * ```ts
 * import * as test from 'node:test';
 * import { describeStorage } from 'sessionware/testing';
 *
 * describeStorage('MyStorage', factory, { runner: test });
 * ```
 * @module
 */
import assert from 'node:assert/strict';
import { Manager } from '../manager';
import { generateId } from '../id';
import type { Storage } from '../storage/storage';
import { CREATE, LONG, UPDATE, changes, plain, rec } from './contract-helpers';
import { describeMoveContract } from './contract-move';
import { describeCasContract } from './contract-cas';
import { describeOwnerContract } from './contract-owner';
import { describeKeysContract } from './contract-keys';

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

type Block = () => void | Promise<void>;

/** The test functions the suite registers its tests with; jest, vitest, mocha and `node:test` all have them. */
export interface TestRunner {
  describe(name: string, fn: () => void): unknown;
  it(name: string, fn: Block): unknown;
  beforeEach(fn: Block): unknown;
  afterEach(fn: Block): unknown;
}

/** Options of {@link describeStorage}. */
export interface ContractOptions {
  /**
   * A TTL (ms) the expiry tests use; real-time storages (whose clock cannot be injected) want it small.
   * @default 400
   */
  readonly shortTTL?: number;
  /**
   * The test functions to register with.
   * @default the global `describe`, `it`, `beforeEach` and `afterEach` (jest, vitest with globals, mocha)
   */
  readonly runner?: TestRunner;
}

/**
 * Registers the contract tests for one storage.
 * @throws {TypeError} when no runner is given and the test framework has no globals.
 */
export function describeStorage(name: string, factory: StorageFactory, options: ContractOptions = {}): void {
  const { shortTTL = 400 } = options;
  const runner = options.runner ?? globalRunner();
  const { describe, it, beforeEach, afterEach } = runner;
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
        assert.equal(await storage.getSession(generateId(), LONG), undefined);
      });

      it('should create a session with create: true and read it back verbatim', async () => {
        const id = generateId();
        const values = { n: 42, s: 'héllo "quoted" \u2028 😀', big: 12345678901234567, f: 0.1 + 0.2, empty: [], obj: {}, nested: { a: [1, { b: null }] }, t: true };
        assert.equal(await storage.setSession(id, changes(values), LONG, CREATE), true);
        assert.deepEqual(plain(await storage.getSession(id, LONG)), values);
      });

      it('should keep awkward key names apart', async () => {
        const id = generateId();
        const keys = ['__proto__', 'constructor', 'toString', 'a.b', 'a:b', 'with space', 'ключ', ''];
        const record = new Map(keys.map((k, i) => [k, String(i)]));
        await storage.setSession(id, { set: record, removed: new Set() }, LONG, CREATE);
        const stored = await storage.getSession(id, LONG);
        assert.deepEqual(stored && [...stored].sort(), [...record].sort());
      });

      it('should not re-create a missing session with create: false', async () => {
        const id = generateId();
        assert.equal(await storage.setSession(id, changes({ a: 1 }), LONG, UPDATE), false);
        assert.equal(await storage.getSession(id, LONG), undefined);
      });

      it('should apply only what changed, keeping keys written by others', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ a: 1, b: 2, c: 3 }), LONG, CREATE);
        await storage.setSession(id, changes({ a: 10 }, ['c']), LONG, UPDATE);
        await storage.setSession(id, changes({ d: 4 }), LONG, UPDATE);
        assert.deepEqual(plain(await storage.getSession(id, LONG)), { a: 10, b: 2, d: 4 });
      });

      it('should keep every change of overlapping writers on disjoint keys', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ base: true }), LONG, CREATE);
        const writers = Array.from({ length: 12 }, (_, i) => storage.setSession(id, changes({ [`k${i}`]: i }), LONG, UPDATE));
        assert.deepEqual(await Promise.all(writers), Array(12).fill(true));
        const stored = plain(await storage.getSession(id, LONG));
        assert.deepEqual(stored, { base: true, ...Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`k${i}`, i])) });
      });

      it('should hand out isolated copies', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ a: 1 }), LONG, CREATE);
        const first = await storage.getSession(id, LONG);
        await storage.setSession(id, changes({ a: 2, b: 3 }), LONG, UPDATE);
        assert.deepEqual(plain(first), { a: 1 });
      });

      it('should accept ids of 8 and 128 characters with - and _', async () => {
        for (const id of ['a-b_c-d_', `${'x_-Y'.repeat(32)}`]) {
          await storage.setSession(id, changes({ ok: id.length }), LONG, CREATE);
          assert.deepEqual(plain(await storage.getSession(id, LONG)), { ok: id.length });
        }
      });
    });

    describe('removeAll', () => {
      it('should delete the session and say whether one was there', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ a: 1 }), LONG, CREATE);
        assert.equal(await storage.removeAll(id), true);
        assert.equal(await storage.getSession(id, LONG), undefined);
        assert.equal(await storage.removeAll(id), false);
      });

      it('should never let a later update bring the session back', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ user: 'alice' }), LONG, CREATE);
        await storage.removeAll(id);
        assert.equal(await storage.setSession(id, changes({ cart: [1] }), LONG, UPDATE), false);
        await storage.updateTTL(id, LONG);
        await h.flush?.();
        assert.equal(await storage.getSession(id, LONG), undefined);
      });

      it('should win against writers racing it', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ user: 'alice' }), LONG, CREATE);
        const racers = Array.from({ length: 8 }, (_, i) => storage.setSession(id, changes({ [`r${i}`]: i }), LONG, UPDATE));
        await storage.removeAll(id);
        await Promise.all(racers);
        // Writers that finished before the removal are gone with it; none may run after it.
        assert.equal(await storage.setSession(id, changes({ late: 1 }), LONG, UPDATE), false);
        assert.equal(await storage.getSession(id, LONG), undefined);
      });
    });

    describe('TTL', () => {
      it('should treat an expired session as missing', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ a: 1 }), shortTTL, CREATE);
        await h.advance(shortTTL * 2);
        assert.equal(await storage.getSession(id, shortTTL), undefined);
        assert.equal(await storage.setSession(id, changes({ b: 1 }), shortTTL, UPDATE), false);
      });

      it('should extend a session with updateTTL', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ a: 1 }), shortTTL, CREATE);
        await h.advance(shortTTL * 0.6);
        await storage.updateTTL(id, shortTTL);
        await h.flush?.();
        await h.advance(shortTTL * 0.6);
        assert.deepEqual(plain(await storage.getSession(id, shortTTL)), { a: 1 });
      });

      it('should reset the TTL on every write', async () => {
        const id = generateId();
        await storage.setSession(id, changes({ a: 1 }), shortTTL, CREATE);
        await h.advance(shortTTL * 0.6);
        await storage.setSession(id, changes({ b: 2 }), shortTTL, UPDATE);
        await h.advance(shortTTL * 0.6);
        assert.deepEqual(plain(await storage.getSession(id, shortTTL)), { a: 1, b: 2 });
      });

      it('should not create a session with updateTTL', async () => {
        const id = generateId();
        await storage.updateTTL(id, LONG);
        await h.flush?.();
        assert.equal(await storage.getSession(id, LONG), undefined);
      });
    });

    describe('per-key capabilities (where implemented)', () => {
      it('should read, write and remove single keys consistently with getSession', async () => {
        const id = generateId();
        const { get, set, setMap, remove, data, getSize } = storage;
        if (!set && !setMap) return; // whole-session storage: nothing to check here
        if (setMap) assert.equal(await setMap.call(storage, id, rec({ a: 1, b: [2] }), LONG, CREATE), true);
        else await set?.call(storage, id, 'a', '1', LONG, CREATE), await set?.call(storage, id, 'b', '[2]', LONG, UPDATE);
        assert.notEqual(await storage.getSession(id, LONG), undefined);
        if (get) {
          assert.equal(await get.call(storage, id, 'b'), '[2]');
          assert.equal(await get.call(storage, id, 'zz'), undefined);
        }
        if (remove) await remove.call(storage, id, ['a']);
        if (data) assert.deepEqual(plain(await data.call(storage, id)), remove ? { b: [2] } : { a: 1, b: [2] });
        if (getSize) assert.equal(await getSize.call(storage, id), remove ? 1 : 2);
      });

      it('should not re-create a removed session through per-key writes', async () => {
        const id = generateId();
        const { set, setMap } = storage;
        if (!set && !setMap) return;
        await storage.setSession(id, changes({ a: 1 }), LONG, CREATE);
        await storage.removeAll(id);
        if (set) assert.equal(await set.call(storage, id, 'x', '1', LONG, UPDATE), false);
        if (setMap) assert.equal(await setMap.call(storage, id, rec({ y: 2 }), LONG, UPDATE), false);
        assert.equal(await storage.getSession(id, LONG), undefined);
      });
    });

    const context = { runner, shortTTL, harness: () => h, storage: () => storage };
    describeMoveContract(context);
    describeCasContract(context);
    describeOwnerContract(context);
    describeKeysContract(context);

    describe('through Manager and Session', () => {
      it('should persist a new session on close and read it from another session', async () => {
        const manager = new Manager({ storage, ttl: LONG });
        const s1 = manager.new();
        await s1.set('k1', 'v1');
        await s1.setMap({ k2: 2, k3: { deep: ['x'] } });
        assert.equal(s1.isDirty(), true);
        const id = await s1.id();
        await s1.close();

        const s2 = manager.new(id);
        assert.equal(await s2.get('k1'), 'v1');
        assert.deepEqual(await s2.get('k3'), { deep: ['x'] });
        assert.equal(await s2.size(), 3);
        assert.equal(await s2.contains('k2'), true);
        assert.equal(await s2.contains('k9'), false);
        await s2.remove('k2', 'k9');
        await s2.close();

        const s3 = manager.new(id);
        assert.deepEqual(await s3.data(), { k1: 'v1', k3: { deep: ['x'] } });
        await s3.close();
      });

      it('should never adopt an unknown id', async () => {
        const manager = new Manager({ storage, ttl: LONG });
        const forged = generateId();
        const s = manager.new(forged);
        await s.set('a', 1);
        const id = await s.id();
        assert.notEqual(id, forged);
        await s.close();
        assert.equal(await storage.getSession(forged, LONG), undefined);
        assert.deepEqual(plain(await storage.getSession(id, LONG)), { a: 1 });
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
        assert.notEqual(newId, oldId);
        assert.deepEqual(await s2.data(), { user: 'alice', n: 2 }, 'the session still sees its data after the move');
        await s2.close();
        assert.equal(await storage.getSession(oldId, LONG), undefined);
        assert.deepEqual(plain(await storage.getSession(newId, LONG)), { user: 'alice', n: 2 });
      });

      it('should log out with removeAll, and later writes start a new id', async () => {
        const manager = new Manager({ storage, ttl: LONG });
        const s1 = manager.new();
        await s1.set('user', 'alice');
        const id = await s1.id();
        await s1.close();

        const s2 = manager.new(id);
        await s2.removeAll();
        assert.equal(await s2.size(), 0);
        await s2.set('flash', 'bye');
        const next = await s2.id();
        assert.notEqual(next, id);
        await s2.close();
        assert.equal(await storage.getSession(id, LONG), undefined);
        assert.deepEqual(plain(await storage.getSession(next, LONG)), { flash: 'bye' });
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
        assert.deepEqual(plain(await storage.getSession(id, LONG)), { user: 'alice', fromA: 1, fromB: 2 });

        const slow = manager.new(id);
        await slow.get('user');
        const logout = manager.new(id);
        await logout.removeAll();
        await logout.close();
        await slow.set('cart', ['late']);
        await slow.close();
        assert.equal(await storage.getSession(id, LONG), undefined);
      });
    });
  });
}

function globalRunner(): TestRunner {
  const g = globalThis as Partial<TestRunner>;
  if (typeof g.describe !== 'function' || typeof g.it !== 'function' || typeof g.beforeEach !== 'function' || typeof g.afterEach !== 'function') {
    throw new TypeError('describeStorage: no global describe/it/beforeEach/afterEach; pass { runner } (e.g. `import * as test from "node:test"`).');
  }
  return g as TestRunner;
}
