/**
 * Property: on every storage, an arbitrary value under an arbitrary key either round-trips exactly
 * (set, close, a new session on the same id reads it back) or is rejected at `set` with a
 * `SessionValueError`, and nothing is stored. Which one is decided by an independent model of the
 * documented rules (`isStorable`), and "exactly" means: equal to what JSON makes of the value (a
 * Date becomes its ISO string, -0 becomes 0, properties holding `undefined` are left out).
 * Seeded and bounded: reproducible, a few thousand cases in all.
 */
import { deepStrictEqual, equal, ok } from 'node:assert/strict';
import fc from 'fast-check';
import { Manager, SessionValueError } from 'sessionware';
import { describeEachStorage } from '../helpers/storages';

const RUNS_PER_STORAGE = 800;
const SEED = 20261201;

class Point {
  constructor(readonly x: number) {}
  toJSON() {
    return { x: this.x };
  }
}

/** Values JSON changes or drops, to be found at any depth. */
const awkward = fc.constantFrom<unknown>(
  /re/g,
  new Error('e'),
  new WeakRef({}),
  new Point(1),
  Buffer.from('b'),
  new Uint16Array([1]),
  new Date(NaN),
  [undefined],
  Object.assign([1], { extra: 1 }),
  { [Symbol('s')]: 1 },
  () => 1,
  Symbol('v'),
  10n,
  Promise.resolve(1),
  new Map([[1, 2]]),
  new String('boxed'),
);

const leaf = fc.oneof(
  { weight: 6, arbitrary: fc.oneof(fc.boolean(), fc.integer(), fc.double(), fc.string({ unit: 'binary', maxLength: 12 }), fc.constant(null), fc.date({ noInvalidDate: false })) },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: awkward },
);

const plainLeaf = fc.oneof(fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string({ unit: 'binary', maxLength: 12 }), fc.constant(null), fc.date());

/** Mostly storable values: plain data at any depth (null prototypes, Dates, -0, lone surrogates). */
const plain = fc.anything({ values: [plainLeaf], key: fc.string({ unit: 'binary', maxLength: 6 }), maxDepth: 4, maxKeys: 5, withNullPrototype: true });

/** Anything, with values JSON would change hidden at any depth. */
const hostile = fc.anything({
  values: [leaf],
  key: fc.string({ unit: 'binary', maxLength: 6 }),
  maxDepth: 4,
  maxKeys: 5,
  withNullPrototype: true,
  withSparseArray: true,
  withDate: true,
  withTypedArray: true,
  withMap: true,
  withSet: true,
  withBoxedValues: true,
  withBigInt: true,
});

const value = fc.oneof({ weight: 3, arbitrary: plain }, { weight: 2, arbitrary: hostile });

const key = fc.oneof({ weight: 4, arbitrary: fc.string({ maxLength: 8 }) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }) }, { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', '', 'a.b') });

const wellFormed = (s: string) => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/** The documented rules, written independently of lib/value.ts. */
function isStorable(v: unknown, depth = 0): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (typeof v !== 'object') return false;
  if (v instanceof Date) return !Number.isNaN(v.valueOf());
  if (depth >= 256) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === Array.prototype) {
    const a = v as unknown[];
    return Object.keys(a).length === a.length && a.every((_x, i) => i in a) && [...a].every((x) => isStorable(x, depth + 1));
  }
  if (proto !== Object.prototype && proto !== null) return false;
  if (Object.getOwnPropertySymbols(v).some((s) => Object.prototype.propertyIsEnumerable.call(v, s))) return false;
  return Object.values(v).every((x) => x === undefined || isStorable(x, depth + 1));
}

describeEachStorage((name, current) => {
  it(`should round-trip every storable value exactly and reject the rest at set on ${name}`, async () => {
    const manager = new Manager({ storage: current(), ttl: 60_000 });
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(key, value, async (k, v) => {
        const s = manager.new();
        const storable = wellFormed(k) && isStorable(v) && v !== undefined;
        const outcome = await s.set(k, v).then(
          () => undefined,
          (err: unknown) => err,
        );
        if (!storable) {
          ok(outcome instanceof SessionValueError, `expected a SessionValueError, got ${String(outcome)}`);
          equal(await s.size(), 0);
          await s.close();
          return;
        }
        equal(outcome, undefined);
        accepted++;
        const id = await s.id();
        await s.close();
        const expected: unknown = JSON.parse(JSON.stringify(v));
        const again = manager.new(id);
        deepStrictEqual(await again.get(k), expected);
        deepStrictEqual(await again.data(), Object.fromEntries([[k, expected]]));
        await again.close();
      }),
      { seed: SEED, numRuns: RUNS_PER_STORAGE, endOnFailure: true },
    );
    expect(accepted).toBeGreaterThan(RUNS_PER_STORAGE / 3); // the property is not vacuous
  });
});
