/**
 * The contract suite's `moveSession` part (login: `regenerate()` against session fixation). A
 * storage without `moveSession` skips it, until the method becomes required.
 * @internal
 * @module
 */
import assert from 'node:assert/strict';
import { generateId } from '../id';
import { Manager } from '../manager';
import type { MoveOptions, SessionRecord, Storage } from '../storage/storage';
import { CREATE, LONG, UPDATE, changes, plain, rec, type ContractContext } from './contract-helpers';

const KEEP_ALL: MoveOptions = { keep: undefined, forwardTTL: LONG };
const NONE = changes({});

/**
 * Checks what `moveSession` resolved against what it stored: the whole record, or part of it
 * (see `Storage.moveSession`): every key it holds has the stored text, and it holds at least
 * `wrote` (the keys of `changes.set` that survive `keep`).
 */
function assertMoved(moved: SessionRecord | undefined, stored: SessionRecord | undefined, wrote: Record<string, unknown>): void {
  assert.notEqual(moved, undefined, 'the session was moved: moveSession must resolve a record');
  assert.notEqual(stored, undefined, 'the moved session must be readable under the new id');
  for (const [key, text] of moved as SessionRecord) assert.equal(text, stored?.get(key), `moveSession resolved ${JSON.stringify(key)} with a text that is not the stored one`);
  for (const [key, value] of Object.entries(wrote)) assert.equal(moved?.get(key), JSON.stringify(value), `moveSession must resolve the key it wrote, ${JSON.stringify(key)}`);
}

/** Registers the `moveSession` tests. */
export function describeMoveContract(ctx: ContractContext): void {
  const { describe, it } = ctx.runner;
  const { shortTTL } = ctx;

  /** The storage's `moveSession`, bound. It is required: a storage without it fails here. */
  const mover = (storage: Storage): Storage['moveSession'] => {
    assert.equal(typeof storage.moveSession, 'function', 'moveSession() is required by the Storage contract (regenerate() needs it)');
    return storage.moveSession.bind(storage);
  };

  /** A stored session `{ user: 'alice', n: 1 }` and two fresh ids. */
  async function stored(storage: Storage, ttl = LONG) {
    const oldId = generateId();
    await storage.setSession(oldId, changes({ user: 'alice', n: 1 }), ttl, CREATE);
    return { oldId, newId: generateId() };
  }

  describe('moveSession', () => {
    it('should move the record with changes applied and resolve what it stored', async () => {
      const storage = ctx.storage();
      const move = mover(storage);
      const { oldId, newId } = await stored(storage);
      await storage.setSession(oldId, changes({ gone: true }), LONG, UPDATE);
      const moved = await move(oldId, newId, changes({ n: 2, csrf: 'x' }, ['gone']), LONG, KEEP_ALL);
      const record = await storage.getSession(newId, LONG);
      assert.deepEqual(plain(record), { user: 'alice', n: 2, csrf: 'x' });
      assertMoved(moved, record, { n: 2, csrf: 'x' });
    });

    it('should keep only the keys in keep', async () => {
      const storage = ctx.storage();
      const move = mover(storage);
      const { oldId, newId } = await stored(storage);
      const moved = await move(oldId, newId, changes({ cart: [1], dropped: 2 }, ['user']), LONG, { keep: new Set(['cart', 'n', 'user', 'absent']), forwardTTL: LONG });
      const record = await storage.getSession(newId, LONG);
      assert.deepEqual(plain(record), { n: 1, cart: [1] });
      assertMoved(moved, record, { cart: [1] });
      const empty = generateId();
      assert.deepEqual(plain(await move(newId, empty, NONE, LONG, { keep: new Set(), forwardTTL: LONG })), {});
      assert.deepEqual(plain(await storage.getSession(empty, LONG)), {}, 'a session moved with no keys still exists');
      const again = generateId();
      assert.notEqual(await move(empty, again, NONE, LONG, KEEP_ALL), undefined, 'an empty session moves too');
    });

    it('should leave no readable session under the old id', async () => {
      const storage = ctx.storage();
      const move = mover(storage);
      const { oldId, newId } = await stored(storage);
      await move(oldId, newId, NONE, LONG, KEEP_ALL);
      assert.equal(await storage.getSession(oldId, LONG), undefined);
      if (storage.get) assert.equal(await storage.get(oldId, 'user'), undefined);
      if (storage.data) assert.deepEqual(plain(await storage.data(oldId)), {});
      if (storage.getSize) assert.equal(await storage.getSize(oldId), 0);
    });

    it('should land a late setSession to the old id in the new session', async () => {
      const storage = ctx.storage();
      const move = mover(storage);
      const { oldId, newId } = await stored(storage);
      await move(oldId, newId, NONE, LONG, KEEP_ALL);
      assert.equal(await storage.setSession(oldId, changes({ cart: ['late'] }, ['n']), LONG, UPDATE), true);
      assert.deepEqual(plain(await storage.getSession(newId, LONG)), { user: 'alice', cart: ['late'] });
      assert.equal(await storage.getSession(oldId, LONG), undefined);
    });

    it('should land late per-key writes to the old id in the new session', async () => {
      const storage = ctx.storage();
      const move = mover(storage);
      const { oldId, newId } = await stored(storage);
      await move(oldId, newId, NONE, LONG, KEEP_ALL);
      const expected: Record<string, unknown> = { user: 'alice', n: 1 };
      if (storage.set) {
        assert.equal(await storage.set(oldId, 'k1', '1', LONG, UPDATE), true);
        expected['k1'] = 1;
      }
      if (storage.setMap) {
        assert.equal(await storage.setMap(oldId, rec({ k2: 2, k3: 3 }), LONG, UPDATE), true);
        Object.assign(expected, { k2: 2, k3: 3 });
      }
      if (storage.remove) {
        await storage.remove(oldId, ['n']);
        delete expected['n'];
      }
      if (storage.compareAndSet) {
        assert.equal(await storage.compareAndSet(oldId, 'user', '"alice"', '"bob"', LONG, UPDATE), 'ok');
        expected['user'] = 'bob';
      }
      assert.deepEqual(plain(await storage.getSession(newId, LONG)), expected);
    });

    it('should let a late removeAll of the old id delete the new session', async () => {
      const storage = ctx.storage();
      const move = mover(storage);
      const { oldId, newId } = await stored(storage);
      await move(oldId, newId, NONE, LONG, KEEP_ALL);
      assert.equal(await storage.removeAll(oldId), true);
      assert.equal(await storage.getSession(newId, LONG), undefined);
      assert.equal(await storage.removeAll(oldId), false);
      assert.equal(await storage.removeAll(newId), false);
      assert.equal(await storage.setSession(oldId, changes({ late: 1 }), LONG, UPDATE), false);
      assert.equal(await storage.setSession(newId, changes({ late: 1 }), LONG, UPDATE), false);
      assert.equal(await storage.getSession(newId, LONG), undefined);
    });

    it('should not extend the forward with updateTTL, and forget it after forwardTTL', async () => {
      const storage = ctx.storage();
      const move = mover(storage);
      const { oldId, newId } = await stored(storage);
      await move(oldId, newId, NONE, LONG, { keep: undefined, forwardTTL: shortTTL });
      await storage.updateTTL(oldId, LONG);
      await ctx.harness().flush?.();
      assert.equal(await storage.getSession(oldId, LONG), undefined);
      await ctx.harness().advance(shortTTL * 2);
      assert.equal(await storage.setSession(oldId, changes({ late: 1 }), LONG, UPDATE), false);
      if (storage.set) assert.equal(await storage.set(oldId, 'late', '1', LONG, UPDATE), false);
      if (storage.compareAndSet) assert.equal(await storage.compareAndSet(oldId, 'late', undefined, '1', LONG, UPDATE), 'gone');
      assert.equal(await storage.removeAll(oldId), false);
      assert.equal(await storage.getSession(oldId, LONG), undefined);
      assert.deepEqual(plain(await storage.getSession(newId, LONG)), { user: 'alice', n: 1 }, 'the new session outlives the forward');
    });

    it('should resolve undefined and create nothing when the old id holds no live session', async () => {
      const storage = ctx.storage();
      const move = mover(storage);
      const target = () => generateId();
      // never stored
      let newId = target();
      assert.equal(await move(generateId(), newId, changes({ a: 1 }), LONG, KEEP_ALL), undefined);
      assert.equal(await storage.getSession(newId, LONG), undefined);
      // logged out
      const removed = await stored(storage);
      await storage.removeAll(removed.oldId);
      assert.equal(await move(removed.oldId, removed.newId, changes({ a: 1 }), LONG, KEEP_ALL), undefined);
      assert.equal(await storage.getSession(removed.newId, LONG), undefined);
      // already moved: the old id is a forward now
      const twice = await stored(storage);
      await move(twice.oldId, twice.newId, NONE, LONG, KEEP_ALL);
      newId = target();
      assert.equal(await move(twice.oldId, newId, changes({ a: 1 }), LONG, KEEP_ALL), undefined);
      assert.equal(await storage.getSession(newId, LONG), undefined);
      assert.deepEqual(plain(await storage.getSession(twice.newId, LONG)), { user: 'alice', n: 1 });
      // expired
      const expired = await stored(storage, shortTTL);
      await ctx.harness().advance(shortTTL * 2);
      assert.equal(await move(expired.oldId, expired.newId, NONE, LONG, KEEP_ALL), undefined);
      assert.equal(await storage.getSession(expired.newId, LONG), undefined);
    });

    it('should follow a chain of moves with late writes and a late logout', async () => {
      const storage = ctx.storage();
      const move = mover(storage);
      const { oldId, newId } = await stored(storage);
      const newest = generateId();
      await move(oldId, newId, NONE, LONG, KEEP_ALL);
      await move(newId, newest, changes({ step: 2 }), LONG, KEEP_ALL);
      assert.equal(await storage.setSession(oldId, changes({ fromOld: 1 }), LONG, UPDATE), true);
      assert.equal(await storage.setSession(newId, changes({ fromNew: 1 }), LONG, UPDATE), true);
      assert.deepEqual(plain(await storage.getSession(newest, LONG)), { user: 'alice', n: 1, step: 2, fromOld: 1, fromNew: 1 });
      assert.equal(await storage.getSession(newId, LONG), undefined);
      assert.equal(await storage.removeAll(oldId), true);
      assert.equal(await storage.getSession(newest, LONG), undefined);
      assert.equal(await storage.setSession(newId, changes({ late: 1 }), LONG, UPDATE), false);
    });

    it('should lose no write of writers racing the move', async () => {
      const storage = ctx.storage();
      const move = mover(storage);
      for (let round = 0; round < 3; round++) {
        const { oldId, newId } = await stored(storage);
        const writes: Array<Promise<boolean>> = [];
        const expected: Record<string, unknown> = { user: 'alice', n: 1 };
        const write = (i: number) => {
          expected[`w${i}`] = i;
          writes.push(i % 2 === 0 || !storage.set ? storage.setSession(oldId, changes({ [`w${i}`]: i }), LONG, UPDATE) : storage.set(oldId, `w${i}`, String(i), LONG, UPDATE));
        };
        for (let i = 0; i < 6; i++) write(i);
        const moving = move(oldId, newId, changes({ moved: true }), LONG, KEEP_ALL);
        for (let i = 6; i < 12; i++) write(i);
        assert.notEqual(await moving, undefined);
        assert.deepEqual(await Promise.all(writes), Array(12).fill(true), 'no write may be dropped: nobody logged out');
        assert.deepEqual(plain(await storage.getSession(newId, LONG)), { ...expected, moved: true });
        assert.equal(await storage.getSession(oldId, LONG), undefined);
      }
    });

    it('should keep the session\'s own TTL through regenerate({ keep }) and the writes after it', async () => {
      const storage = ctx.storage();
      const manager = new Manager({ storage, ttl: shortTTL });
      const s1 = manager.new();
      await s1.setMap({ user: 'alice', cart: [1], other: 1 });
      await s1.setTTL(LONG);
      const oldId = await s1.id();
      await s1.close();

      const s2 = manager.new(oldId);
      await s2.set('step', 1);
      await s2.regenerate({ keep: ['cart', 'step'] });
      assert.deepEqual(await s2.data(), { cart: [1], step: 1 });
      await s2.set('after', true);
      const newId = await s2.id();
      await s2.close();
      await ctx.harness().advance(shortTTL * 2);
      assert.deepEqual(plain(await storage.getSession(newId, LONG)), { cart: [1], step: 1, after: true, '$sw:ttl': LONG }, 'the write after the move used the session\'s own TTL');
    });

    it('should let a logout racing the move win: neither id holds a session afterwards', async () => {
      const storage = ctx.storage();
      const move = mover(storage);
      for (let round = 0; round < 6; round++) {
        const { oldId, newId } = await stored(storage);
        const writer = storage.setSession(oldId, changes({ racing: round }), LONG, UPDATE);
        const moving = (): Promise<SessionRecord | undefined> => move(oldId, newId, NONE, LONG, KEEP_ALL);
        let moved: SessionRecord | undefined;
        let removed: boolean;
        if (round % 2 === 0) [moved, removed] = await Promise.all([moving(), storage.removeAll(oldId)]);
        else [removed, moved] = await Promise.all([storage.removeAll(oldId), moving()]);
        await writer;
        assert.equal(removed, true, 'the logout found the session (under one id or the other)');
        assert.equal(moved === undefined || !moved.has('user') || moved.get('user') === '"alice"', true);
        assert.equal(await storage.getSession(oldId, LONG), undefined);
        assert.equal(await storage.getSession(newId, LONG), undefined);
        assert.equal(await storage.setSession(oldId, changes({ late: 1 }), LONG, UPDATE), false);
        assert.equal(await storage.setSession(newId, changes({ late: 1 }), LONG, UPDATE), false);
      }
    });
  });
}
