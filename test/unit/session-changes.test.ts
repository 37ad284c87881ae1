import fc from 'fast-check';
import { entryBytes, SessionChangeSet } from '../../lib/session-changes';

/** The size of a record counted from scratch, as maxSessionBytes defines it. */
const bytesOf = (record: ReadonlyMap<string, string>) => [...record].reduce((sum, [k, v]) => sum + entryBytes(k, v), 0);

describe('SessionChangeSet', () => {
  const key = fc.constantFrom('a', 'b', 'c', 'é', '');
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), key, text: fc.string({ maxLength: 6 }), pending: fc.boolean() }),
    fc.record({ kind: fc.constant('remove' as const), key, pending: fc.boolean() }),
    fc.record({ kind: fc.constant('discard' as const), key }),
    fc.record({ kind: fc.constant('size' as const) }),
  );

  it('should keep its running byte count equal to a count from scratch, whatever the order of changes', () => {
    fc.assert(
      fc.property(fc.dictionary(key, fc.string({ maxLength: 6 })), fc.array(op, { maxLength: 20 }), (base, ops) => {
        const changes = new SessionChangeSet();
        changes.load(new Map(Object.entries(base)));
        for (const o of ops) {
          if (o.kind === 'set') changes.change(o.key, JSON.stringify(o.text), o.pending);
          else if (o.kind === 'remove') changes.change(o.key, null, o.pending);
          else if (o.kind === 'discard') changes.discard([o.key]);
          else changes.bytesWith(new Map()); // starts the running count at some point
          expect(changes.bytesWith(new Map())).toBe(bytesOf(changes.merged()));
          expect(changes.bytesWith(new Map([['b', '"xyz"']]))).toBe(bytesOf(new Map([...changes.merged(), ['b', '"xyz"']])));
        }
      }),
      { seed: 7, numRuns: 300 },
    );
  });

  it('should hand over only the changes the storage has not received', () => {
    const changes = new SessionChangeSet();
    changes.load(new Map([['a', '1']]));
    changes.change('a', '2', false); // written straight through
    changes.change('b', '3', true);
    changes.change('a', null, true);
    expect(changes.pendingChanges()).toEqual({ set: new Map([['b', '3']]), removed: new Set(['a']) });
    changes.sent();
    expect(changes.pending).toBe(false);
    expect(changes.merged()).toEqual(new Map([['b', '3']]));
  });
});
