/**
 * `Manager`: the storage and TTL shared by sessions, and the way to open a session outside an HTTP
 * request (jobs, WebSockets, tests). `session()` creates one for you.
 * @module
 */
import { SessionOptionsError, StorageError, toStorageError } from './errors';
import { isValidId } from './id';
import { digestOf, revoke, sessionsOf, type OwnerSession, type RevokeOptions, type SessionsOfOptions } from './manager-owners';
import { Session, type IdFunc, type SessionContext } from './session';
import { checkMaxConflicts, DEFAULT_MAX_CONFLICTS } from './session-update';
import { defaultStorage } from './storage/default-storage';
import type { Storage } from './storage/storage';

/** The default session TTL: 24 hours, as in gsession. */
export const DEFAULT_TTL = 24 * 60 * 60 * 1000;

/** The default session size limit: 1 MiB. */
export const DEFAULT_MAX_SESSION_BYTES = 1_048_576;

/** Options of {@link Manager}. */
export interface ManagerOptions {
  /**
   * Where sessions live.
   * @default a `FileStorage` in `<os temp dir>/sessionware`
   */
  readonly storage?: Storage;
  /**
   * How long a session lives after its last use, in milliseconds. Every request that uses a session
   * extends it by this much.
   * @default 86_400_000 (24 hours)
   */
  readonly ttl?: number;
  /**
   * Creates session ids. Must return 8 to 128 characters of `[A-Za-z0-9_-]` and be unguessable.
   * @default 24 random bytes from `crypto`, base64url-encoded (192 bits)
   */
  readonly idFunc?: IdFunc;
  /**
   * The most a session may hold, in bytes: the UTF-8 length of every key plus the JSON text of its
   * value, counted over the session as this request knows it (what it loaded, with its own changes
   * on top). A `set`/`setMap` that would go beyond it rejects with a `SessionValueError` before
   * anything is written. Overlapping requests that each stay under the limit can together go
   * slightly over it: the limit keeps sessions small, it is not a quota. `Infinity` disables it.
   * @default 1_048_576 (1 MiB)
   * @example `{ maxSessionBytes: 64 * 1024 }` for sessions that only hold ids and flags
   */
  readonly maxSessionBytes?: number;
  /**
   * The absolute lifetime of a session, in milliseconds (OWASP's absolute timeout): a session ends
   * this long after it was created, however active it is, and is then treated exactly like an
   * unknown id (deleted, the cookie cleared, a fresh session). The creation time is kept in the
   * session (under the reserved key `$sw:created`) and survives `regenerate()` unless it is called
   * with `{ renew: true }`. Sessions stored before the option was set count from their next write.
   * Each write and refresh is capped so the storage itself expires the session at that moment.
   * @default undefined (no absolute limit)
   * @example `{ absoluteTTL: 12 * 60 * 60 * 1000 }`: log in again every 12 hours
   */
  readonly absoluteTTL?: number;
  /**
   * How many times `session.update()` / `increment()` may lose its compare-and-set to another
   * request's write of the same key (it then re-reads the key and runs the function again) before
   * it rejects with a `SessionConflictError`. `0` rejects at the first conflict.
   * @default 10
   * @example `{ maxConflicts: 50 }` for a counter many requests of one session bump at once
   */
  readonly maxConflicts?: number;
}

/**
 * Holds the storage and the TTL, and opens sessions.
 *
 * @example
 * ```ts
 * const manager = new Manager({ storage: new MemoryStorage(), ttl: 60 * 60 * 1000 });
 * const s = manager.new(idFromWebSocketCookie); // unknown ids get a fresh session
 * await s.set('seen', Date.now());
 * await s.close();
 * ```
 */
export class Manager implements SessionContext {
  #storage: Storage;
  #ttl: number;
  /** The `idFunc` option, used by sessions that have no `setIdFunc()` of their own. @internal */
  readonly idFunc: IdFunc | undefined;
  /** The `maxSessionBytes` option. @internal */
  readonly maxSessionBytes: number;
  /** The `absoluteTTL` option, or `undefined`. @internal */
  readonly absoluteTTL: number | undefined;
  /** The `maxConflicts` option. @internal */
  readonly maxConflicts: number;

  /** @throws {SessionOptionsError} on a non-positive or non-finite `ttl`, or a `maxSessionBytes` that is not a positive integer (or `Infinity`), a `maxConflicts` that is not a whole number of 0 or more. */
  constructor(options: ManagerOptions = {}) {
    this.#ttl = checkTTL(options.ttl ?? DEFAULT_TTL);
    this.maxSessionBytes = checkMaxSessionBytes(options.maxSessionBytes ?? DEFAULT_MAX_SESSION_BYTES);
    this.maxConflicts = checkMaxConflicts(options.maxConflicts ?? DEFAULT_MAX_CONFLICTS);
    this.#storage = options.storage ?? defaultStorage();
    this.idFunc = options.idFunc;
    this.absoluteTTL = options.absoluteTTL === undefined ? undefined : checkAbsoluteTTL(options.absoluteTTL);
  }

  /**
   * The number of live sessions in the storage (beego's `GetActiveSession`), from the storage's
   * optional `count()`: `MemoryStorage` counts its map, `FileStorage` lists its directory,
   * `RedisStorage`/`RedisHashStorage` scan their prefix, `StoreAdapter` asks the store's `length`.
   * @throws {StorageError} (code `ERR_SESSION_STORAGE`) when the storage has no `count()` (e.g.
   *   `MemcacheStorage`: memcached cannot enumerate keys), or when it fails.
   * @example
   * ```ts
   * app.get('/admin/stats', async (_req, res) => res.json({ sessions: await sessions.manager.count() }));
   * ```
   */
  async count(): Promise<number> {
    const storage = this.#storage;
    if (typeof storage.count !== 'function') {
      throw new StorageError(storage.constructor.name, 'count', 'this storage cannot count its sessions (it has no count() method); use a storage that has it (memory, file, Redis, an express-session store with length()).');
    }
    try {
      return await storage.count();
    } catch (err) {
      throw toStorageError(storage.constructor.name, 'count', err);
    }
  }

  /**
   * The live sessions of `owner` (given by `session.setOwner(owner)`), most recently used first:
   * for a "your devices" page. Each has a `digest` of its id (never the id itself), `created`,
   * `lastUsed`, `expires`, and `current: true` for the id passed as `options.current`. Reads the
   * storage's owner index and each session once (to check it still belongs to `owner`).
   * @throws {SessionValueError} on a bad owner; {@link StorageError} when the storage keeps no
   *   owner index (MemcacheStorage, StoreAdapter, CookieStorage) or fails.
   * @example
   * ```ts
   * app.get('/devices', async (req, res) => {
   *   const user = await req.session.getOwner();
   *   res.json(user ? await sessions.manager.sessionsOf(user, { current: await req.session.id() }) : []);
   * });
   * ```
   */
  sessionsOf(owner: string, options?: SessionsOfOptions): Promise<OwnerSession[]> {
    return sessionsOf(this, owner, options);
  }

  /**
   * Ends sessions of `owner` at once, in every process sharing the storage ("log out everywhere",
   * after a password change): all of them, all but `options.except` (ids, typically
   * `await req.session.id()`), or only those whose digests are in `options.only`. A request in
   * flight on a revoked session cannot bring it back (its later writes are dropped, as after
   * `removeAll()`). Resolves how many sessions were ended.
   * @throws {SessionValueError} on a bad owner or options; {@link StorageError} when the storage
   *   keeps no owner index or fails.
   * @example
   * ```ts
   * app.post('/logout-others', async (req, res) => {
   *   const user = await req.session.getOwner();
   *   if (user) await sessions.manager.revoke(user, { except: await req.session.id() });
   *   res.redirect('/devices');
   * });
   * ```
   */
  revoke(owner: string, options?: RevokeOptions): Promise<number> {
    return revoke(this, owner, options);
  }

  /** The digest `sessionsOf()` shows for the session `id` (a SHA-256, base64url): to mark or pick a session without its id. */
  digestOf(id: string): string {
    return digestOf(id);
  }

  /**
   * Opens the session with `id` (from a cookie, a token, a WebSocket handshake...). Nothing is read
   * yet. An id that is malformed, unknown or expired is never adopted: the session then starts
   * empty and gets a fresh id when it first stores something. Without `id`, a new session.
   */
  new(id?: string): Session {
    return new Session(this, isValidId(id) ? id : undefined, 'client');
  }

  /** The storage sessions are kept in. */
  getStorage(): Storage {
    return this.#storage;
  }

  /** Replaces the storage; sessions opened afterwards use the new one. */
  setStorage(storage: Storage): void {
    this.#storage = storage;
  }

  /** The session TTL in milliseconds. */
  getTTL(): number {
    return this.#ttl;
  }

  /**
   * Changes the session TTL (milliseconds); applies to every later write and refresh.
   * @throws {SessionOptionsError} on a non-positive or non-finite value.
   */
  setTTL(ttl: number): void {
    this.#ttl = checkTTL(ttl);
  }
}

function checkTTL(ttl: number): number {
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 1) {
    throw new SessionOptionsError(`ttl must be a positive number of milliseconds (got ${String(ttl)}); e.g. 30 * 60 * 1000 for 30 minutes.`);
  }
  return Math.floor(ttl);
}

function checkAbsoluteTTL(ttl: number): number {
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 1) {
    throw new SessionOptionsError(`absoluteTTL must be a positive number of milliseconds, or left out for no absolute limit (got ${String(ttl)}); e.g. 12 * 60 * 60 * 1000 for 12 hours.`);
  }
  return Math.floor(ttl);
}

/** @internal */
export function checkMaxSessionBytes(max: number): number {
  if (typeof max !== 'number' || !(max === Infinity || (Number.isInteger(max) && max > 0))) {
    throw new SessionOptionsError(`maxSessionBytes must be a positive whole number of bytes, or Infinity to disable the limit (got ${String(max)}); e.g. 1_048_576 for 1 MiB.`);
  }
  return max;
}
