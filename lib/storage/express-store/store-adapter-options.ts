/**
 * The options of `StoreAdapter`, and how `'auto'` picks the TTL refresh for a store.
 * @module
 */
import type { StorageError } from '../../errors';

/**
 * Classes whose `touch` only moves the expiry and whose `get` skips expired sessions (read in their
 * code): `'auto'` touches them. Generic names of stores that do not check expiry on `get`
 * (connect-session-sequelize's `SequelizeStore`, the several `MySQLStore`s) are left out.
 */
const EXPIRY_ONLY_TOUCH = new Set(['MemoryStore', 'RedisStore', 'PGStore', 'MongoStore', 'SqliteStore']);

/** How {@link StoreAdapter} refreshes the TTL of a session that closed clean. */
export type TouchMode = 'auto' | 'touch' | 'rewrite' | 'none';

/** Options of {@link StoreAdapter}. */
export interface StoreAdapterOptions {
  /**
   * How a clean request (read, not changed) refreshes the session's TTL (`updateTTL`):
   * - `'touch'`: one `store.touch(id, { cookie })`. Only for stores whose `touch` moves the expiry
   *   and nothing else **and** whose `get` skips expired sessions: the `cookie.expires` such a
   *   store keeps goes stale, so the adapter then leaves expiry to the store. **Never** for
   *   connect-memcached, whose `touch` writes its argument over the stored session (the data would
   *   be lost).
   * - `'rewrite'`: under the per-id lock, `get`, then `set` with a new `cookie` once less than
   *   half the TTL is left (so at most one write per half TTL). Works with any store; a write by
   *   another process in between can be lost.
   * - `'none'`: no refresh; a session expires `ttl` after its last write.
   * - `'auto'`: `'touch'` for the stores known to do both (express-session's and memorystore's
   *   `MemoryStore`, connect-redis, connect-pg-simple, connect-mongo, better-sqlite3-session-store,
   *   recognised by their class names, subclasses included), `'rewrite'` for every other store.
   * @default 'auto'
   * @example `new StoreAdapter(new MySQLStore(options), { touch: 'touch' })` (express-mysql-session checks expiry on get)
   */
  readonly touch?: TouchMode;
  /**
   * The most milliseconds one store call may take before it fails with a `StorageError`, so a
   * request never hangs on a store that neither calls back nor settles. The call may still be
   * carried out by the store later.
   * @default 5_000
   */
  readonly timeout?: number;
  /**
   * Receives what happens outside any call: the store's `'disconnect'` and `'error'` events, and
   * stored sessions that cannot be read (`CorruptSessionError`; the session is treated as missing).
   * @default logs the error with `console.error`
   * @example `{ onError: (err) => logger.warn({ err }, 'session store') }`
   */
  readonly onError?: (err: StorageError) => void;
  /**
   * Whether `count()` is offered (as `store.length`) when the store has a `length` method. Turn it
   * off for stores whose `length` also counts expired sessions (better-sqlite3-session-store counts
   * them until its prune runs, every 15 minutes; memorystore until an entry is next read) or answers
   * something other than a number (connect-memcached): `manager.count()` then says it is
   * unsupported instead of answering a wrong number.
   * @default true
   */
  readonly count?: boolean;
  /**
   * The clock the adapter reads (cookie expiry it writes and checks, how long it remembers
   * removed and regenerated ids). The store keeps its own clock.
   * @default Date.now
   */
  readonly now?: () => number;
}

/**
 * What `'auto'` means for `store`: `'touch'` when it is (or extends) a class known to touch only the
 * expiry, otherwise `'rewrite'`. @internal
 */
export function autoTouchMode(store: object): 'touch' | 'rewrite' {
  if (typeof (store as { touch?: unknown }).touch !== 'function') return 'rewrite';
  for (let proto: unknown = Object.getPrototypeOf(store); proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string' && EXPIRY_ONLY_TOUCH.has(name)) return 'touch';
  }
  return 'rewrite';
}
