/**
 * The contract suite's `vetKey` part: a storage that vets keys refuses exactly the keys it cannot
 * hold, and the session then rejects them at the call, writing nothing. A storage without
 * `vetKey` skips it.
 * @internal
 * @module
 */
import assert from 'node:assert/strict';
import { SessionValueError } from '../errors';
import { generateId } from '../id';
import { Manager } from '../manager';
import { CREATE, LONG, changes, plain, type ContractContext } from './contract-helpers';

/** Keys every storage must hold verbatim: `vetKey` may not refuse them. */
const ORDINARY = ['user', '', ' ', 'k"q', 'k\\b', 'k.dot', '$.x', 'a,b', '{a}', 'ключ', 'emoji😀', 'é'];
/** Keys some databases cannot hold; a storage either refuses them or stores them verbatim. */
const AWKWARD = ['a\u0000b', '\u0000', 'ctl\u0001\u001f', 'tab\tnl\n', 'x'.repeat(1000)];

/** Registers the `vetKey` tests. */
export function describeKeysContract(ctx: ContractContext): void {
  const { describe, it } = ctx.runner;

  describe('vetKey (where implemented)', () => {
    it('should accept ordinary keys, and store verbatim every key it accepts', async () => {
      const storage = ctx.storage();
      if (!storage.vetKey) return;
      for (const key of ORDINARY) assert.equal(storage.vetKey(key), undefined, `vetKey must accept ${JSON.stringify(key)}`);
      const accepted = [...ORDINARY, ...AWKWARD].filter((key) => storage.vetKey?.(key) === undefined);
      const id = generateId();
      await storage.setSession(id, changes(Object.fromEntries(accepted.map((key, i) => [key, i]))), LONG, CREATE);
      assert.deepEqual(plain(await storage.getSession(id, LONG)), Object.fromEntries(accepted.map((key, i) => [key, i])));
    });

    it('should give a reason for each key it refuses, and the session should reject it at the call, writing nothing', async () => {
      const storage = ctx.storage();
      if (!storage.vetKey) return;
      const refused = AWKWARD.filter((key) => storage.vetKey?.(key) !== undefined);
      for (const key of refused) {
        const reason = storage.vetKey(key);
        assert.equal(typeof reason === 'string' && reason.length > 0, true, 'vetKey returns a non-empty reason');
      }
      const manager = new Manager({ storage, ttl: LONG });
      const s1 = manager.new();
      await s1.set('user', 'alice');
      const id = await s1.id();
      await s1.close();
      for (const key of refused) {
        const s = manager.new(id);
        const calls: Array<() => Promise<unknown>> = [() => s.set(key, 1), () => s.setMap({ fine: 1, [key]: 2 }), () => s.remove('user', key)];
        if (storage.compareAndSet) calls.push(() => s.update(key, () => 1));
        for (const call of calls) {
          await assert.rejects(call(), (err: unknown) => err instanceof SessionValueError && err.key === key && err.message.includes(JSON.stringify(key)));
        }
        await s.close();
        assert.deepEqual(plain(await storage.getSession(id, LONG)), { user: 'alice' }, 'nothing was written');
      }
    });
  });
}
