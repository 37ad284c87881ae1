/**
 * `SessionChangeSet`: what one request knows about its session's data. The record it loaded, the
 * changes it made on top (visible to its own reads), which of those the storage has not received
 * yet, and the session's size as known from both.
 * @module
 */
import { SessionValueError } from './errors';
import type { SessionChanges, SessionRecord } from './storage/storage';

const EMPTY: SessionRecord = new Map();

/**
 * The size of one stored entry as `maxSessionBytes` counts it: the UTF-8 bytes of the key and of
 * the value's JSON text.
 * @internal
 */
export function entryBytes(key: string, text: string): number {
  return Buffer.byteLength(key, 'utf8') + Buffer.byteLength(text, 'utf8');
}

/**
 * Change tracking for one {@link Session}. Holds no ids and does no I/O.
 * @internal
 */
export class SessionChangeSet {
  /** The record as loaded (or as `moveSession` returned it). */
  #base: SessionRecord = EMPTY;
  /** This request's changes on top of `#base`; `null` marks a removed key. */
  #overlay: Map<string, string | null> | undefined;
  /** Keys of `#overlay` the storage has not received yet. */
  #pending: Set<string> | undefined;
  /** The size of `#base` with `#overlay` applied, in bytes; computed when first needed. */
  #bytes: number | undefined;
  /** This request changed the session (set, remove, removeAll, regenerate). */
  dirty = false;
  /** The storage received a write of this request, which reset the session's TTL. */
  written = false;

  /** Starts over from `record` (a load, or a move): no changes, nothing pending. */
  load(record: SessionRecord): void {
    this.#base = record;
    this.#overlay = undefined;
    this.#pending = undefined;
    this.#bytes = undefined;
  }

  /**
   * Starts over after a move (`regenerate()`): from `record`, what `moveSession` resolved, which may
   * hold only some keys (see `Storage.moveSession`). Every other key is taken from this request's
   * own view (what it loaded, with its changes), filtered by `keep`; nothing is pending.
   */
  loadMoved(record: SessionRecord, keep: ReadonlySet<string> | undefined): void {
    const view = this.merged();
    if (keep) for (const key of view.keys()) if (!keep.has(key)) view.delete(key);
    for (const [key, text] of record) view.set(key, text);
    this.load(view);
  }

  /** Forgets everything loaded and changed (logout, or a lost race); `dirty` stays. */
  clear(): void {
    this.load(EMPTY);
    this.written = false;
  }

  /**
   * This request's own text for `key`: a string, `null` when it removed the key, `undefined` when
   * it did not touch it.
   */
  local(key: string): string | null | undefined {
    return this.#overlay?.get(key);
  }

  /** The loaded text of `key`, if the load brought it. */
  loaded(key: string): string | undefined {
    return this.#base.get(key);
  }

  /** Whether this request has changes on top of what was loaded. */
  get changed(): boolean {
    return (this.#overlay?.size ?? 0) > 0;
  }

  /** Whether some changes have not reached the storage yet. */
  get pending(): boolean {
    return (this.#pending?.size ?? 0) > 0;
  }

  /** `base` (the loaded record unless given) with this request's changes applied: a new map. */
  merged(base: SessionRecord = this.#base): Map<string, string> {
    const record = new Map(base);
    for (const [key, text] of this.#overlay ?? EMPTY) {
      if (text === null) record.delete(key);
      else record.set(key, text);
    }
    return record;
  }

  /** Records a change; `pending` when the storage has not received it yet. */
  change(key: string, text: string | null, pending: boolean): void {
    if (this.#bytes !== undefined) this.#bytes += (text === null ? 0 : entryBytes(key, text)) - this.#entry(key);
    (this.#overlay ??= new Map()).set(key, text);
    if (pending) (this.#pending ??= new Set()).add(key);
  }

  /** Whether this request changed `key` and the storage has not received that change yet. */
  isPending(key: string): boolean {
    return this.#pending?.has(key) === true;
  }

  /** `key` was written straight through with `text` (`null`: removed): visible to reads, no longer pending. */
  landed(key: string, text: string | null): void {
    this.change(key, text, false);
    this.#pending?.delete(key);
  }

  /** Drops this request's unsent changes of `keys` (a session that was never stored has nothing to remove). */
  discard(keys: Iterable<string>): void {
    for (const key of keys) {
      if (this.#pending?.has(key) !== true) continue;
      const before = this.#entry(key);
      this.#overlay?.delete(key);
      this.#pending.delete(key);
      if (this.#bytes !== undefined) this.#bytes += this.#entry(key) - before;
    }
  }

  /** Keeps only the changes of `keys` (`regenerate({ keep })` on a session that was never stored). */
  keepOnly(keys: ReadonlySet<string>): void {
    this.discard([...(this.#overlay?.keys() ?? [])].filter((key) => !keys.has(key)));
  }

  /** The changes the storage has not received, as `setSession`/`moveSession` take them. */
  pendingChanges(): SessionChanges {
    const set = new Map<string, string>();
    const removed = new Set<string>();
    for (const key of this.#pending ?? []) {
      const text = this.#overlay?.get(key);
      if (text == null) removed.add(key);
      else set.set(key, text);
    }
    return { set, removed };
  }

  /** The pending changes reached the storage. */
  sent(): void {
    this.#pending = undefined;
  }

  /** The size in bytes the session would have with `texts` written on top of what is known. */
  bytesWith(texts: ReadonlyMap<string, string>): number {
    let bytes = (this.#bytes ??= this.#count());
    for (const [key, text] of texts) bytes += entryBytes(key, text) - this.#entry(key);
    return bytes;
  }

  /** Throws a `SessionValueError` when writing `texts` would take the session beyond `max` bytes. */
  checkSize(texts: ReadonlyMap<string, string>, max: number): void {
    const bytes = this.bytesWith(texts);
    if (bytes <= max) return;
    const key = [...texts.keys()][0] as string;
    const what = texts.size === 1 ? `session.set("${key}")` : `session.setMap() of ${texts.size} keys`;
    throw new SessionValueError(key, `${what} would make the session ${bytes} bytes, more than maxSessionBytes (${max}); nothing was written. Keep large data elsewhere and a reference in the session, or raise maxSessionBytes.`);
  }

  /** The bytes of the loaded record with this request's changes on top. */
  #count(): number {
    let bytes = 0;
    for (const [key, text] of this.#base) if (this.#overlay?.has(key) !== true) bytes += entryBytes(key, text);
    for (const [key, text] of this.#overlay ?? EMPTY) if (text !== null) bytes += entryBytes(key, text);
    return bytes;
  }

  /** The bytes `key` takes now. */
  #entry(key: string): number {
    const local = this.#overlay?.get(key);
    const text = local === undefined ? this.#base.get(key) : local;
    return text == null ? 0 : entryBytes(key, text);
  }
}
