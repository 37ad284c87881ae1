/**
 * The contract suite's owner-index part ("log out everywhere": `addOwner`, `ownerSessions`,
 * `forgetOwner`). A storage without the three methods skips it; a storage with only some of them
 * fails. Each test drives the storage the way the library does: `addOwner` first, then the write
 * that stores the session's reserved `$sw:owner` key (the JSON text of the owner).
 * @internal
 * @module
 */
import assert from 'node:assert/strict';
import { generateId } from '../id';
import { OWNER_KEY } from '../session-meta';
import type { OwnedSession, Storage } from '../storage/storage';
import { CREATE, LONG, UPDATE, changes, plain, type ContractContext } from './contract-helpers';

/** The owner index of a storage, bound; `undefined` when it has none. */
interface OwnerIndex {
  add(owner: string, id: string, ttl: number): Promise<void>;
  list(owner: string): Promise<readonly OwnedSession[]>;
  forget(owner: string, ids: readonly string[]): Promise<void>;
}

const METHODS = ['addOwner', 'ownerSessions', 'forgetOwner'] as const;

/** How far two expiries written one after the other may drift apart (slow CI, a database clock). */
const SLACK = 5_000;

/** The storage's owner index; fails when it has only some of the three methods. */
export function ownerIndex(storage: Storage): OwnerIndex | undefined {
  const present = METHODS.filter((m) => typeof storage[m] === 'function');
  if (present.length === 0) return undefined;
  assert.deepEqual(present, [...METHODS], `the owner index is all three of addOwner, ownerSessions and forgetOwner or none; this storage has only ${present.join(', ')}`);
  const s = storage as Required<Pick<Storage, (typeof METHODS)[number]>>;
  return {
    add: (owner, id, ttl) => s.addOwner.call(storage, owner, id, ttl),
    list: (owner) => s.ownerSessions.call(storage, owner),
    forget: (owner, ids) => s.forgetOwner.call(storage, owner, ids),
  };
}

/** The listed ids, sorted (a listing's order is not part of the contract). */
const ids = (listed: readonly OwnedSession[]): string[] => listed.map((o) => o.id).sort();

/** Owners that a storage must keep apart (quotes, separators, SQL and glob wildcards, case, Unicode forms, trailing spaces, lengths). */
export const ODD_OWNERS: readonly string[] = [
  'ada',
  'ADA',
  'ada ',
  ' ada',
  'a:b',
  'a',
  'user:7',
  'user:7:sessions',
  `O'Brien "the" \`quoted\``,
  '\\', '%', '_', '*', '?', '[a]', '{x}', 'a,b', 'a;b', '-- x', "'; DROP TABLE x; --",
  'with space', 'line\u2028sep', 'ключ', '用户', '😀', 'e\u0301', '\u00e9',
  'x'.repeat(256),
  '😀'.repeat(128),
];

/** Registers the owner-index tests. */
export function describeOwnerContract(ctx: ContractContext): void {
  const { describe, it } = ctx.runner;
  const { shortTTL } = ctx;

  /** What the library does on `setOwner()`: `addOwner`, then the write of `$sw:owner`. */
  async function own(index: OwnerIndex, storage: Storage, owner: string, id: string, ttl = LONG, create = true): Promise<void> {
    await index.add(owner, id, ttl);
    const written = await storage.setSession(id, { set: new Map([[OWNER_KEY, JSON.stringify(owner)], ['user', '"u"']]), removed: new Set() }, ttl, create ? CREATE : UPDATE);
    assert.equal(written, true);
  }

  /** Runs `test` with the storage's index, or skips when the storage has none. */
  // `o(name)`: an owner of this test only (storages on a server share their keys or table between tests).
  const withIndex = (test: (index: OwnerIndex, storage: Storage, o: (name: string) => string) => Promise<void>) => async () => {
    const storage = ctx.storage();
    const index = ownerIndex(storage);
    const tag = generateId().slice(0, 8);
    if (index) await test(index, storage, (name) => `${name}#${tag}`);
  };

  describe('owner index (where implemented)', () => {
    it('should have all three of addOwner, ownerSessions, forgetOwner, or none', async () => {
      ownerIndex(ctx.storage());
    });

    it('should list the live sessions added for an owner, each once, with its expiry', withIndex(async (index, storage, o) => {
      const [a1, a2, b1] = [generateId(), generateId(), generateId()];
      await own(index, storage, o('alice'), a1, LONG);
      await own(index, storage, o('alice'), a2, LONG / 2);
      await index.add(o('alice'), a1, LONG); // added twice: still listed once
      await own(index, storage, o('bob'), b1, LONG);
      const alice = await index.list(o('alice'));
      assert.deepEqual(ids(alice), [a1, a2].sort());
      assert.deepEqual(ids(await index.list(o('bob'))), [b1]);
      assert.deepEqual(await index.list(o('carol')), []);
      const at = (id: string) => (alice.find((o) => o.id === id) as OwnedSession).expiresAt;
      assert.ok(Number.isFinite(at(a1)) && at(a1) > 0, 'expiresAt is in ms since the epoch');
      const gap = at(a1) - at(a2);
      assert.ok(Math.abs(gap - LONG / 2) < SLACK, `expiresAt follows each session's TTL (the two differ by ${gap} ms, expected about ${LONG / 2})`);
    }));

    it('should list the expiry a later write or updateTTL gave the session', withIndex(async (index, storage, o) => {
      const id = generateId();
      const other = generateId();
      await own(index, storage, o('alice'), id, LONG / 2);
      await own(index, storage, o('bob'), other, LONG);
      await storage.setSession(id, changes({ n: 1 }), LONG, UPDATE);
      const [listed] = await index.list(o('alice'));
      const [reference] = await index.list(o('bob'));
      assert.ok(listed && reference && Math.abs(listed.expiresAt - reference.expiresAt) < SLACK, 'the write extended the session to LONG');
      const refreshed = generateId();
      await own(index, storage, o('carol'), refreshed, LONG / 2);
      await storage.updateTTL(refreshed, LONG);
      await ctx.harness().flush?.();
      const [carol] = await index.list(o('carol'));
      assert.ok(carol && Math.abs(carol.expiresAt - reference.expiresAt) < SLACK, 'updateTTL extended the session to LONG');
    }));

    it('should list an id added before its session was written, even if listed in between', withIndex(async (index, storage, o) => {
      const id = generateId();
      await index.add(o('alice'), id, LONG); // setOwner() on a session not stored yet: the write comes at close
      assert.deepEqual(await index.list(o('alice')), [], 'no session yet: nothing to list');
      await storage.setSession(id, { set: new Map([[OWNER_KEY, JSON.stringify(o('alice'))]]), removed: new Set() }, LONG, CREATE);
      assert.deepEqual(ids(await index.list(o('alice'))), [id], 'the listing in between must not have forgotten it');
    }));

    it('should drop sessions that expired', withIndex(async (index, storage, o) => {
      const [gone, kept] = [generateId(), generateId()];
      await own(index, storage, o('alice'), gone, shortTTL);
      await own(index, storage, o('alice'), kept, LONG);
      await ctx.harness().advance(shortTTL * 2);
      assert.deepEqual(ids(await index.list(o('alice'))), [kept]);
      assert.deepEqual(ids(await index.list(o('alice'))), [kept], 'and again');
    }));

    it('should drop a session once removeAll deleted it', withIndex(async (index, storage, o) => {
      const [a1, a2] = [generateId(), generateId()];
      await own(index, storage, o('alice'), a1);
      await own(index, storage, o('alice'), a2);
      assert.equal(await storage.removeAll(a1), true);
      assert.deepEqual(ids(await index.list(o('alice'))), [a2]);
      await storage.removeAll(a2);
      assert.deepEqual(await index.list(o('alice')), []);
    }));

    it('should list the new id of a moved session, never the forward left on the old one', withIndex(async (index, storage, o) => {
      const [oldId, newId] = [generateId(), generateId()];
      await own(index, storage, o('alice'), oldId);
      await index.add(o('alice'), newId, LONG); // regenerate() of an owned session: addOwner(newId) before the move
      const moved = await storage.moveSession(oldId, newId, changes({}), LONG, { keep: new Set([OWNER_KEY]), forwardTTL: LONG });
      assert.ok(moved !== undefined, 'the session moved');
      // the resolved record may hold only the keys the move wrote (Storage.moveSession): read it back
      assert.equal((await storage.getSession(newId, LONG))?.get(OWNER_KEY) ?? (await storage.get?.(newId, OWNER_KEY)), JSON.stringify(o('alice')));
      assert.deepEqual(ids(await index.list(o('alice'))), [newId]);
      // A late write through the forward lands in the new session and lists nothing new.
      assert.equal(await storage.setSession(oldId, changes({ late: 1 }), LONG, UPDATE), true);
      assert.deepEqual(ids(await index.list(o('alice'))), [newId]);
      // A logout through the old id ends the new session: nothing listed.
      await storage.removeAll(oldId);
      assert.deepEqual(await index.list(o('alice')), []);
    }));

    it('should forget ids without touching their sessions', withIndex(async (index, storage, o) => {
      const [a1, a2] = [generateId(), generateId()];
      await own(index, storage, o('alice'), a1);
      await own(index, storage, o('alice'), a2);
      // a1 now belongs to bob (setOwner(o('bob'))): the manager sees it when listing alice and forgets it there.
      await own(index, storage, o('bob'), a1, LONG, false);
      await index.forget(o('alice'), [a1]);
      assert.deepEqual(ids(await index.list(o('alice'))), [a2]);
      assert.deepEqual(ids(await index.list(o('bob'))), [a1]);
      assert.equal(plain(await storage.getSession(a1, LONG))?.['user'], 'u', 'forgetOwner never touches the session');
      await index.forget(o('alice'), [generateId(), a1]); // not indexed (any more): not an error
      await index.forget(o('nobody'), [a2]);
      await index.forget(o('alice'), []);
      assert.deepEqual(ids(await index.list(o('alice'))), [a2]);
    }));

    it('should keep owners with quotes, separators, wildcards, Unicode and 256 characters apart', withIndex(async (index, storage) => {
      const byOwner = new Map(ODD_OWNERS.map((owner) => [owner, generateId()]));
      for (const [owner, id] of byOwner) await own(index, storage, owner, id);
      for (const [owner, id] of byOwner) assert.deepEqual(ids(await index.list(owner)), [id], `owner ${JSON.stringify(owner)}`);
      await storage.removeAll(byOwner.get('ada') as string);
      assert.deepEqual(await index.list('ada'), []);
      assert.deepEqual(ids(await index.list('ADA')), [byOwner.get('ADA')], 'ending one owner\'s session leaves a look-alike owner\'s alone');
    }));
  });
}
