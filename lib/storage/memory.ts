/**
 * `MemoryStorage`: sessions in the process's memory. The fastest storage, for single-process apps,
 * development and tests; sessions are lost on restart and not shared between processes.
 * @module
 */
import { SessionOptionsError } from '../errors';
import { applyChanges, decodeRecord, encodeRecord } from './record-codec';
import type { SessionChanges, SessionRecord, Storage, WriteOptions } from './storage';

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
  readonly #sessions = new Map<string, Entry>();
  readonly #now: () => number;
  readonly #maxSessions: number;
  /** The eviction hand: an iterator that goes round the sessions in insertion order. */
  #hand: Iterator<[string, Entry]> | undefined;
  #timer: NodeJS.Timeout | undefined;

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

  /** How many sessions are held, expired ones not yet pruned included. */
  get size(): number {
    return this.#sessions.size;
  }

  async getSession(id: string, _ttl?: number): Promise<SessionRecord | undefined> {
    const entry = this.#live(id);
    return entry && decodeRecord(entry.json);
  }

  async setSession(id: string, changes: SessionChanges, ttl: number, options: WriteOptions): Promise<boolean> {
    const entry = this.#live(id);
    if (!entry && !options.create) return false;
    const record = applyChanges(entry && decodeRecord(entry.json), changes);
    // Replaced in place: deleting and re-adding a key of a large Map on every write would leave a
    // growing chain of deleted slots behind it, and make each write slower than the last.
    this.#sessions.set(id, new Entry(encodeRecord(record), this.#now() + ttl, entry !== undefined));
    if (this.#sessions.size > this.#maxSessions) this.#evictOne(id);
    return true;
  }

  async updateTTL(id: string, ttl: number): Promise<void> {
    const entry = this.#live(id);
    if (!entry) return;
    entry.expiresAt = this.#now() + ttl;
    entry.used = true;
  }

  async removeAll(id: string): Promise<boolean> {
    return this.#live(id) !== undefined && this.#sessions.delete(id);
  }

  /** Drops every expired session now. Runs by itself every `pruneInterval`. */
  prune(): void {
    const now = this.#now();
    for (const [id, entry] of this.#sessions) {
      if (entry.expiresAt <= now) this.#sessions.delete(id);
    }
  }

  /** Stops the prune timer. The sessions stay readable until the storage is dropped. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #live(id: string): Entry | undefined {
    const entry = this.#sessions.get(id);
    if (entry && entry.expiresAt <= this.#now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return entry;
  }

  /**
   * Evicts one session other than `keep` (the one just written): the hand moves on in insertion
   * order, clearing the `used` mark of the sessions it passes, and evicts the first one without it.
   * The hand is a live Map iterator, so it never walks the same slots twice in one round.
   */
  #evictOne(keep: string): void {
    for (;;) {
      let step = this.#hand?.next();
      if (step === undefined || step.done === true) {
        this.#hand = this.#sessions.entries(); // round again from the oldest
        step = this.#hand.next();
        if (step.done === true) return;
      }
      const [id, entry] = step.value;
      if (id === keep) continue;
      if (!entry.used) {
        this.#sessions.delete(id);
        return;
      }
      entry.used = false;
    }
  }
}
