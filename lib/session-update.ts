/**
 * `session.update()` and `increment()`: an atomic read-modify-write of one key. The new value is
 * computed from the key's current value and written with the storage's `compareAndSet`, which
 * applies it only if the key still holds the text it was computed from; on a conflict the key is
 * read again and the function runs again, at most `maxConflicts` times.
 * @module
 */
import { SessionConflictError, SessionOptionsError, SessionValueError } from './errors';
import type { SessionChangeSet } from './session-changes';
import type { SessionStorage } from './session-storage';
import { parseValue, serializeValue } from './value';

/** How many lost compare-and-sets an update tolerates before it rejects, by default. */
export const DEFAULT_MAX_CONFLICTS = 10;

/** Computes a key's next value from its current one (`undefined`: absent / remove it). */
export type UpdateFunction<T> = (current: T | undefined) => T | undefined;

/** What an update needs from its session (the session's private state, lent for one call). @internal */
export interface UpdateTarget {
  readonly io: SessionStorage;
  readonly data: SessionChangeSet;
  readonly maxConflicts: number;
  readonly maxSessionBytes: number;
  /** `'fresh'`: not stored yet (the write creates it); `'stored'`; `'gone'`: a concurrent logout won. */
  phase(): 'fresh' | 'stored' | 'gone';
  /** The id, created if the session has none yet. */
  ensureId(): Promise<string>;
  /** The write landed: the session is stored now. */
  landed(): void;
  /** The storage answered `'gone'`: the session was removed; forget it. */
  lost(): void;
}

/**
 * Runs one update on a started session. Resolves the value now stored (a fresh copy; `undefined`
 * when the key was removed). On a session a concurrent logout removed, nothing is written (the
 * logout wins, as for `set`) and it resolves what would have been stored.
 * @throws {SessionValueError} when the new value cannot be stored or the session would outgrow
 *   `maxSessionBytes`; {@link SessionConflictError} after more than `maxConflicts` conflicts;
 *   whatever `fn` throws.
 * @internal
 */
export async function applyUpdate<T>(target: UpdateTarget, key: string, fn: UpdateFunction<T>): Promise<T | undefined> {
  const { data, io } = target;
  // A change of this key the storage has not received (a set() waiting for the close) is what this
  // request sees: the new value is computed from it, and it replaces whatever is stored.
  const unsent = data.isPending(key);
  const own = unsent ? data.local(key) ?? undefined : undefined;
  const compute = (expected: string | undefined): { next: T | undefined; text: string | undefined } => {
    const base = unsent ? own : expected;
    const next = fn(base === undefined ? undefined : (parseValue(base) as T));
    const text = next === undefined ? undefined : serializeValue(key, next);
    if (text !== undefined) checkSize(data, key, text, target.maxSessionBytes);
    return { next, text };
  };
  if (target.phase() === 'gone') return compute(undefined).next; // the logout won: nothing is written
  const id = await target.ensureId();
  return inTurn(io.storage, `${id}\n${key}`, async (queued) => {
    // Behind an update of this process, the text loaded with the session is stale: read it again.
    let expected = queued ? await io.reread(id, key) : await knownText(target, key);
    for (let conflicts = 0; ; ) {
      const { next, text } = compute(expected);
      const started = Date.now();
      const result = await io.compareAndSet(id, key, expected, text, target.phase() === 'fresh');
      if (result === 'ok') {
        data.landed(key, text ?? null);
        data.written = true;
        data.dirty = true;
        target.landed();
        return text === undefined ? undefined : (parseValue(text) as T);
      }
      if (result === 'gone') {
        target.lost();
        return next;
      }
      if (++conflicts > target.maxConflicts) throw new SessionConflictError(key, conflicts);
      await backOff(conflicts, Date.now() - started);
      expected = await io.reread(id, key);
    }
  });
}

/** Per storage, per `id\nkey`: the last update of this process in line. */
const turns = new WeakMap<object, Map<string, Promise<unknown>>>();

/**
 * Runs the updates of one key of one session made in this process one after another (`queued`:
 * there was one before this one), so requests of one process never conflict with each other: a
 * hot counter costs a read and one compare-and-set per update, not a retry storm. Conflicts then
 * only come from other processes (or other kinds of write), and each side re-reads before it
 * writes, so neither can starve the other by writing back to back.
 */
async function inTurn<T>(storage: object, slot: string, run: (queued: boolean) => Promise<T>): Promise<T> {
  let slots = turns.get(storage);
  if (slots === undefined) turns.set(storage, (slots = new Map()));
  const before = slots.get(slot);
  const mine = (before ?? Promise.resolve()).then(() => run(before !== undefined));
  const settled = mine.then(() => undefined, () => undefined);
  slots.set(slot, settled);
  try {
    return await mine;
  } finally {
    if (slots.get(slot) === settled) slots.delete(slot);
  }
}

/** The longest pause between two attempts, in milliseconds. */
const MAX_BACK_OFF = 250;

/**
 * A random pause after the `conflicts`-th lost compare-and-set: up to 2, 4, 8... ms plus as long
 * as the lost attempt took (a slow backend, or writers queued before it, need a wider spread), at
 * most {@link MAX_BACK_OFF}. Requests that read the key at the same moment would otherwise retry
 * in lockstep and keep losing to each other ("full jitter" back-off).
 */
function backOff(conflicts: number, lastAttemptMs: number): Promise<void> {
  const ms = Math.random() * Math.min(2 ** conflicts + lastAttemptMs, MAX_BACK_OFF);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The text the storage is believed to hold for `key`, without a round trip where the request
 * already knows it: its own write-through, else what the load brought, else one `get`.
 */
async function knownText(target: UpdateTarget, key: string): Promise<string | undefined> {
  const { data } = target;
  const local = data.isPending(key) ? undefined : data.local(key);
  if (local !== undefined) return local ?? undefined;
  const loaded = data.loaded(key);
  if (loaded !== undefined || target.phase() !== 'stored') return loaded;
  return target.io.get(await target.ensureId(), key);
}

function checkSize(data: SessionChangeSet, key: string, text: string, max: number): void {
  const bytes = data.bytesWith(new Map([[key, text]]));
  if (bytes <= max) return;
  throw new SessionValueError(key, `session.update("${key}") would make the session ${bytes} bytes, more than maxSessionBytes (${max}); nothing was written. Keep large data elsewhere and a reference in the session, or raise maxSessionBytes.`);
}

/**
 * The update function of `increment(key, by)`: a missing key counts as 0.
 * @throws {SessionValueError} at once when `by` is not a finite number; from the function, when the
 *   stored value is not a number.
 * @internal
 */
export function incrementBy(key: string, by: unknown): UpdateFunction<number> {
  if (typeof by !== 'number' || !Number.isFinite(by)) {
    throw new SessionValueError(key, `session.increment("${key}", by): by must be a finite number (got ${typeof by === 'number' ? String(by) : `a ${typeof by}`}); leave it out to add 1.`);
  }
  return (current) => {
    if (current === undefined) return by;
    if (typeof current !== 'number') {
      throw new SessionValueError(key, `session.increment("${key}"): the stored value is ${current === null ? 'null' : Array.isArray(current) ? 'an array' : `a ${typeof current}`}, not a number; nothing was written. Use update() to change it, or remove() it first.`);
    }
    return current + by;
  };
}

/**
 * Checks `maxConflicts` (a whole number, 0 or more).
 * @internal
 */
export function checkMaxConflicts(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new SessionOptionsError(`maxConflicts must be a whole number of 0 or more (got ${String(value)}); e.g. 10 (the default): how many times session.update() re-reads a key another request changed before it rejects.`);
  }
  return value;
}
