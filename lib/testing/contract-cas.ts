/**
 * The contract suite's parts for `compareAndSet`, `count` and sessions that have no keys. A storage
 * without an optional method skips its tests.
 * @internal
 * @module
 */
import assert from 'node:assert/strict';
import { generateId } from '../id';
import type { Storage } from '../storage/storage';
import { CREATE, LONG, UPDATE, changes, plain, type ContractContext } from './contract-helpers';

/** Registers the `compareAndSet`, `count` and empty-session tests. */
export function describeCasContract(ctx: ContractContext): void {
  const { describe, it } = ctx.runner;
  const { shortTTL } = ctx;
  const cas = (storage: Storage) => storage.compareAndSet?.bind(storage);

  describe('compareAndSet (where implemented)', () => {
    it('should write only when the key holds the expected text', async () => {
      const storage = ctx.storage();
      const compareAndSet = cas(storage);
      if (!compareAndSet) return;
      const id = generateId();
      await storage.setSession(id, changes({ n: 1, other: 'x' }), LONG, CREATE);
      assert.equal(await compareAndSet(id, 'n', '1', '2', LONG, UPDATE), 'ok');
      assert.equal(await compareAndSet(id, 'n', '1', '3', LONG, UPDATE), 'conflict');
      assert.equal(await compareAndSet(id, 'n', undefined, '3', LONG, UPDATE), 'conflict', 'undefined means absent');
      assert.deepEqual(plain(await storage.getSession(id, LONG)), { n: 2, other: 'x' });
    });

    it('should treat expected undefined as absent, and remove the key when next is undefined', async () => {
      const storage = ctx.storage();
      const compareAndSet = cas(storage);
      if (!compareAndSet) return;
      const id = generateId();
      await storage.setSession(id, changes({ a: 1 }), LONG, CREATE);
      assert.equal(await compareAndSet(id, 'list', undefined, '[1]', LONG, UPDATE), 'ok');
      assert.equal(await compareAndSet(id, 'list', undefined, '[2]', LONG, UPDATE), 'conflict');
      assert.equal(await compareAndSet(id, 'list', '[1]', undefined, LONG, UPDATE), 'ok');
      assert.equal(await compareAndSet(id, 'a', '1', undefined, LONG, UPDATE), 'ok');
      assert.deepEqual(plain(await storage.getSession(id, LONG)), {}, 'the session outlives its last key');
      assert.equal(await compareAndSet(id, 'gone', undefined, undefined, LONG, UPDATE), 'ok');
    });

    it('should answer gone, writing nothing, for a missing or removed session with create: false', async () => {
      const storage = ctx.storage();
      const compareAndSet = cas(storage);
      if (!compareAndSet) return;
      const id = generateId();
      assert.equal(await compareAndSet(id, 'n', undefined, '1', LONG, UPDATE), 'gone');
      assert.equal(await storage.getSession(id, LONG), undefined);
      await storage.setSession(id, changes({ n: 1 }), LONG, CREATE);
      await storage.removeAll(id);
      assert.equal(await compareAndSet(id, 'n', '1', '2', LONG, UPDATE), 'gone');
      assert.equal(await storage.getSession(id, LONG), undefined);
    });

    it('should create a missing session with create: true only when the key is expected absent', async () => {
      const storage = ctx.storage();
      const compareAndSet = cas(storage);
      if (!compareAndSet) return;
      const id = generateId();
      assert.equal(await compareAndSet(id, 'n', '1', '2', LONG, CREATE), 'conflict');
      assert.equal(await storage.getSession(id, LONG), undefined);
      assert.equal(await compareAndSet(id, 'n', undefined, '1', LONG, CREATE), 'ok');
      assert.deepEqual(plain(await storage.getSession(id, LONG)), { n: 1 });
    });

    it('should let exactly one of concurrent compareAndSets from the same expected text win', async () => {
      const storage = ctx.storage();
      const compareAndSet = cas(storage);
      if (!compareAndSet) return;
      const id = generateId();
      await storage.setSession(id, changes({ n: 0 }), LONG, CREATE);
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => compareAndSet(id, 'n', '0', String(i + 1), LONG, UPDATE)));
      assert.equal(results.filter((r) => r === 'ok').length, 1, `one winner, got ${results.join(', ')}`);
      assert.equal(results.filter((r) => r === 'conflict').length, 7);
      const winner = results.indexOf('ok') + 1;
      assert.deepEqual(plain(await storage.getSession(id, LONG)), { n: winner });
    });

    it('should count every increment of concurrent read-compareAndSet loops', async () => {
      const storage = ctx.storage();
      const compareAndSet = cas(storage);
      if (!compareAndSet) return;
      const id = generateId();
      await storage.setSession(id, changes({ n: 0 }), LONG, CREATE);
      const bump = async (): Promise<void> => {
        for (let attempt = 0; attempt < 200; attempt++) {
          const current = (await storage.getSession(id, LONG))?.get('n');
          if ((await compareAndSet(id, 'n', current, String(Number(current) + 1), LONG, UPDATE)) === 'ok') return;
        }
        throw new Error('compareAndSet never succeeded in 200 attempts');
      };
      await Promise.all(Array.from({ length: 10 }, bump));
      assert.deepEqual(plain(await storage.getSession(id, LONG)), { n: 10 });
    });

    it('should follow a forward left by moveSession', async () => {
      const storage = ctx.storage();
      const compareAndSet = cas(storage);
      if (!compareAndSet) return;
      const [oldId, newId] = [generateId(), generateId()];
      await storage.setSession(oldId, changes({ n: 1 }), LONG, CREATE);
      await storage.moveSession(oldId, newId, changes({}), LONG, { keep: undefined, forwardTTL: LONG });
      assert.equal(await compareAndSet(oldId, 'n', '1', '2', LONG, UPDATE), 'ok');
      assert.equal(await compareAndSet(oldId, 'n', '1', '3', LONG, UPDATE), 'conflict');
      assert.deepEqual(plain(await storage.getSession(newId, LONG)), { n: 2 });
      assert.equal(await storage.getSession(oldId, LONG), undefined);
    });

    it('should reset the TTL when it writes', async () => {
      const storage = ctx.storage();
      const compareAndSet = cas(storage);
      if (!compareAndSet) return;
      const id = generateId();
      await storage.setSession(id, changes({ n: 1 }), shortTTL, CREATE);
      await ctx.harness().advance(shortTTL * 0.6);
      assert.equal(await compareAndSet(id, 'n', '1', '2', shortTTL, UPDATE), 'ok');
      await ctx.harness().advance(shortTTL * 0.6);
      assert.deepEqual(plain(await storage.getSession(id, shortTTL)), { n: 2 });
    });

    it('should end at exactly 50 after 50 concurrent read-compare-retry increments', async () => {
      const storage = ctx.storage();
      const compareAndSet = cas(storage);
      if (!compareAndSet) return;
      const id = generateId();
      await storage.setSession(id, changes({ other: 'x' }), LONG, CREATE);
      async function increment(): Promise<void> {
        for (;;) {
          const record = await storage.getSession(id, LONG);
          const text = record?.has('n') ? record.get('n') : storage.get ? await storage.get(id, 'n') : undefined;
          const result = await (compareAndSet as NonNullable<typeof compareAndSet>)(id, 'n', text, String(Number(text ?? '0') + 1), LONG, UPDATE);
          if (result === 'ok') return;
          assert.equal(result, 'conflict');
        }
      }
      await Promise.all(Array.from({ length: 50 }, increment));
      assert.deepEqual(plain(await storage.getSession(id, LONG)), { other: 'x', n: 50 });
    });
  });

  describe('count (where implemented)', () => {
    it('should count live sessions, not forwards, removed or expired ones', async () => {
      const storage = ctx.storage();
      if (!storage.count) return;
      await ctx.harness().advance(shortTTL * 2); // let what earlier tests left with a short TTL expire
      const before = await storage.count();
      const ids = [generateId(), generateId(), generateId()];
      for (const id of ids) await storage.setSession(id, changes({ a: 1 }), LONG, CREATE);
      const short = generateId();
      await storage.setSession(short, changes({ a: 1 }), shortTTL, CREATE);
      assert.equal(await storage.count(), before + 4);
      await storage.moveSession(ids[0] as string, generateId(), changes({}), LONG, { keep: undefined, forwardTTL: LONG });
      assert.equal(await storage.count(), before + 4, 'a forward is not a session');
      await storage.removeAll(ids[1] as string);
      assert.equal(await storage.count(), before + 3);
      await ctx.harness().advance(shortTTL * 2);
      assert.equal(await storage.count(), before + 2);
    });
  });

  describe('a session without keys', () => {
    it('should outlive having no keys until it expires or is removed', async () => {
      const storage = ctx.storage();
      const id = generateId();
      await storage.setSession(id, changes({ a: 1 }), LONG, CREATE);
      assert.equal(await storage.setSession(id, changes({}, ['a']), LONG, UPDATE), true);
      assert.deepEqual(plain(await storage.getSession(id, LONG)), {});
      assert.equal(await storage.setSession(id, changes({ b: 2 }), LONG, UPDATE), true);
      assert.deepEqual(plain(await storage.getSession(id, LONG)), { b: 2 });
      assert.equal(await storage.removeAll(id), true);
      assert.equal(await storage.getSession(id, LONG), undefined);

      const short = generateId();
      await storage.setSession(short, changes({}), shortTTL, CREATE);
      assert.deepEqual(plain(await storage.getSession(short, shortTTL)), {}, 'a session created empty exists');
      await ctx.harness().advance(shortTTL * 2);
      assert.equal(await storage.getSession(short, shortTTL), undefined);
    });

    it('should outlive having no keys through per-key writes (where implemented)', async () => {
      const storage = ctx.storage();
      const { set, remove, get, getSize } = storage;
      if (!set || !remove) return;
      const id = generateId();
      assert.equal(await set.call(storage, id, 'a', '1', LONG, CREATE), true);
      await remove.call(storage, id, ['a']);
      assert.deepEqual(plain(await storage.getSession(id, LONG)), {});
      if (getSize) assert.equal(await getSize.call(storage, id), 0);
      assert.equal(await set.call(storage, id, 'b', '2', LONG, UPDATE), true);
      if (get) assert.equal(await get.call(storage, id, 'b'), '2');
      assert.deepEqual(plain(await storage.getSession(id, LONG)), { b: 2 });
    });
  });
}
