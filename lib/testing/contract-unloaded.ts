/**
 * The contract suite's part for `loadAndSet` (a write to a session the request has not loaded, and
 * its load, in one step). A storage without it skips these tests.
 * @internal
 * @module
 */
import assert from 'node:assert/strict';
import { generateId } from '../id';
import type { Storage } from '../storage/storage';
import { CREATE, LONG, changes, plain, rec, type ContractContext } from './contract-helpers';

const NO_LIMIT = 1024 * 1024;

/** Registers the `loadAndSet` tests. */
export function describeUnloadedContract(ctx: ContractContext): void {
  const { describe, it } = ctx.runner;
  const { shortTTL } = ctx;
  const loadAndSet = (storage: Storage) => storage.loadAndSet?.bind(storage);

  describe('loadAndSet (where implemented)', () => {
    it('should write onto the stored session and resolve the whole record', async () => {
      const storage = ctx.storage();
      const write = loadAndSet(storage);
      if (!write) return;
      const id = generateId();
      await storage.setSession(id, changes({ user: 'alice', n: 1 }), LONG, CREATE);
      const result = await write(id, rec({ n: 2, cart: ['x'] }), LONG, NO_LIMIT);
      assert.equal(result?.written, true);
      assert.deepEqual(plain(result?.record), { user: 'alice', n: 2, cart: ['x'] });
      assert.deepEqual(plain(await storage.getSession(id, LONG)), { user: 'alice', n: 2, cart: ['x'] });
    });

    it('should resolve undefined and create nothing for an unknown or removed id', async () => {
      const storage = ctx.storage();
      const write = loadAndSet(storage);
      if (!write) return;
      const id = generateId();
      assert.equal(await write(id, rec({ n: 1 }), LONG, NO_LIMIT), undefined);
      assert.equal(await storage.getSession(id, LONG), undefined);
      await storage.setSession(id, changes({ n: 1 }), LONG, CREATE);
      await storage.removeAll(id);
      assert.equal(await write(id, rec({ n: 2 }), LONG, NO_LIMIT), undefined);
      assert.equal(await storage.getSession(id, LONG), undefined);
    });

    it('should not follow a forward: an old id after a move is unknown, and the new session is untouched', async () => {
      const storage = ctx.storage();
      const write = loadAndSet(storage);
      if (!write || typeof storage.moveSession !== 'function') return;
      const [oldId, newId] = [generateId(), generateId()];
      await storage.setSession(oldId, changes({ user: 'alice' }), LONG, CREATE);
      await storage.moveSession(oldId, newId, changes({}), LONG, { keep: undefined, forwardTTL: LONG });
      assert.equal(await write(oldId, rec({ planted: true }), LONG, NO_LIMIT), undefined);
      assert.deepEqual(plain(await storage.getSession(newId, LONG)), { user: 'alice' });
      assert.equal(await storage.getSession(oldId, LONG), undefined);
    });

    it('should write nothing beyond maxBytes (every key and value, UTF-8) and resolve the record as stored', async () => {
      const storage = ctx.storage();
      const write = loadAndSet(storage);
      if (!write) return;
      const id = generateId();
      await storage.setSession(id, changes({ a: 'é' }), LONG, CREATE); // 'a' + '"é"': 1 + 4 bytes
      const over = await write(id, rec({ b: 'yy' }), LONG, 9); // + 'b' + '"yy"' = 10 bytes
      assert.equal(over?.written, false);
      assert.deepEqual(plain(over?.record), { a: 'é' });
      assert.deepEqual(plain(await storage.getSession(id, LONG)), { a: 'é' });
      const replaced = await write(id, rec({ a: 'xyz' }), LONG, 6); // the new value replaces the old one: 1 + 5 bytes
      assert.equal(replaced?.written, true);
      assert.deepEqual(plain(await storage.getSession(id, LONG)), { a: 'xyz' });
    });

    it("should keep the session's own TTL ($sw:ttl) rather than the one passed", async () => {
      const storage = ctx.storage();
      const write = loadAndSet(storage);
      if (!write) return;
      const id = generateId();
      await storage.setSession(id, { set: new Map([['$sw:ttl', String(shortTTL)], ['a', '1']]), removed: new Set() }, shortTTL, CREATE);
      assert.equal((await write(id, rec({ b: 2 }), LONG, NO_LIMIT))?.written, true);
      await ctx.harness().advance(shortTTL * 2);
      assert.equal(await storage.getSession(id, shortTTL), undefined, 'expired with its own TTL');
    });
  });
}
