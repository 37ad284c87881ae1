/**
 * The `Storage` contract: what a session backend must do, and *when* the library calls each
 * method. Ported from gsession's `Storage` interface, with two changes that make sessions safe
 * under concurrency: a dirty session hands the storage only what changed, and no write may bring
 * back a session that was removed.
 * @module
 */

/**
 * A session as stored: each key maps to the **JSON text** of its value.
 *
 * Storages never serialise values themselves: they keep these strings verbatim and return them
 * verbatim. Because strings are immutable, a map handed out is an isolated copy as long as the
 * storage does not mutate it afterwards (replace it instead).
 */
export type SessionRecord = ReadonlyMap<string, string>;
// Keys starting with `$sw:` are the session layer's own bookkeeping (`$sw:ttl`: the session's own
// TTL in ms; `$sw:created`: its creation time; `$sw:owner`: the owner given by `setOwner()`). A storage keeps them like any
// other key; the session hides them from the application and refuses them as user keys.

/** What a request changed in a session, handed to {@link Storage.setSession} when it closes. */
export interface SessionChanges {
  /** Keys written in this request, each with the JSON text of its new value. */
  readonly set: ReadonlyMap<string, string>;
  /** Keys removed in this request. Never overlaps `set`. */
  readonly removed: ReadonlySet<string>;
}

/** How a write may treat a session that is not in the storage. */
export interface WriteOptions {
  /**
   * `true` when the session was created in this request and has never been stored: the storage
   * creates it. `false` when it was stored before: if it is gone now (removed by a concurrent
   * logout, or expired) the storage must **drop the write and resolve `false`**, never re-create
   * it. This is what keeps a logout a logout.
   */
  readonly create: boolean;
}

/** How {@link Storage.moveSession} moves a session to its new id. */
export interface MoveOptions {
  /**
   * Only these keys survive the move (after `changes` are applied); `undefined` keeps every key.
   * `regenerate({ keep: ['cart'] })` passes `new Set(['cart', '$sw:ttl', '$sw:created', '$sw:flash', '$sw:owner'])`: the
   * session's reserved keys (its own TTL and creation time, see `RESERVED_PREFIX`) always survive.
   */
  readonly keep: ReadonlySet<string> | undefined;
  /**
   * How long (ms) the old id forwards to the new one: see {@link Storage.moveSession}. Shorter than
   * `ttl`; the library passes 60 000 or the TTL, whichever is less.
   */
  readonly forwardTTL: number;
}

/**
 * The result of a {@link Storage.compareAndSet}: `'ok'` (written), `'conflict'` (the key no longer
 * holds the expected text: nothing written, the caller re-reads and retries), `'gone'` (the
 * session does not exist and `create` was `false`: nothing written, the logout wins).
 */
export type CompareAndSetResult = 'ok' | 'conflict' | 'gone';

/**
 * One entry of an owner index, as {@link Storage.ownerSessions} lists it: a session id that was
 * given to the owner, and when that session expires now (ms since the epoch, on the storage's own
 * clock where it has one).
 */
export interface OwnedSession {
  readonly id: string;
  readonly expiresAt: number;
}

/**
 * A session backend. Implement the required methods; the per-key methods (`get`, `getSize`,
 * `data`, `set`, `setMap`, `remove`) are optional capabilities. Where a storage lacks one, the
 * session works on its in-memory copy, marks itself dirty and hands the changes to `setSession`
 * when it closes (gsession's `ErrorDisabled` fallback, expressed as an optional method).
 *
 * Every method rejects with a `StorageError` (or a subclass) when the backend fails. Durations are
 * milliseconds. Ids reach a storage only after the library validated them: 8 to 128 characters
 * of `[A-Za-z0-9_-]`.
 *
 * @example A complete custom storage over a `Map` (one process): `examples/map-storage.ts` in the
 * repository, which passes the whole contract suite. Its logout follows a forward, as every storage must:
 * ```ts
 * async removeAll(id: string): Promise<boolean> {
 *   const target = this.#follow(id);                // the session id leads to, through forwards
 *   if (this.#entries.get(id)?.movedTo !== undefined) this.#entries.delete(id);
 *   return target !== undefined && this.#entries.delete(target[0]);
 * }
 * ```
 */
export interface Storage {
  /**
   * Optional: creates a new session id. Called when a session needs an id and neither
   * `setIdFunc()` nor the `idFunc` option supplied one. Without it the library generates 192 random
   * bits, base64url-encoded. The result must match `[A-Za-z0-9_-]{8,128}` and be unguessable.
   */
  new?(ttl: number): string | Promise<string>;

  /**
   * Optional: vets a session key before anything is written with it. Synchronous, no I/O: returns
   * a short reason when this storage cannot hold `key` verbatim (PostgreSQL: `'it contains U+0000
   * (NUL), which PostgreSQL text and jsonb cannot hold'`), else `undefined`. Called by the session
   * for each key given to `set()`, `setMap()`, `update()`, `increment()` and `remove()`, so those
   * calls reject at once with a `SessionValueError` naming the key (escaped) and nothing is
   * written; without it, such a key fails only when the storage receives it (at the latest when
   * the session closes). Keys with a lone surrogate or the reserved `$sw:` prefix never get here:
   * the session refuses them itself. A storage should still refuse such keys in its own writes.
   * @example
   * ```ts
   * vetKey(key: string): string | undefined {
   *   return key.includes('\u0000') ? 'it contains U+0000 (NUL), which this database cannot hold' : undefined;
   * }
   * ```
   */
  vetKey?(key: string): string | undefined;

  /**
   * Optional: reads one key. Called by `session.get()`/`contains()` once the session is known to
   * exist. Resolves the stored JSON text, or `undefined` when the key is absent.
   */
  get?(id: string, key: string): Promise<string | undefined>;

  /** Optional: counts the keys of a session. Called by `session.size()`. */
  getSize?(id: string): Promise<number>;

  /** Optional: reads every key of a session. Called by `session.data()`. */
  data?(id: string): Promise<SessionRecord>;

  /**
   * Optional: writes one key straight through, refreshing the session's TTL in the same atomic
   * step. Called by `session.set()`. See {@link WriteOptions} for `create`; resolves `false` when
   * the write was dropped because the session no longer exists.
   */
  set?(id: string, key: string, value: string, ttl: number, options: WriteOptions): Promise<boolean>;

  /** Optional: like {@link Storage.set} for several keys at once, atomically. Called by `session.setMap()`. */
  setMap?(id: string, values: SessionRecord, ttl: number, options: WriteOptions): Promise<boolean>;

  /** Optional: removes keys straight through. Called by `session.remove()`. Never creates a session. */
  remove?(id: string, keys: readonly string[]): Promise<void>;

  /**
   * Required: deletes the whole session **now**. Called by `session.removeAll()` (logout). After it resolves, no write of any overlapping request
   * may bring the session back. Removing a missing session is not an error: resolve `false`
   * ("nothing was there"), `true` when a session was deleted.
   */
  removeAll(id: string): Promise<boolean>;

  /**
   * Required: loads a session. Called once per request, on the first session operation that needs
   * data, when the request carried an id. Resolves `undefined` when the session does not exist or
   * its TTL has passed (the client then gets a fresh id: an unknown id is never adopted). Storages
   * that implement `get` may resolve only some keys (or an empty map that only means "it exists"):
   * the session reads keys from this record first and asks `get` for the others.
   * `ttl` is the manager's TTL, for storages that check expiry on read.
   */
  getSession(id: string, ttl: number): Promise<SessionRecord | undefined>;

  /**
   * Required: applies a dirty session's changes atomically and resets its TTL. Called when a session
   * that has local changes closes. Apply
   * `changes` onto what is stored **now** (keys written by overlapping requests must survive);
   * honour `options.create` (never re-create a removed session). Resolves `false` when the write
   * was dropped for that reason. It completes before the client receives the end of the response.
   */
  setSession(id: string, changes: SessionChanges, ttl: number, options: WriteOptions): Promise<boolean>;

  /**
   * Required: moves a session to a new id, atomically (called by `session.regenerate()` on login,
   * against session fixation). When `oldId` holds a live session: the record, with `changes`
   * applied and filtered by `options.keep`, is stored under `newId` (a fresh id: create it) with
   * `ttl`, and `oldId` is replaced by a **forward** to `newId` that lives `options.forwardTTL`.
   * Resolves the record now stored under `newId`, or part of it: a storage whose one statement
   * cannot read the row back (MySQL has no `RETURNING`) may resolve only the keys it wrote
   * (`changes.set` filtered by `keep`, possibly none: an empty map then means "moved"). The session
   * takes every key the record lacks from its own view (what it loaded, with its changes, filtered
   * by `keep`), so its reserved keys and data stay known without another read; a full record
   * refreshes that view. When `oldId` holds no live session (a concurrent
   * logout removed it, it expired, or it is already a forward), nothing is written and it resolves
   * `undefined`: the logout wins.
   *
   * While the forward lives, requests that loaded the session before the move still reach it:
   * writes to `oldId` with `create: false` (`setSession`, `set`, `setMap`, `remove`,
   * `compareAndSet`) land in `newId` (following forwards up to 4 hops), and `removeAll(oldId)`
   * deletes `newId` too (and resolves whether it existed). Reads never follow it: `getSession(oldId)`,
   * `get`, `data`, `getSize` see no session, so an old id is never adopted again; `updateTTL(oldId)`
   * does nothing.
   */
  moveSession(oldId: string, newId: string, changes: SessionChanges, ttl: number, options: MoveOptions): Promise<SessionRecord | undefined>;

  /**
   * Optional: writes one key only if it still holds `expected` (its JSON text, or `undefined` for
   * "absent"), atomically, and resets the session's TTL in the same step. `next` is the new JSON
   * text, or `undefined` to remove the key. Called by `session.update()` / `increment()`, at once
   * (not at close), and again after each `'conflict'` once the key was read again (`get` where the
   * storage has it, else `getSession`), at most `maxConflicts` times. Honours `options.create` like {@link Storage.setSession} and follows forwards
   * like it (see {@link Storage.moveSession}). Without this method `update()` rejects.
   */
  compareAndSet?(id: string, key: string, expected: string | undefined, next: string | undefined, ttl: number, options: WriteOptions): Promise<CompareAndSetResult>;

  /**
   * Optional: the number of live (unexpired) sessions, forwards not included (beego's
   * `GetActiveSession`). Called only by `manager.count()`; may cost a scan on some backends (each
   * storage documents its cost).
   */
  count?(): Promise<number>;

  /**
   * Optional, with {@link Storage.ownerSessions} and {@link Storage.forgetOwner} (all three or
   * none): the owner index behind "log out everywhere". Called by `session.setOwner(owner)` and by
   * `regenerate()` of an owned session, **before** the write that stores the session's reserved
   * `$sw:owner` key (so the index always holds at least every owned session; the manager re-checks
   * `$sw:owner` when it lists). `$sw:owner` holds the JSON text of the owner (`JSON.stringify(owner)`).
   * Records that `id` belongs to `owner` for at least `ttl` ms, **even while no session is stored
   * under `id` yet** (the write that creates it may come at the end of the request): a listing in
   * between must not forget it. A storage that maintains its index inside the session write itself
   * (an indexed SQL column filled from `$sw:owner`, a Redis set updated by the same script) may do
   * nothing more here. `owner` is any non-empty string of at most 256 UTF-16 code units, well-formed
   * Unicode without control characters: storages hash or escape it as they need, and keep apart
   * owners that differ only by case, trailing spaces or Unicode normalisation (`ADA`, `ada `, `é`
   * composed or not: compare bytes, e.g. a binary collation). Without these methods `setOwner()`,
   * `sessionsOf()` and `revoke()` reject with a `StorageError`. The contract suite checks all of
   * this (`lib/testing/contract-owner.ts`).
   */
  addOwner?(owner: string, id: string, ttl: number): Promise<void>;

  /**
   * Optional (see {@link Storage.addOwner}): the sessions of `owner` that are live now: each id
   * added for it whose session still exists (not removed, not expired, not a forward), with its
   * current expiry. Called by `manager.sessionsOf()` and `manager.revoke()`. It may list an id whose
   * session since got another owner (the manager drops those); it must drop ids whose session is
   * gone, and may clean them from the index while doing so (expired entries must not pile up).
   */
  ownerSessions?(owner: string): Promise<readonly OwnedSession[]>;

  /**
   * Optional (see {@link Storage.addOwner}): removes `ids` from `owner`'s index. Called by the manager
   * only for listed ids whose session belongs to someone else now (`$sw:owner` names another owner),
   * and after `revoke()` removed sessions: an index that follows `$sw:owner` (a column) may treat it
   * as a no-op. Never touches the sessions themselves. Forgetting an id that is not indexed is not
   * an error.
   */
  forgetOwner?(owner: string, ids: readonly string[]): Promise<void>;

  /**
   * Required: extends the TTL of a session that closed clean (read, not changed). May be batched
   * or done after the response; must never create a session that does not exist.
   */
  updateTTL(id: string, ttl: number): Promise<void>;

  /**
   * Required: stops timers, flushes pending TTL updates and closes connections the storage opened
   * itself. Called by the application on shutdown (never by the middleware).
   */
  close(): Promise<void>;
}

