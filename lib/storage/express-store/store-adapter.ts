/**
 * `StoreAdapter`: any express-session `Store` as a sessionware `Storage` (MongoDB, DynamoDB,
 * Firestore, SQLite... through the store you already use), and the way to migrate from
 * express-session without logging anybody out.
 * @module
 */
import { CorruptSessionError, SessionOptionsError, StorageError } from '../../errors';
import type { CompareAndSetResult, MoveOptions, SessionChanges, SessionRecord, Storage, WriteOptions } from '../storage';
import type { ExpressStore, StoreCookie, StoreSession } from './express-store-types';
import { IdMemory } from './id-memory';
import { KeyLock } from './key-lock';
import { callStore } from './store-call';
import { autoTouchMode, type StoreAdapterOptions, type TouchMode } from './store-adapter-options';
import { expiresOf, parseChanges, reservedKey, toRecord, type Data } from './stored-session';

export type { StoreAdapterOptions, TouchMode };

const NAME = 'StoreAdapter';
/** The TTL removed ids are remembered for until a call tells the adapter the real one. */
const DEFAULT_TTL = 86_400_000;
const RETRY = Symbol('retry');

/**
 * Makes an express-session `Store` a sessionware `Storage`. Values are stored as plain JSON
 * properties of the session object (express-session code and admin tools read them as before),
 * next to a synthesized `cookie` from which the store computes its expiry; `cookie` is reserved.
 *
 * - **Read** (`getSession`): one `get`; the `cookie` is dropped, a session whose `cookie.expires`
 *   has passed is missing (some stores never expire data).
 * - **Dirty close** (`setSession`): `get`, apply only the changed keys, `set`: two round trips,
 *   under a per-id lock in this process. `create: false` is honoured: a session that is gone is not
 *   re-created, and ids removed by this process stay removed for their TTL here (the last 100 000
 *   of them: memory stays bounded).
 * - **Logout** (`removeAll`): `get` (to tell whether it existed), then `destroy`.
 * - **Regenerate** (`moveSession`): under both ids' locks, `get`, `set` under the new id,
 *   `destroy` the old one, and a forward old → new remembered in this process.
 * - `compareAndSet` under the per-id lock; `count` is `store.length`, where the store has one.
 * - No owner index: an express-session store cannot find sessions by owner atomically with their
 *   writes, so `session.setOwner()`, `manager.sessionsOf()` and `manager.revoke()` ("log out
 *   everywhere") reject with a `StorageError`.
 *
 * **Only within one process**: an express-session store has no atomic merge, so overlapping
 * writes from two processes can lose one of them, and a write in one process can re-create a
 * session another process just removed. Use a native storage where that matters.
 *
 * Failures, timeouts and the store's `'disconnect'` become `StorageError`s: while the store is
 * disconnected every call fails at once instead of bypassing the session.
 *
 * @example
 * ```ts
 * import { createClient } from 'redis';
 * import { RedisStore } from 'connect-redis';
 * import { session } from 'sessionware';
 * import { StoreAdapter } from 'sessionware/express-session-store';
 *
 * const client = await createClient().connect();
 * app.use(session(new StoreAdapter(new RedisStore({ client })), { ttl: 86_400_000 }));
 * ```
 */
export class StoreAdapter implements Storage {
  /** The wrapped store. */
  readonly store: ExpressStore;
  /** The TTL refresh in use, after `'auto'` was resolved. */
  readonly touchMode: Exclude<TouchMode, 'auto'>;
  /** `store.length`, as sessionware's `count()`; absent when the store has no `length`. */
  readonly count?: () => Promise<number>;
  readonly #timeout: number;
  readonly #onError: (err: StorageError) => void;
  readonly #now: () => number;
  readonly #locks = new KeyLock();
  readonly #removed: IdMemory<true>;
  readonly #forwards: IdMemory<string>;
  readonly #listeners: Array<[string, (...args: unknown[]) => void]> = [];
  /** TTL refreshes not settled yet (the middleware runs them after the response): `close()` waits for them. */
  readonly #refreshing = new Set<Promise<void>>();
  #maxTTL = 0;
  #disconnected = false;

  /**
   * @param store an express-session store (callback or promise style).
   * @throws {SessionOptionsError} when `store` lacks `get`, `set` or `destroy`, or on a bad option.
   */
  constructor(store: ExpressStore, options: StoreAdapterOptions = {}) {
    const { touch = 'auto', timeout = 5_000, onError = logError, now = Date.now, count = true } = options;
    if (typeof store !== 'object' || store === null || !['get', 'set', 'destroy'].every((m) => typeof (store as unknown as Record<string, unknown>)[m] === 'function')) {
      throw new SessionOptionsError(`${NAME}: pass an express-session store (an object with get, set and destroy methods), e.g. new RedisStore({ client }).`);
    }
    if (!['auto', 'touch', 'rewrite', 'none'].includes(touch)) throw new SessionOptionsError(`${NAME}: options.touch must be 'auto', 'touch', 'rewrite' or 'none'.`);
    if (touch === 'touch' && typeof store.touch !== 'function') throw new SessionOptionsError(`${NAME}: options.touch is 'touch' but the store has no touch method; use 'rewrite' or 'none'.`);
    if (!(timeout > 0) || !Number.isFinite(timeout)) throw new SessionOptionsError(`${NAME}: options.timeout must be a positive, finite number of milliseconds.`);
    if (typeof onError !== 'function' || typeof now !== 'function') throw new SessionOptionsError(`${NAME}: options.onError and options.now must be functions.`);
    this.store = store;
    this.touchMode = touch !== 'auto' ? touch : autoTouchMode(store);
    this.#timeout = timeout;
    this.#onError = onError;
    this.#now = now;
    this.#removed = new IdMemory(now);
    this.#forwards = new IdMemory(now);
    if (count && typeof store.length === 'function') this.count = () => this.#count();
    this.#listen('disconnect', () => {
      this.#disconnected = true;
      this.#report(new StorageError(NAME, 'disconnect', "the store emitted 'disconnect': session calls fail until it emits 'connect'"));
    });
    this.#listen('connect', () => (this.#disconnected = false));
    this.#listen('error', (err) => this.#report(new StorageError(NAME, 'error', `the store emitted 'error': ${err instanceof Error ? err.message : String(err)}`, { cause: err })));
  }

  /** One `get`. Resolves the session without its `cookie`, or `undefined` when it is missing, expired, removed or moved. */
  async getSession(id: string, ttl?: number): Promise<SessionRecord | undefined> {
    this.#noteTTL(ttl);
    if (this.#removed.has(id) || this.#forwards.has(id)) return undefined;
    const data = await this.#read('getSession', id);
    return data && toRecord(data);
  }

  /** `get`, apply `changes`, `set`, under the id's lock (see the class doc). */
  async setSession(id: string, changes: SessionChanges, ttl: number, options: WriteOptions): Promise<boolean> {
    const values = parseChanges(changes.set);
    this.#noteTTL(ttl);
    return this.#locked('setSession', id, !options.create, async (target) => {
      const data = await this.#readForWrite('setSession', target, options.create);
      if (!data) return false;
      for (const [key, value] of values) data.set(key, value);
      for (const key of changes.removed) data.delete(key);
      await this.#write('setSession', target, data, ttl);
      if (options.create) this.#removed.delete(target);
      return true;
    });
  }

  /** Under both ids' locks: `get` the old, `set` the new, `destroy` the old, forward old → new in this process. */
  async moveSession(oldId: string, newId: string, changes: SessionChanges, ttl: number, options: MoveOptions): Promise<SessionRecord | undefined> {
    const values = parseChanges(changes.set);
    this.#noteTTL(ttl);
    return this.#locks.run([oldId, newId], async () => {
      if (this.#removed.has(oldId) || this.#forwards.has(oldId)) return undefined;
      const data = await this.#read('moveSession', oldId);
      if (!data) return undefined;
      for (const [key, value] of values) data.set(key, value);
      for (const key of changes.removed) data.delete(key);
      if (options.keep) for (const key of data.keys()) if (!options.keep.has(key)) data.delete(key);
      await this.#write('moveSession', newId, data, ttl);
      try {
        await this.#call('moveSession', (cb) => this.store.destroy(oldId, cb));
      } catch (err) {
        await this.#call('moveSession', (cb) => this.store.destroy(newId, cb)).catch(() => undefined); // the error below is what matters
        throw err;
      }
      const now = this.#now();
      this.#forwards.set(oldId, newId, now + Math.min(options.forwardTTL, ttl));
      this.#removed.set(oldId, true, now + Math.max(ttl, this.#maxTTL));
      return toRecord(data);
    });
  }

  /** Under the id's lock: `get`, compare one key's JSON, `set` (see {@link Storage.compareAndSet}). */
  async compareAndSet(id: string, key: string, expected: string | undefined, next: string | undefined, ttl: number, options: WriteOptions): Promise<CompareAndSetResult> {
    if (key === 'cookie') throw reservedKey();
    const wanted = expected === undefined ? undefined : JSON.stringify(JSON.parse(expected));
    const value: unknown = next === undefined ? undefined : JSON.parse(next);
    this.#noteTTL(ttl);
    return this.#locked('compareAndSet', id, !options.create, async (target) => {
      const data = await this.#readForWrite('compareAndSet', target, options.create);
      if (!data) return 'gone';
      const current = data.has(key) ? JSON.stringify(data.get(key)) : undefined;
      if (current !== wanted) return 'conflict';
      if (next === undefined) data.delete(key);
      else data.set(key, value);
      await this.#write('compareAndSet', target, data, ttl);
      if (options.create) this.#removed.delete(target);
      return 'ok';
    });
  }

  /** Per {@link StoreAdapterOptions.touch}; never creates a session. {@link StoreAdapter.close} waits for it. */
  updateTTL(id: string, ttl: number): Promise<void> {
    const refresh = this.#refresh(id, ttl);
    this.#refreshing.add(refresh);
    const done = (): void => void this.#refreshing.delete(refresh);
    refresh.then(done, done);
    return refresh;
  }

  async #refresh(id: string, ttl: number): Promise<void> {
    this.#noteTTL(ttl);
    if (this.touchMode === 'none' || this.#removed.has(id) || this.#forwards.has(id)) return;
    const touch = this.store.touch;
    if (this.touchMode === 'touch' && touch) {
      await this.#call('updateTTL', (cb) => touch.call(this.store, id, { cookie: this.#cookie(ttl) }, cb));
      return;
    }
    await this.#locks.run([id], async () => {
      const stored = await this.#readSession('updateTTL', id);
      if (!stored || this.#removed.has(id)) return;
      if (stored.expires !== undefined && stored.expires - this.#now() > ttl / 2) return;
      await this.#write('updateTTL', id, stored.data, ttl);
    });
  }

  /** `get` (to tell whether it existed), then `destroy`; the id, and the id it forwards to, stay removed here for their TTL. */
  async removeAll(id: string): Promise<boolean> {
    return this.#locked('removeAll', id, true, async (target) => {
      const known = !this.#removed.has(target);
      const data = await this.#read('removeAll', target);
      await this.#call('removeAll', (cb) => this.store.destroy(target, cb));
      const until = this.#now() + (this.#maxTTL || DEFAULT_TTL);
      this.#removed.set(target, true, until);
      if (target !== id) this.#removed.set(id, true, until);
      return known && data !== undefined;
    });
  }

  /**
   * Removes the adapter's event listeners from the store and waits for the TTL refreshes still
   * running (the middleware starts one after a clean response; each store call is bounded by
   * `timeout`), so that closing the store right after cuts none of them off. The store itself
   * stays open: close it yourself.
   */
  async close(): Promise<void> {
    for (const [event, listener] of this.#listeners.splice(0)) this.store.removeListener?.(event, listener);
    await Promise.allSettled([...this.#refreshing]);
  }

  /** Runs `fn` under the lock of `id`, or of the id it forwards to when `follow`; retries if a move changed the target meanwhile. */
  async #locked<T>(operation: string, id: string, follow: boolean, fn: (target: string) => Promise<T>): Promise<T> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const target = follow ? this.#follow(id) : id;
      const result = await this.#locks.run([target], async () => (follow && this.#follow(id) !== target ? RETRY : fn(target)));
      if (result !== RETRY) return result;
    }
    throw new StorageError(NAME, operation, 'the session kept moving to new ids while this call waited for it; retry');
  }

  /** The id `id` forwards to, following up to 4 hops. */
  #follow(id: string): string {
    let target = id;
    for (let hop = 0; hop < 4; hop++) {
      const next = this.#forwards.get(target);
      if (next === undefined) break;
      target = next;
    }
    return target;
  }

  /** The data to write onto: the stored session, a new one when `create`, or `undefined` ("gone"). */
  async #readForWrite(operation: string, id: string, create: boolean): Promise<Data | undefined> {
    if (!create && this.#removed.has(id)) return undefined;
    const data = await this.#read(operation, id);
    return data ?? (create ? new Map() : undefined);
  }

  /** `store.get`: the session's data without `cookie`, or `undefined` when missing, expired or unreadable. */
  async #read(operation: string, id: string): Promise<Data | undefined> {
    return (await this.#readSession(operation, id))?.data;
  }

  /** Like {@link StoreAdapter.#read}, with the stored `cookie.expires` (ms) when there is one. */
  async #readSession(operation: string, id: string): Promise<{ data: Data; expires: number | undefined } | undefined> {
    let session: unknown;
    try {
      session = await this.#call(operation, (cb) => this.store.get(id, cb));
    } catch (err) {
      if (err instanceof StorageError && (err.cause as { code?: unknown } | undefined)?.code === 'ENOENT') return undefined; // express-session's "not found"
      throw err;
    }
    if (session === null || session === undefined) return undefined;
    if (typeof session !== 'object' || Array.isArray(session)) {
      this.#report(new CorruptSessionError(NAME, operation, 'the store returned something other than a session object; treating it as missing'));
      return undefined;
    }
    const raw = session as Record<string, unknown>;
    const expires = expiresOf(raw);
    // A store that touches only the expiry keeps a stale cookie.expires and expires sessions itself.
    if (this.touchMode !== 'touch' && expires !== undefined && expires <= this.#now()) return undefined;
    const data: Data = new Map();
    for (const key of Object.keys(raw)) if (key !== 'cookie') data.set(key, raw[key]);
    return { data, expires };
  }

  /** `store.set` of `data` with a synthesized cookie for `ttl`. */
  async #write(operation: string, id: string, data: Data, ttl: number): Promise<void> {
    const session = Object.fromEntries([['cookie', this.#cookie(ttl)], ...data]) as StoreSession;
    await this.#call(operation, (cb) => this.store.set(id, session, cb));
  }

  async #count(): Promise<number> {
    const length = this.store.length as NonNullable<ExpressStore['length']>;
    const n = await this.#call('count', (cb) => length.call(this.store, cb));
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new StorageError(NAME, 'count', `store.length answered ${typeof n}, not a number`);
    return n;
  }

  /** Calls the store (failing at once while it is disconnected). */
  #call(operation: string, invoke: (cb: (err?: unknown, value?: unknown) => void) => unknown): Promise<unknown> {
    if (this.#disconnected) return Promise.reject(new StorageError(NAME, operation, "the store is disconnected (it emitted 'disconnect' and no 'connect' since)"));
    return callStore(NAME, operation, this.#timeout, invoke);
  }

  #cookie(ttl: number): StoreCookie {
    const ms = Math.max(1, Math.ceil(ttl));
    return { originalMaxAge: ms, maxAge: ms, expires: new Date(this.#now() + ms), httpOnly: true, path: '/' };
  }

  #noteTTL(ttl: number | undefined): void {
    if (ttl !== undefined && ttl > this.#maxTTL && Number.isFinite(ttl)) this.#maxTTL = ttl;
  }

  #listen(event: string, listener: (...args: unknown[]) => void): void {
    if (typeof this.store.on !== 'function') return;
    this.store.on(event, listener);
    this.#listeners.push([event, listener]);
  }

  #report(err: StorageError): void {
    try {
      this.#onError(err);
    } catch (hookErr) {
      console.error('[sessionware] options.onError threw:', hookErr);
    }
  }
}

function logError(err: StorageError): void {
  console.error(`[sessionware] ${err.name} (${err.code}): ${err.message}`);
}
