/**
 * `MemcacheStorage`: each session is one memcached item under `prefix + id`. Reads cost one `gats`;
 * writes merge only what changed with `gets` + `cas`, and never re-create a removed session.
 * @module
 */
import { CorruptSessionError, StorageError } from '../../errors';
import { applyChanges, movedRecord } from '../record-codec';
import { RecentReads, type Read } from './memcache-reads';
import { WriteQueue, mergeChanges } from './memcache-writes';
import { MemcacheClient, TOO_LARGE, type MemcacheConnection, type StoreReply } from './memcache-client';
import { resolveOptions, type MemcacheStorageOptions } from './memcache-options';
import { KEY_PATTERN, MAX_KEY_BYTES, decodeItem, encodeChecked, encodeForward, exptime, tooLarge, type Item } from './memcache-item';
import type { CompareAndSetResult, MoveOptions, SessionChanges, SessionRecord, Storage, WriteOptions } from '../storage';

/** How long a `gats` makes a following `updateTTL` of the same session redundant (memcached counts seconds). */
const TOUCH_WINDOW = 1000;
/** Forwards followed by one write, as the `Storage` contract says. */
const MAX_HOPS = 4;
const CONFLICT = Symbol('conflict');
type Mutation = (current: ReadonlyMap<string, string> | undefined) => Map<string, string> | typeof CONFLICT;

/**
 * Keeps each session as one memcached item under `prefix + id`: a JSON object of JSON texts, with
 * the TTL as memcached's expiry (whole seconds, rounded up; above 30 days sent as an absolute
 * Unix time, as memcached requires).
 *
 * - **Read** (`getSession`): one `gats` (get-and-touch, with the CAS token), which also slides
 *   the TTL, so a clean close right after it (`updateTTL`) sends nothing: **a read-only request
 *   costs one command**.
 * - **Dirty close** (`setSession`): `add` for a new session (one command). Otherwise one `cas`
 *   with the token of this request's `gats` (a read-then-write request costs two commands); when
 *   the session changed since, `gets`, merge only the changed and removed keys onto what is stored
 *   now, `cas` again (at most `casRetries` times), so no request loses another's changes. A
 *   session that is gone (`gets` misses, `cas` answers `NOT_FOUND`) is never re-created. One
 *   instance's writes to a session run in turn, and those that arrive while one is in flight are
 *   merged into a single `gets` + `cas` (see `WriteQueue`): only other processes make a `cas` retry.
 * - **Clean close** (`updateTTL`): nothing after a `gats` by this instance less than a second ago
 *   (the usual case), otherwise one `gats`.
 * - **Logout** (`removeAll`): **one command**, `gat -1`, which ends the item and returns what it
 *   held (see `MemcacheClient.expire`). Only when that was a forward (a logout through the old id
 *   in the `forwardTTL` after a `regenerate()`) a second `gat -1` ends the session it leads to.
 * - **Regenerate** (`moveSession`): `gets` old, `add` new, `cas` old into a forward: the `cas` is
 *   the atomic step, so a write to the old id lands before the move (and is carried over) or after
 *   it (and follows the forward), and a logout that came first makes it undo the new item.
 * - **Update one key** (`compareAndSet`): `gets` + `cas`.
 * - `count()` is not provided: memcached cannot list or count items by prefix without a full
 *   crawl (`lru_crawler metadump`), which is neither cheap nor exact.
 * - No owner index (`addOwner`/`ownerSessions`/`forgetOwner`): an index item would be evicted on its
 *   own, and a revoke that misses sessions is worse than none, so `session.setOwner()`,
 *   `manager.sessionsOf()` and `manager.revoke()` reject with a `StorageError` ("log out
 *   everywhere" needs a storage that keeps its data).
 *
 * memcached is a cache: under memory pressure it **evicts** items, which logs those users out.
 * Run it with `-M` (return errors instead of evicting) and enough `-m` if that is not acceptable.
 * It keeps nothing across a restart.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { session } from 'sessionware';
 * import { MemcacheStorage } from 'sessionware/memcache';
 *
 * const storage = new MemcacheStorage('127.0.0.1:11211', { prefix: 'myapp:sess:' });
 * const app = express();
 * app.use(session(storage));
 * process.on('SIGTERM', () => void storage.close());
 * ```
 */
export class MemcacheStorage implements Storage {
  readonly #mc: MemcacheClient;
  readonly #prefix: string;
  readonly #maxItemSize: number;
  readonly #casRetries: number;
  readonly #onError: (err: StorageError) => void;
  /** Sessions this instance just read with `gats`, for the close of the same request. */
  readonly #reads = new RecentReads();
  /** One process's writes to a session, in order and batched (see `WriteQueue`). */
  readonly #queue = new WriteQueue();

  /**
   * @param connection a `memcache-client` `MemcacheClient` (left open by `close()`), its options,
   *   or `'host:port'` (the storage creates the client and shuts it down). See {@link MemcacheConnection}.
   * @throws {SessionOptionsError} on an invalid option.
   */
  constructor(connection: MemcacheConnection, options: MemcacheStorageOptions = {}) {
    const { prefix, commandTimeout, maxItemSize, casRetries, onError } = resolveOptions(connection, options);
    this.#prefix = prefix;
    this.#maxItemSize = maxItemSize;
    this.#casRetries = casRetries;
    this.#onError = onError;
    this.#mc = new MemcacheClient('MemcacheStorage', connection, commandTimeout);
  }

  /** The memcache-client instance in use (yours, or the one the storage created). */
  get client(): MemcacheClient['client'] {
    return this.#mc.client;
  }

  /** One `gats`: resolves the session and slides its TTL; `undefined` when missing, a forward or unreadable. */
  async getSession(id: string, ttl: number): Promise<SessionRecord | undefined> {
    const key = this.#key('getSession', id);
    const found = await this.#mc.gats('getSession', key, exptime(ttl, Date.now()));
    if (found === undefined) return undefined;
    const item = this.#decode('getSession', found.value);
    if (item.kind === 'forward') await this.#restore('getSession', key, item.until);
    if (item.kind !== 'record') return undefined;
    this.#reads.add(id, { ttl, cas: found.cas, record: item.record, at: Date.now() });
    return item.record;
  }

  /** `add` (new session) or `gets` + `cas` (merge): see the class doc. */
  async setSession(id: string, changes: SessionChanges, ttl: number, options: WriteOptions): Promise<boolean> {
    const one = async (single: SessionChanges, read?: Read) => (await this.#update('setSession', id, ttl, options.create, (current) => applyChanges(current, single), single, read)) === 'ok';
    if (!options.create && this.#queue.busy(id)) {
      this.#reads.take(id); // its CAS token is stale once the write in flight lands
      const all = async (list: readonly SessionChanges[]) => (await this.#update('setSession', id, ttl, false, (current) => list.reduce<Map<string, string>>((next, each) => applyChanges(next, each), new Map(current)), mergeChanges(list))) === 'ok';
      return this.#queue.join(id, ttl, changes, all, one);
    }
    const read = this.#reads.take(id);
    return this.#queue.run(id, () => one(changes, read));
  }

  /** `gets` + `cas` of one key, only if it still holds `expected`. */
  async compareAndSet(id: string, key: string, expected: string | undefined, next: string | undefined, ttl: number, options: WriteOptions): Promise<CompareAndSetResult> {
    const set = new Map<string, string>(next === undefined ? [] : [[key, next]]);
    const changes: SessionChanges = { set, removed: new Set(next === undefined ? [key] : []) };
    const mutate: Mutation = (current) => (current?.get(key) === expected ? applyChanges(current, changes) : CONFLICT);
    const read = this.#queue.busy(id) ? (this.#reads.take(id), undefined) : this.#reads.take(id);
    return this.#queue.run(id, () => this.#update('compareAndSet', id, ttl, options.create, mutate, changes, read));
  }

  /**
   * Moves a live session to `newId` and leaves a forward under `oldId` (in the old item itself,
   * which is what `removeAll(oldId)` reads as it ends it):
   * 1. `gets` old (a miss, a forward or an unreadable item: resolve `undefined`, nothing written);
   * 2. `add` new with the record (changes applied, filtered by `keep`);
   * 3. `cas` old into a forward to new, living `forwardTTL`. This is the one atomic step:
   *    `EXISTS` (a write to old came in between) re-reads old, rewrites new and tries again;
   *    `NOT_FOUND` (a logout ended old in between) deletes new and resolves `undefined`: the
   *    logout wins, and the new id is never handed out.
   *
   * memcached has no multi-key transaction: between steps 2 and 3 both items exist, but nobody
   * knows the new id yet. A crash in that window leaves an unreachable copy that expires with its TTL.
   */
  async moveSession(oldId: string, newId: string, changes: SessionChanges, ttl: number, options: MoveOptions): Promise<SessionRecord | undefined> {
    const op = 'moveSession';
    const [oldKey, newKey] = [this.#key(op, oldId), this.#key(op, newId)];
    this.#reads.take(oldId);
    const forwardUntil = Date.now() + options.forwardTTL;
    let created = false;
    const abandon = async (): Promise<undefined> => {
      if (created) await this.#mc.delete(op, newKey);
      return undefined;
    };
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) await this.#backoff(op, attempt);
      const found = await this.#mc.gets(op, oldKey);
      if (!found) return abandon();
      const item = this.#decode(op, found.value);
      if (item.kind !== 'record') return abandon();
      const record = movedRecord(item.record, changes, options.keep);
      const text = encodeChecked('MemcacheStorage', op, newKey, record, this.#maxItemSize, changes);
      const expiry = exptime(ttl, Date.now());
      if (!created) {
        if ((await this.#store(op, 'add', newKey, text, expiry)) !== 'STORED') {
          throw new StorageError('MemcacheStorage', op, 'the new session id is already in use; ids must be fresh and unguessable.');
        }
        created = true;
      } else {
        await this.#store(op, 'set', newKey, text, expiry);
      }
      const reply = await this.#store(op, 'cas', oldKey, encodeForward(newId, forwardUntil), exptime(options.forwardTTL, Date.now()), found.cas);
      if (reply === 'STORED') return record;
      if (reply === 'NOT_FOUND') return abandon();
    }
  }

  /**
   * One `gat -1`: ends the item and returns what it held (memcached then treats it exactly as
   * deleted; see `MemcacheClient.expire`). A `delete` cannot say what it deleted, and a logout
   * through an id that `regenerate()` moved must end the session it moved to, which only the old
   * item's value (a forward) knows. So only when that value is a live forward, a second `gat -1`
   * ends its target (and so on along a chain, at most {@link MAX_HOPS}). A logout racing a move is
   * handled by the move (its final `cas` finds the old item gone and deletes the new one).
   * Resolves whether a session (or an item this storage cannot read) was ended.
   */
  async removeAll(id: string): Promise<boolean> {
    this.#reads.take(id);
    let key = this.#key('removeAll', id);
    for (let hop = 0; ; hop++) {
      const value = await this.#mc.expire('removeAll', key);
      if (value === undefined) return false;
      const item = decodeItem(value);
      if (item.kind !== 'forward') return true;
      if (item.until <= Date.now() || hop >= MAX_HOPS) return false;
      this.#reads.take(item.to);
      key = this.#key('removeAll', item.to);
    }
  }

  /**
   * Nothing when this storage read the session with `gats` (which already slid the TTL) less than a
   * second ago with the same TTL; otherwise one `gats`. Never creates a session, and never extends
   * a forward (its expiry is set back).
   */
  async updateTTL(id: string, ttl: number): Promise<void> {
    const read = this.#reads.close(id);
    if (read && read.ttl === ttl && read.at + TOUCH_WINDOW > Date.now()) return;
    const key = this.#key('updateTTL', id);
    const found = await this.#mc.gats('updateTTL', key, exptime(ttl, Date.now()));
    if (!found?.value?.startsWith('@')) return;
    const item = decodeItem(found.value);
    if (item.kind === 'forward') await this.#restore('updateTTL', key, item.until);
  }

  /** Shuts the client down if the storage created it; a client you passed stays open. */
  async close(): Promise<void> {
    this.#reads.clear();
    this.#mc.close();
  }

  /**
   * The bounded `gets` + `cas` loop shared by `setSession` and `compareAndSet`. `create` starts with
   * an `add`; a miss (or `NOT_FOUND` on `cas`) without `create` resolves `'gone'`; a forward is
   * followed (up to {@link MAX_HOPS}); `mutate` may refuse with {@link CONFLICT}. With `read` (this
   * request's `gats`), the first attempt skips the `gets`: its CAS token proves what is stored.
   */
  async #update(op: string, id: string, ttl: number, create: boolean, mutate: Mutation, changes: SessionChanges, read?: Read): Promise<'ok' | 'gone' | 'conflict'> {
    let key = this.#key(op, id);
    let hops = 0;
    let tryAdd = create;
    if (read && !create) {
      const next = mutate(read.record);
      if (next !== CONFLICT) {
        const reply = await this.#store(op, 'cas', key, encodeChecked('MemcacheStorage', op, key, next, this.#maxItemSize, changes), exptime(ttl, Date.now()), read.cas);
        if (reply === 'STORED') return 'ok';
      }
      // Changed since the read (or a conflict by an old value): decide on what is stored now.
    }
    for (let attempt = 0; ; ) {
      if (tryAdd) {
        tryAdd = false;
        const next = mutate(undefined);
        if (next === CONFLICT) return 'conflict';
        const reply = await this.#store(op, 'add', key, encodeChecked('MemcacheStorage', op, key, next, this.#maxItemSize, changes), exptime(ttl, Date.now()));
        if (reply === 'STORED') return 'ok';
      }
      const found = await this.#mc.gets(op, key);
      if (!found) {
        if (!create) return 'gone';
        tryAdd = true; // it was deleted after our add failed: add again
        await this.#backoff(op, ++attempt);
        continue;
      }
      const item = this.#decode(op, found.value);
      if (item.kind === 'forward') {
        if (item.until <= Date.now() || hops++ >= MAX_HOPS) return 'gone';
        key = this.#key(op, item.to);
        continue;
      }
      if (item.kind === 'unreadable' && !create) return 'gone';
      const next = mutate(item.kind === 'record' ? item.record : undefined);
      if (next === CONFLICT) return 'conflict';
      const text = encodeChecked('MemcacheStorage', op, key, next, this.#maxItemSize, changes);
      const reply = await this.#store(op, 'cas', key, text, exptime(ttl, Date.now()), found.cas);
      if (reply === 'STORED') return 'ok';
      if (reply === 'NOT_FOUND' && !create) return 'gone';
      await this.#backoff(op, ++attempt);
    }
  }

  /** One storage command; memcached's "too large" reply becomes the clear size error. */
  async #store(op: string, command: 'add' | 'set' | 'cas', key: string, value: string, expiry: number, cas?: string): Promise<StoreReply> {
    try {
      return await this.#mc.store(op, command, key, value, expiry, cas);
    } catch (err) {
      if (err instanceof StorageError && err.message.endsWith(TOO_LARGE)) throw tooLarge('MemcacheStorage', op, undefined, this.#maxItemSize, undefined);
      throw err;
    }
  }

  /** Waits a random 0..attempt ms (at most 16) after a lost `cas` race; rejects past `casRetries`. */
  async #backoff(op: string, attempt: number): Promise<void> {
    if (attempt > this.#casRetries) {
      throw new StorageError('MemcacheStorage', op, `gave up after ${this.#casRetries} retries: other requests kept changing the session between gets and cas (options.casRetries).`);
    }
    const ms = Math.floor(Math.random() * Math.min(attempt, 16));
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  }

  /**
   * A `gats` of a forward slid its expiry too: set it back to the forward's own end (an absolute
   * Unix time), so a forward lives `forwardTTL` however often its id is read.
   */
  async #restore(op: string, key: string, until: number): Promise<void> {
    try {
      await this.#mc.touch(op, key, Math.ceil(until / 1000));
    } catch (err) {
      this.#report(err as StorageError);
    }
  }

  #report(err: StorageError): void {
    try {
      this.#onError(err);
    } catch (hookErr) {
      console.error('[sessionware] options.onError threw:', hookErr);
    }
  }

  #decode(op: string, value: string | null): Item {
    const item = decodeItem(value);
    if (item.kind === 'unreadable') {
      this.#report(new CorruptSessionError('MemcacheStorage', op, 'the stored item is not a session this storage wrote; treating it as missing', { cause: item.cause }));
    }
    return item;
  }

  /** The memcached key of session `id`, checked against the text protocol's limits. */
  #key(op: string, id: string): string {
    const key = this.#prefix + id;
    if (key.length > MAX_KEY_BYTES || !KEY_PATTERN.test(key)) {
      throw new StorageError('MemcacheStorage', op, `the key prefix + id is not a valid memcached key (printable ASCII without spaces, at most ${MAX_KEY_BYTES} bytes); session ids are 8 to 128 characters of [A-Za-z0-9_-].`);
    }
    return key;
  }
}
