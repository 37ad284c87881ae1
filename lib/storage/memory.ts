/**
 * `MemoryStorage`: sessions in the process's memory. The fastest storage, for single-process apps,
 * development and tests; sessions are lost on restart and not shared between processes.
 * @module
 */
import { SessionOptionsError } from '../errors';
import { MemoryOwnerIndex } from './memory-owners';
import { applyChanges, decodeRecord, encodeRecord, movedRecord } from './record-codec';
import type { CompareAndSetResult, MoveOptions, OwnedSession, SessionChanges, SessionRecord, Storage, WriteOptions } from './storage';

/** How many forwards a write to an old id follows (the contract's bound). */
const MAX_HOPS = 4;

/** Options of {@link MemoryStorage}. */
export interface MemoryStorageOptions {
  /**
   * How often expired sessions are dropped, in milliseconds. The timer is `unref`'d: it never keeps
   * the process alive. Expired sessions are also invisible on read, whatever this interval.
   * @default 60_000
   */
  readonly pruneInterval?: number;
  /**
   * The most sessions kept at once. When a new session would exceed it, one that was not written
   * or refreshed lately is evicted (the CLOCK approximation of least-recently-used: constant time,
   * no reordering on every use). Bounds memory against floods of new sessions.
   * @default Infinity
   */
  readonly maxSessions?: number;
  /**
   * The clock, in milliseconds since the epoch. Inject one in tests instead of sleeping.
   * @default Date.now
   */
  readonly now?: () => number;
}

/** One stored session: its record as one JSON string (compact, and a copy by construction). */
class Entry {
  constructor(
    readonly json: string,
    public expiresAt: number,
    /** Written or refreshed since the eviction hand last passed (its second chance). */
    public used: boolean,
  ) {}
}

/**
 * What `moveSession` leaves under the old id: the id the session moved to, until `expiresAt`.
 * Never readable as a session; writes and logouts follow it.
 */
class Forward {
  /** Forwards are evicted first under `maxSessions` (they are never marked used). */
  readonly used = false;
  constructor(
    readonly target: string,
    readonly expiresAt: number,
  ) {}
}

/**
 * Keeps sessions in a `Map` inside the process. Each session is stored as one JSON string, so
 * requests never share objects (every read is an isolated copy) and an idle session costs little
 * heap. Expired sessions are pruned by an `unref`'d timer, so memory returns to its baseline after
 * sessions expire; `maxSessions` bounds it outright.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { session, MemoryStorage } from 'sessionware';
 *
 * const app = express();
 * app.use(session(new MemoryStorage({ maxSessions: 100_000 })));
 * ```
 */
export class MemoryStorage implements Storage {
  readonly #sessions = new Map<string, Entry | Forward>();
  readonly #now: () => number;
  readonly #maxSessions: number;
  /** The eviction hand: an iterator that goes round the sessions in insertion order. */
  #hand: Iterator<[string, Entry | Forward]> | undefined;
  #timer: NodeJS.Timeout | undefined;
  /**
   * The last entry decoded or written, with its record: a read and the write that follows it (or
   * overlapping requests on one hot session) decode the JSON once instead of each time. One slot,
   * so it costs no heap per session; entries are immutable (every write stores a new one), so an
   * entry that is still the one stored still holds exactly this record.
   */
  #decoded: { entry: Entry; record: SessionRecord } | undefined;
  /** The owner index ("log out everywhere"): cleaned by `removeAll`, by listings and by {@link MemoryStorage.prune}. */
  readonly #owners = new MemoryOwnerIndex(() => this.#now(), (id) => this.#live(id)?.expiresAt);

  /** @throws {SessionOptionsError} on a non-positive `pruneInterval` or `maxSessions`. */
  constructor(options: MemoryStorageOptions = {}) {
    const { pruneInterval = 60_000, maxSessions = Infinity, now = Date.now } = options;
    if (!(pruneInterval > 0)) {
      throw new SessionOptionsError('MemoryStorage: options.pruneInterval must be a positive number of milliseconds.');
    }
    if (!(maxSessions >= 1)) {
      throw new SessionOptionsError('MemoryStorage: options.maxSessions must be at least 1.');
    }
    this.#now = now;
    this.#maxSessions = maxSessions;
    this.#timer = setInterval(() => this.prune(), pruneInterval);
    this.#timer.unref();
  }

  /** How many sessions and forwards are held, expired ones not yet pruned included. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * The live session's record. It is read-only (a `ReadonlyMap`, possibly shared with other
   * callers that read the same version): copy it before changing it.
   */
  async getSession(id: string, _ttl?: number): Promise<SessionRecord | undefined> {
    const entry = this.#live(id);
    return entry && this.#record(entry);
  }

  /** Applies `changes` (following a forward left by `moveSession`); `false` when the session is gone. */
  async setSession(id: string, changes: SessionChanges, ttl: number, options: WriteOptions): Promise<boolean> {
    const target = this.#target(id, options.create);
    if (target === undefined) return false;
    const [targetId, entry] = target;
    this.#store(targetId, applyChanges(entry && this.#record(entry), changes), ttl, entry !== undefined);
    return true;
  }

  /**
   * Moves the session in one synchronous step (nothing can run in between): the new id gets the
   * record with `changes` applied and filtered by `keep`, the old id a forward for `forwardTTL`.
   * Resolves `undefined` (and writes nothing) when the old id holds no live session.
   * @throws {TypeError} when `newId` equals `oldId`.
   */
  async moveSession(oldId: string, newId: string, changes: SessionChanges, ttl: number, options: MoveOptions): Promise<SessionRecord | undefined> {
    if (oldId === newId) throw new TypeError('MemoryStorage.moveSession: the new id must differ from the old one.');
    const entry = this.#live(oldId);
    if (!entry) return undefined;
    const record = movedRecord(this.#record(entry), changes, options.keep);
    this.#sessions.set(oldId, new Forward(newId, this.#now() + options.forwardTTL));
    this.#owners.removed(oldId); // a forward is never listed; regenerate() indexed newId before the move
    this.#store(newId, record, ttl, false, oldId);
    return new Map(record);
  }

  /**
   * Writes `key` only if it holds `expected` (`undefined`: absent); `next` `undefined` removes it.
   * Synchronous inside, so atomic. Follows forwards like `setSession`.
   */
  async compareAndSet(id: string, key: string, expected: string | undefined, next: string | undefined, ttl: number, options: WriteOptions): Promise<CompareAndSetResult> {
    const target = this.#target(id, options.create);
    if (target === undefined) return 'gone';
    const [targetId, entry] = target;
    const record = new Map(entry && this.#record(entry));
    if (record.get(key) !== expected) return 'conflict';
    if (next === undefined) record.delete(key);
    else record.set(key, next);
    this.#store(targetId, record, ttl, entry !== undefined);
    return 'ok';
  }

  /** The number of live sessions (forwards and expired sessions not counted). Walks every entry: O(n). */
  async count(): Promise<number> {
    const now = this.#now();
    let live = 0;
    for (const slot of this.#sessions.values()) if (slot instanceof Entry && slot.expiresAt > now) live++;
    return live;
  }

  /** Extends a live session; does nothing for a missing id or a forward. */
  async updateTTL(id: string, ttl: number): Promise<void> {
    const entry = this.#live(id);
    if (!entry) return;
    entry.expiresAt = this.#now() + ttl;
    entry.used = true;
  }

  /** Deletes the session; on a forward, deletes the forwards and the session they lead to. */
  async removeAll(id: string): Promise<boolean> {
    let current = id;
    for (let hop = 0; hop <= MAX_HOPS; hop++) {
      const slot = this.#slot(current);
      if (slot === undefined) return false;
      this.#sessions.delete(current);
      this.#owners.removed(current);
      if (slot instanceof Entry) return true;
      current = slot.target;
    }
    return false;
  }

  /**
   * Indexes `id` under `owner` for "log out everywhere" (see `Storage.addOwner`): a map entry,
   * dropped when the session is removed, or once it expired (by a listing or {@link MemoryStorage.prune}).
   */
  async addOwner(owner: string, id: string, ttl: number): Promise<void> {
    this.#owners.add(owner, id, ttl);
  }

  /** The live sessions indexed under `owner`, with their expiry; O(sessions of the owner). */
  async ownerSessions(owner: string): Promise<readonly OwnedSession[]> {
    return this.#owners.list(owner);
  }

  /** Removes `ids` from `owner`'s index; the sessions are not touched. */
  async forgetOwner(owner: string, ids: readonly string[]): Promise<void> {
    this.#owners.forget(owner, ids);
  }

  /** Drops every expired session now, and the owner-index entries of sessions that are gone. Runs by itself every `pruneInterval`. */
  prune(): void {
    const now = this.#now();
    for (const [id, entry] of this.#sessions) {
      if (entry.expiresAt <= now) this.#sessions.delete(id);
    }
    this.#owners.prune();
  }

  /** Stops the prune timer. The sessions stay readable until the storage is dropped. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The unexpired session or forward under `id` (an expired one is dropped on the way). */
  #slot(id: string): Entry | Forward | undefined {
    const slot = this.#sessions.get(id);
    if (slot && slot.expiresAt <= this.#now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return slot;
  }

  /** The live session under `id`; a forward is not one. */
  #live(id: string): Entry | undefined {
    const slot = this.#slot(id);
    return slot instanceof Entry ? slot : undefined;
  }

  /**
   * Where a write to `id` goes: the session under `id`, or the one its forwards lead to (at most
   * {@link MAX_HOPS}). With `create`, a free `id` is returned without an entry. `undefined`: the
   * write must be dropped (the session, or the one a forward led to, is gone).
   */
  #target(id: string, create: boolean): [string, Entry | undefined] | undefined {
    let current = id;
    for (let hop = 0; hop <= MAX_HOPS; hop++) {
      const slot = this.#slot(current);
      if (slot instanceof Entry) return [current, slot];
      if (slot === undefined) return create && hop === 0 ? [current, undefined] : undefined;
      current = slot.target;
    }
    return undefined;
  }

  /** The record of `entry`, decoded once per version (see {@link MemoryStorage.#decoded}). */
  #record(entry: Entry): SessionRecord {
    const cached = this.#decoded;
    if (cached?.entry === entry) return cached.record;
    const record = decodeRecord(entry.json);
    this.#decoded = { entry, record };
    return record;
  }

  /**
   * Stores `record` (a Map this storage made and hands to nobody but {@link MemoryStorage.#record}'s
   * readers) under `id`; an eviction spares `id` and `spare` (the forward a move just left).
   */
  #store(id: string, record: SessionRecord, ttl: number, used: boolean, spare?: string): void {
    // Replaced in place: deleting and re-adding a key of a large Map on every write would leave a
    // growing chain of deleted slots behind it, and make each write slower than the last.
    const entry = new Entry(encodeRecord(record), this.#now() + ttl, used);
    this.#sessions.set(id, entry);
    this.#decoded = { entry, record };
    // With more than two entries one is neither `id` nor `spare`: the hand always finds a victim.
    if (this.#sessions.size > this.#maxSessions) this.#evictOne(id, this.#sessions.size > 2 ? spare : undefined);
  }

  /**
   * Evicts one session other than `keep` (the one just written) and `spare`: the hand moves on in insertion
   * order, clearing the `used` mark of the sessions it passes, and evicts the first one without it.
   * The hand is a live Map iterator, so it never walks the same slots twice in one round.
   */
  #evictOne(keep: string, spare: string | undefined): void {
    for (;;) {
      let step = this.#hand?.next();
      if (step === undefined || step.done === true) {
        this.#hand = this.#sessions.entries(); // round again from the oldest
        step = this.#hand.next();
        if (step.done === true) return;
      }
      const [id, entry] = step.value;
      if (id === keep || id === spare) continue;
      if (!entry.used) {
        this.#sessions.delete(id);
        return;
      }
      entry.used = false;
    }
  }
}
