/**
 * `Session`: one client's session during one request (or one job). Lazy: the storage is first
 * read by the first awaited call. Every operation of one session runs in call order.
 * @module
 */
import { SessionOptionsError, SessionStateError, SessionValueError } from './errors';
import { isValidId } from './id';
import { SessionChangeSet } from './session-changes';
import { OperationQueue } from './session-queue';
import { keepOption, refuseCallback, refuseExpressSession, type IdFunc, type IdOrigin, type RegenerateOptions, type SessionContext, type SessionHost } from './session-context';
import { checkFlashMessage, checkFlashType, FLASH_KEY, queued, remaining, type Flashes } from './session-flash';
import { CREATED_KEY, checkUserKey, metaNumber, OWNER_KEY, RESERVED_KEYS, reservedCount, TTL_KEY, withoutReserved } from './session-meta';
import { indexNewId, ownerFrom, ownerText, ownerWrite } from './session-owner';
import { SessionStorage } from './session-storage';
import { applyUpdate, DEFAULT_MAX_CONFLICTS, incrementBy, type UpdateFunction, type UpdateTarget } from './session-update';
import type { SessionRecord } from './storage/storage';
import type { SessionData, SessionKey } from './types';
import { checkKey, parseValue, serializeEntries, serializeValue } from './value';

export type { IdFunc, IdOrigin, RegenerateOptions, SessionContext, SessionHost } from './session-context';
export type { UpdateFunction } from './session-update';

/**
 * Where a session is in its life. The only transitions:
 *
 * | from   | to     | by |
 * | ---    | ---    | --- |
 * | New    | Fresh  | the load: no id, or an id the storage does not know (a client's is dropped) |
 * | New    | Stored | the load found the session |
 * | Fresh  | Stored | a write created it (straight through, or the commit) |
 * | Fresh  | Fresh  | `regenerate()`: a new id; unsent changes outside `keep` dropped |
 * | Stored | Stored | `regenerate()`: `moveSession` moved it to a new id |
 * | Stored | Gone   | a write or the move found it removed: a concurrent logout won, this request's writes are dropped |
 * | any    | Fresh  | `removeAll()` (logout): deleted now, id forgotten; later writes start a new session |
 *
 * Closing is not a phase: once `#closing` is set only the commit runs, and the phase stays as it
 * was for the transport's last look at it.
 */
const enum Phase {
  New,
  Fresh,
  Stored,
  Gone,
}

/** What an operation does, for {@link Session} bookkeeping. */
const enum Op {
  Read,
  Change,
  Close,
}

/** `unknown` for keys not declared in `SessionData`, `never` for declared ones (they take their declared type). */
type UndeclaredKey<K extends string> = K extends SessionKey ? never : unknown;

/** `unknown` for keys `increment` may take (undeclared, or declared as a number), `never` for the others. */
type NumericKey<K extends string> = K extends SessionKey ? (SessionData[K] extends number ? unknown : never) : unknown;

/**
 * A session, as `req.session` or from `manager.new()`. All data methods are async and run in the
 * order they were called. Values are stored as JSON (see `serializeValue` for exactly what is
 * accepted): `set` rejects what JSON would change, and every read returns a fresh copy.
 * `JSON.stringify(session)` gives a placeholder string, never data.
 *
 * @example
 * ```ts
 * app.post('/login', async (req, res) => {
 *   await req.session.regenerate({ keep: ['cart'] }); // new id against fixation, only the cart kept
 *   await req.session.set('user', { id: 7 });
 *   res.redirect('/');
 * });
 * app.post('/logout', async (req, res) => {
 *   await req.session.removeAll();                    // deleted now; the cookie is cleared
 *   res.redirect('/');
 * });
 * ```
 */
export class Session {
  readonly #context: SessionContext;
  readonly #io: SessionStorage;
  #phase = Phase.New;
  #id: string | undefined;
  #origin: IdOrigin | undefined;
  #idFunc: IdFunc | undefined;
  /** Other well-formed ids the client sent under the same name (duplicate cookies), tried in order when `#id` is unknown. */
  readonly #fallbacks: readonly string[];
  readonly #data = new SessionChangeSet();
  /** Set once the session closes: the commit's outcome (whether a TTL refresh is due). */
  #closing: Promise<boolean> | undefined;
  #refreshing: Promise<void> | undefined;
  #host: SessionHost | undefined;
  readonly #queue = new OperationQueue(() => this.#host?.settled());
  /** The texts of the write being handed to the storage right now (their TTL applies to it). */
  #writing: ReadonlyMap<string, string> | undefined;

  /**
   * Sessions are made by `session()` and `Manager.new()`; you rarely construct one yourself.
   * @param context supplies the storage, the TTL and the limits (a `Manager`).
   * @param id an id already checked with `isValidId`, or `undefined` for a new session.
   * @param origin `'client'` ids are only used if the storage knows them (strict mode); `'app'` ids are adopted.
   * @param fallbacks `'client'` only: the other checked ids the client sent (duplicate cookies, at
   *   most 3), each loaded in turn when the one before is unknown; the first the storage knows is used.
   */
  constructor(context: SessionContext, id?: string, origin: IdOrigin = 'client', fallbacks: readonly string[] = []) {
    this.#context = context;
    this.#io = new SessionStorage(context, () => this.#effectiveTTL());
    this.#id = id;
    this.#origin = id === undefined ? undefined : origin;
    this.#fallbacks = id !== undefined && origin === 'client' ? fallbacks.filter((other, i) => other !== id && fallbacks.indexOf(other) === i).slice(0, 3) : [];
  }

  /** The request this session belongs to (set by the middleware). Not enumerable. @internal */
  get host(): SessionHost | undefined {
    return this.#host;
  }
  set host(host: SessionHost | undefined) {
    this.#host = host;
  }

  /** Reads a value; resolves `def` (or `undefined`) when the key is absent. */
  get<K extends SessionKey>(key: K): Promise<SessionData[K] | undefined>;
  get<K extends SessionKey>(key: K, def: SessionData[K]): Promise<SessionData[K]>;
  get<T = unknown>(key: string): Promise<T | undefined>;
  get<T>(key: string, def: T): Promise<T>;
  get(key: string, def?: unknown): Promise<unknown> {
    return this.#run(Op.Read, async () => {
      const text = await this.#read(checkUserKey(checkKey(key)));
      return text === undefined ? def : parseValue(text);
    });
  }

  /**
   * Stores a value. Rejects with a `SessionValueError`, storing nothing, when the value is not plain
   * JSON data (see `serializeValue`), the key is not well-formed Unicode, or the session would grow
   * beyond `maxSessionBytes`.
   */
  set<K extends SessionKey>(key: K, value: SessionData[K]): Promise<void>;
  set<K extends string>(key: K & UndeclaredKey<K>, value: unknown): Promise<void>;
  set(key: string, value: unknown): Promise<void> {
    return this.#write(() => new Map([[this.#io.vet(checkUserKey(checkKey(key))), serializeValue(key, value)]]));
  }

  /** Stores several values at once, atomically; rejects without storing any if one of them is refused (as `set` would). */
  setMap(values: Partial<SessionData> & Record<string, unknown>): Promise<void> {
    return this.#write(() => {
      const texts = serializeEntries(values);
      for (const key of texts.keys()) this.#io.vet(checkUserKey(key));
      return texts;
    });
  }

  /**
   * Changes one key atomically: `fn` gets the current value (`undefined` when absent) and returns
   * the new one (`undefined` removes the key). The result is written at once with the storage's
   * `compareAndSet`, only if the key still holds what `fn` saw; if another request changed it in
   * between, the key is read again and `fn` runs again (so `fn` must be pure), up to `maxConflicts`
   * times, then it rejects with a `SessionConflictError`. Resolves the value now stored. Later
   * reads in this request see it; the value rules and `maxSessionBytes` apply as for `set`. A
   * session that a concurrent logout removed is not re-created (nothing is written, as for `set`).
   * Rejects with a `StorageError` on a storage without `compareAndSet`.
   * @example
   * ```ts
   * const cart = await req.session.update('cart', (items = []) => [...items, sku]);
   * ```
   */
  update<K extends SessionKey>(key: K, fn: UpdateFunction<SessionData[K]>): Promise<SessionData[K] | undefined>;
  update<T = unknown, K extends string = string>(key: K & UndeclaredKey<K>, fn: UpdateFunction<T>): Promise<T | undefined>;
  update(key: string, fn: UpdateFunction<unknown>): Promise<unknown> {
    if (typeof fn !== 'function') return Promise.reject(new SessionValueError(typeof key === 'string' ? key : '', 'session.update(key, fn): fn must be a function (current) => next value.'));
    return this.#update(key, fn);
  }

  /**
   * Adds `by` (default 1) to a number, atomically (see {@link Session.update}); a missing key counts
   * as 0. Resolves the new value. Rejects with a `SessionValueError` naming the key when the stored
   * value is not a number, or `by` is not a finite number.
   * @example
   * ```ts
   * const views = await req.session.increment('views');
   * ```
   */
  increment<K extends string>(key: K & NumericKey<K>, by?: number): Promise<number>;
  increment(key: string, by: unknown = 1): Promise<number> {
    const refused = refuseCallback('increment', by);
    if (refused) return refused;
    let fn: UpdateFunction<number>;
    try {
      fn = incrementBy(checkKey(key), by);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#update(key, fn) as Promise<number>;
  }

  /**
   * Queues a flash message of `type` (e.g. `'info'`, `'error'`) for a later request, typically the
   * one after a redirect. `message` is JSON data (a string, or an object), checked as `set` checks
   * values. Atomic (one `update()`): flashes queued by overlapping requests are all kept. At most
   * 100 messages per type are kept (the oldest are dropped). Stored under the reserved key
   * `$sw:flash`, hidden from `data()`; survives `regenerate()`.
   * Rejects with a `StorageError` on a storage without `compareAndSet`.
   * @example
   * ```ts
   * app.post('/profile', async (req, res) => {
   *   await req.session.flash('info', 'Profile saved');
   *   res.redirect('/');
   * });
   * app.get('/', async (req, res) => {
   *   const info = await req.session.flashes('info'); // ['Profile saved'], then [] on reload
   *   res.send(info.join('<br>'));
   * });
   * ```
   */
  flash<T = string>(type: string, message: T): Promise<void> {
    try {
      checkFlashMessage(checkFlashType(type), message);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#update<Flashes>(FLASH_KEY, (current) => queued(current, type, message), true).then(() => undefined);
  }

  /**
   * Returns the queued flash messages of `type` (oldest first; `[]` when none), or without `type`
   * every queue by type, and removes them, atomically: two overlapping requests (two tabs) never
   * both get the same message. Each message comes back once.
   */
  flashes<T = string>(type: string): Promise<T[]>;
  flashes(): Promise<Flashes>;
  flashes(type?: string): Promise<unknown[] | Flashes> {
    try {
      if (type !== undefined) checkFlashType(type);
    } catch (err) {
      return Promise.reject(err);
    }
    const pick = (all: Flashes | undefined): unknown[] | Flashes => (type === undefined ? (all ?? {}) : (all?.[type] ?? []));
    // A read first: a page that shows flashes costs no write (and creates no session) when there are none.
    const peek = this.#run(Op.Read, async () => {
      const text = await this.#read(FLASH_KEY);
      return text === undefined ? undefined : (parseValue(text) as Flashes);
    });
    return peek.then((seen) => {
      if (seen === undefined || (type !== undefined && (seen[type]?.length ?? 0) === 0)) return pick(undefined);
      let taken: Flashes | undefined;
      const take = (current: Flashes | undefined): Flashes | undefined => {
        taken = current; // the last run is the one that was written
        return remaining(current, type);
      };
      return this.#update<Flashes>(FLASH_KEY, take, true).then(() => pick(taken));
    });
  }

  /** Removes keys. Without a stored session this does nothing. */
  remove(...keys: string[]): Promise<void> {
    const refused = refuseCallback('remove', keys[keys.length - 1]);
    if (refused) return refused;
    return this.#run(Op.Change, async () => {
      for (const key of keys) this.#io.vet(checkUserKey(checkKey(key)));
      await this.#start();
      if (this.#phase === Phase.Stored) {
        const through = await this.#io.remove(this.#id as string, keys);
        for (const key of keys) this.#data.change(key, null, !through);
      } else if (this.#phase === Phase.Fresh) {
        this.#data.discard(keys);
      } else return;
      this.#data.dirty = true;
    });
  }

  /**
   * Logout: deletes the session from the storage **now** and forgets its id, so the client's
   * cookie (or header id) is cleared. Later writes in the same request start a new session with
   * a new id; no overlapping request can bring the removed one back.
   */
  removeAll(): Promise<void> {
    const refused = refuseCallback('removeAll', arguments[arguments.length - 1] as unknown);
    if (refused) return refused;
    return this.#run(Op.Change, async () => {
      if (this.#fallbacks.length > 0) await this.#start(); // which of the ids the client sent is its session
      const id = this.#id;
      if (id !== undefined) await this.#io.removeAll(id);
      this.#forget(Phase.Fresh);
      this.#data.dirty = true;
    });
  }

  /** Tells whether `key` holds a value. */
  contains(key: string): Promise<boolean> {
    const refused = refuseCallback('contains', arguments[arguments.length - 1] as unknown);
    if (refused) return refused;
    return this.#run(Op.Read, async () => (await this.#read(checkUserKey(checkKey(key)))) !== undefined);
  }

  /** Resolves a copy of all values, as a plain object. */
  data(): Promise<Record<string, unknown>> {
    const refused = refuseCallback('data', arguments[arguments.length - 1] as unknown);
    if (refused) return refused;
    return this.#run(Op.Read, async () => {
      const record = withoutReserved(await this.#record());
      return Object.fromEntries([...record].map(([k, text]) => [k, parseValue(text)]));
    });
  }

  /** Resolves the number of keys. */
  size(): Promise<number> {
    const refused = refuseCallback('size', arguments[arguments.length - 1] as unknown);
    if (refused) return refused;
    return this.#run(Op.Read, async () => {
      await this.#start();
      const counted = this.#phase === Phase.Stored && !this.#data.changed ? this.#io.size(this.#id as string) : undefined;
      if (counted !== undefined) return Math.max(0, (await counted) - reservedCount(this.#data.merged()));
      return withoutReserved(await this.#record()).size;
    });
  }

  /** Resolves the session id, creating one if the session is new. An id created only by this call is not sent to the client: nothing was stored under it yet. */
  id(): Promise<string> {
    const refused = refuseCallback('id', arguments[arguments.length - 1] as unknown);
    if (refused) return refused;
    return this.#run(Op.Read, async () => {
      await this.#start();
      return this.#ensureId();
    });
  }

  /**
   * Login: gives the session a new id (against session fixation), keeping its data, or only the
   * keys in `keep`. The storage moves the session atomically (`moveSession`) and leaves a short
   * forward on the old id, so a write of an overlapping request still lands in the new session and
   * a logout racing the login logs the new session out too. If the session was removed before the
   * move, the logout wins: nothing is moved and this request's later writes are dropped.
   * Called with a callback (express-session style, as Passport does), it hands the callback a
   * `SessionStateError` pointing to `sessionware/express-session` instead (and rejects with it).
   */
  regenerate(options?: RegenerateOptions): Promise<void> {
    const refused = refuseCallback('regenerate', arguments[arguments.length - 1] as unknown);
    if (refused) return refused;
    const unsupported = this.#io.cannotMove();
    if (unsupported) return Promise.reject(unsupported);
    return this.#run(Op.Change, async () => {
      const chosen = keepOption(options);
      const keep = chosen && new Set([...chosen, ...RESERVED_KEYS]); // the session's own TTL and creation time stay
      await this.#start();
      this.#data.dirty = true;
      if (this.#phase === Phase.Fresh) {
        if (keep) this.#data.keepOnly(keep);
        this.#id = undefined;
        await indexNewId(this.#io.storage, this.#data, await this.#ensureId(), this.#effectiveTTL());
      } else if (this.#phase === Phase.Stored) {
        const newId = await this.#io.newId(this.#idFunc);
        await indexNewId(this.#io.storage, this.#data, newId, this.#effectiveTTL()); // owned: index the new id before the move
        if (options?.renew === true && this.#context.absoluteTTL !== undefined) this.#data.change(CREATED_KEY, String(Date.now()), true);
        const record = await this.#io.move(this.#id as string, newId, this.#data.pendingChanges(), keep);
        if (record === undefined) return this.#forget(Phase.Gone);
        this.#id = newId;
        this.#data.loadMoved(record, keep);
        this.#data.written = true;
      }
    });
  }

  /**
   * Gives this session its own idle TTL ("remember me"), in milliseconds, instead of the manager's
   * `ttl`. It is kept with the session (under the reserved key `$sw:ttl`), so later requests,
   * batched TTL refreshes and other processes use it; it survives `regenerate()` and ends with
   * `removeAll()`. A cookie client gets a persistent cookie whose `Max-Age` follows it, re-sent on
   * every use, even when `cookie.maxAge` is not set. `absoluteTTL`, when set, still caps it.
   * @throws {SessionOptionsError} at once unless `ttl` is a positive finite number.
   * @example
   * ```ts
   * app.post('/login', async (req, res) => {
   *   await req.session.regenerate();
   *   await req.session.set('user', { id: 7 });
   *   if (req.body.remember) await req.session.setTTL(30 * 24 * 60 * 60 * 1000); // 30 days
   *   res.redirect('/');
   * });
   * ```
   */
  setTTL(ttl: number): Promise<void> {
    if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 1) {
      return Promise.reject(new SessionOptionsError(`setTTL(): the TTL must be a positive number of milliseconds (got ${String(ttl)}), e.g. 30 * 24 * 60 * 60 * 1000 for 30 days.`));
    }
    const text = String(Math.floor(ttl));
    return this.#write(() => new Map([[TTL_KEY, text]]));
  }

  /** Resolves this session's idle TTL in milliseconds: its own (`setTTL`), else the manager's `ttl`. */
  getTTL(): Promise<number> {
    const refused = refuseCallback('getTTL', arguments[0] as unknown);
    if (refused) return refused;
    return this.#run(Op.Read, async () => {
      await this.#start();
      return this.#meta(TTL_KEY) ?? this.#context.getTTL();
    });
  }

  /**
   * Ties this session to an owner (the user's id, at login) for "log out everywhere"
   * (`manager.sessionsOf(owner)`, `manager.revoke(owner)`); see `session-owner.ts`. Kept under the
   * reserved key `$sw:owner`; survives `regenerate()`. Call it after `regenerate()`.
   * @throws {SessionValueError} unless `owner` is a non-empty string of at most 256 characters
   *   without control characters; {@link StorageError} on a storage without an owner index.
   * @example `await req.session.setOwner(String(user.id))`
   */
  setOwner(owner: string): Promise<void> {
    let before: ReturnType<typeof ownerWrite>;
    try {
      before = ownerWrite(this.#io.storage, owner, () => this.#effectiveTTL(), () => this.#meta(CREATED_KEY) !== undefined);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#write(() => new Map([[OWNER_KEY, ownerText(owner)]]), before);
  }

  /** Resolves the owner given by `setOwner()`, or `undefined` when the session has none. */
  getOwner(): Promise<string | undefined> {
    return this.#run(Op.Read, async () => ownerFrom(await this.#read(OWNER_KEY)));
  }

  /**
   * Ends the session: writes its changes (`setSession`) if it has any, otherwise refreshes the
   * TTL of an existing session (`updateTTL`). The middleware calls it when the response ends;
   * call it yourself for sessions from `Manager.new()`. Further calls do nothing; other methods
   * reject afterwards.
   */
  close(): Promise<void> {
    const refused = refuseCallback('close', arguments[arguments.length - 1] as unknown);
    if (refused) return refused;
    return this.commit().then((refresh) => (refresh ? this.refreshTTL() : undefined));
  }

  /** Writes pending changes and closes the session. Resolves `true` when the session closed clean and only wants its TTL refreshed (see {@link Session.refreshTTL}). @internal */
  commit(): Promise<boolean> {
    const settled = this.closeIfClean();
    if (settled !== undefined) return Promise.resolve(settled);
    this.#closing ??= this.#run(Op.Close, async () => {
      const id = this.#id;
      if (id === undefined || (this.#phase !== Phase.Fresh && this.#phase !== Phase.Stored)) return false;
      if (!this.#data.pending) return this.#refreshDue();
      if (this.#stampDue()) this.#data.change(CREATED_KEY, String(Date.now()), true);
      const ok = await this.#io.commit(id, this.#data.pendingChanges(), this.#phase === Phase.Fresh);
      this.#data.sent();
      if (ok) this.#phase = Phase.Stored;
      else this.#forget(Phase.Gone);
      return false;
    });
    return this.#closing;
  }

  /**
   * Closes the session at once, without waiting, when nothing is queued and nothing is left to
   * write (the common read-only request). Returns whether a TTL refresh is due, or `undefined` when
   * the session needs the asynchronous {@link Session.commit}.
   * @internal
   */
  closeIfClean(): boolean | undefined {
    if (this.#closing !== undefined || !this.#queue.idle || this.#data.pending) return undefined;
    const refresh = this.#refreshDue();
    this.#closing = Promise.resolve(refresh);
    return refresh;
  }

  /** A clean close of a stored session whose TTL no write of this request reset wants `updateTTL`. */
  #refreshDue(): boolean {
    return this.#phase === Phase.Stored && !this.#data.written;
  }

  /** Refreshes the TTL of the session after a clean close; once. @internal */
  refreshTTL(): Promise<void> {
    const id = this.#id;
    if (id === undefined || this.#refreshing !== undefined) return Promise.resolve();
    return (this.#refreshing = this.#io.updateTTL(id));
  }

  /** Tells whether this request changed the session (set, remove, removeAll, regenerate). */
  isDirty(): boolean {
    return this.#data.dirty;
  }

  /** Tells whether the session has no stored counterpart (yet): no id, an unknown id, or removed. */
  isNew(): boolean {
    return this.#phase === Phase.New ? this.#id === undefined : this.#phase !== Phase.Stored;
  }

  /**
   * Uses `id` for this session instead of the client's or a generated one; the id is adopted even
   * if the storage does not know it yet. Only before the session is first used.
   * @throws {SessionStateError} after the session started. {@link SessionOptionsError} when `id`
   *   is not 8 to 128 characters of `[A-Za-z0-9_-]`.
   */
  setId(id: string): void {
    this.#assertUnused('setId');
    if (!isValidId(id)) throw new SessionOptionsError('setId(): a session id must be 8 to 128 characters of [A-Za-z0-9_-].');
    this.#id = id;
    this.#origin = 'app';
  }

  /** Sets the function that creates this session's id when it needs one. Only before the session is first used. @throws {SessionStateError} after the session started. */
  setIdFunc(fn: IdFunc): void {
    this.#assertUnused('setIdFunc');
    this.#idFunc = fn;
  }

  /**
   * What the transport needs to know when the response goes out, without any I/O: whether the
   * session was used, its current id, whether that id is (or is about to be) stored, and whether
   * the session's state is known (it loaded, or was removed; `false` after a storage failure).
   * @internal
   */
  get transportState(): { used: boolean; id: string | undefined; stored: boolean; known: boolean; maxAge: number | undefined } {
    const stored = this.#phase === Phase.Stored || (this.#phase === Phase.Fresh && this.#data.pending);
    return { used: this.#queue.used, id: this.#id, stored, known: this.#phase !== Phase.New, maxAge: this.#meta(TTL_KEY) };
  }

  /** `JSON.stringify(req.session)` gives this placeholder: a session's data is read with `await session.data()`. */
  toJSON(): string {
    return '[sessionware Session: read its data with await session.data()]';
  }

  /** @deprecated express-session's API: refused with a `SessionStateError` (handed to the callback when the last argument is one, else thrown at once). Changes are saved when the response ends (`close()` outside requests); for callback-style code use `sessionware/express-session`. */
  save(...args: unknown[]): Promise<never> {
    return refuseExpressSession('save', 'changes are stored when the response ends (call close() on sessions from Manager.new())', args);
  }

  /** @deprecated express-session's API: refused with a `SessionStateError` (handed to the callback when the last argument is one, else thrown at once). Use `await session.removeAll()` to log out; for callback-style code use `sessionware/express-session`. */
  destroy(...args: unknown[]): Promise<never> {
    return refuseExpressSession('destroy', 'log out with await req.session.removeAll()', args);
  }

  /** @deprecated express-session's API: refused with a `SessionStateError` (handed to the callback when the last argument is one, else thrown at once). Reads always see the stored session; for callback-style code use `sessionware/express-session`. */
  reload(...args: unknown[]): Promise<never> {
    return refuseExpressSession('reload', 'reads already see the stored session', args);
  }

  /** @deprecated express-session's API: refused with a `SessionStateError` (handed to the callback when the last argument is one, else thrown at once). The TTL is refreshed whenever the session is used; for callback-style code use `sessionware/express-session`. */
  touch(...args: unknown[]): Promise<never> {
    return refuseExpressSession('touch', 'the TTL is refreshed whenever the session is used', args);
  }

  /** Stores serialised values (from `serialize`, which may throw): straight through where the storage writes per key, else at close. */
  #write(serialize: () => Map<string, string>, before?: (id: string, texts: Map<string, string>) => Promise<void>): Promise<void> {
    let texts: Map<string, string>;
    try {
      texts = serialize();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#run(Op.Change, async () => {
      if (texts.size > 0) {
        await this.#start();
        if (this.#phase === Phase.Gone) return;
        if (this.#stampDue()) texts.set(CREATED_KEY, String(Date.now()));
        this.#data.checkSize(texts, this.#context.maxSessionBytes);
        const id = await this.#ensureId();
        await before?.(id, texts);
        this.#writing = texts;
        let through: Promise<boolean> | undefined;
        try {
          through = this.#io.writeThrough(id, texts, this.#phase === Phase.Fresh);
        } finally {
          this.#writing = undefined;
        }
        if (through) {
          if (!(await through)) return this.#forget(Phase.Gone); // dropped: a concurrent logout won
          this.#phase = Phase.Stored;
          this.#data.written = true;
        }
        for (const [key, text] of texts) this.#data.change(key, text, !through);
      }
      this.#data.dirty = true;
    });
  }

  /** `update()`/`increment()`: one compare-and-set loop, in call order (see `session-update.ts`). */
  #update<T>(key: string, fn: UpdateFunction<T>, internal = false): Promise<T | undefined> {
    const unsupported = this.#io.cannotCompareAndSet();
    if (unsupported) return Promise.reject(unsupported);
    return this.#run(Op.Change, async () => {
      this.#io.vet(checkKey(key));
      if (!internal) checkUserKey(key);
      await this.#start();
      // With absoluteTTL, a session an update creates records its creation time too (written at close).
      if (this.#phase !== Phase.Gone && this.#stampDue()) this.#data.change(CREATED_KEY, String(Date.now()), true);
      return applyUpdate(this.#updateTarget(), key, fn);
    });
  }

  /** This session's state, lent to one update. */
  #updateTarget(): UpdateTarget {
    return {
      io: this.#io,
      data: this.#data,
      maxConflicts: this.#context.maxConflicts ?? DEFAULT_MAX_CONFLICTS,
      maxSessionBytes: this.#context.maxSessionBytes,
      phase: () => (this.#phase === Phase.Stored ? 'stored' : this.#phase === Phase.Gone ? 'gone' : 'fresh'),
      ensureId: () => this.#ensureId(),
      landed: () => {
        this.#phase = Phase.Stored;
      },
      lost: () => this.#forget(Phase.Gone),
    };
  }

  #run<T>(kind: Op, op: () => Promise<T>): Promise<T> {
    if (kind !== Op.Close && (this.#closing !== undefined || this.#host?.ended === true)) {
      return Promise.reject(new SessionStateError('the session is closed: it closes when the response ends, so finish session work before responding (or use Manager.new() outside requests).'));
    }
    this.#host?.willRun(kind === Op.Change);
    return this.#queue.run(op);
  }

  /** New -> Fresh or Stored: loads the session (one `getSession`) if there is an id to load. */
  async #start(): Promise<void> {
    if (this.#phase !== Phase.New) return;
    const id = this.#id;
    let record = id === undefined ? undefined : await this.#io.load(id);
    for (let i = 0; record === undefined && i < this.#fallbacks.length; i++) {
      // A duplicate cookie (planted from a sibling subdomain or a longer path) came first and is
      // unknown: the next one the client sent may be its real session. Still strict: only an id
      // the storage knows is used.
      const other = this.#fallbacks[i] as string;
      record = await this.#io.load(other);
      if (record !== undefined) this.#id = other;
    }
    if (record && this.#expiredAt(record)) {
      await this.#io.removeAll(this.#id as string); // past absoluteTTL: gone, exactly like an unknown id
      record = undefined;
    }
    if (record) {
      this.#data.load(record);
      this.#phase = Phase.Stored;
      return;
    }
    if (this.#origin === 'client') this.#id = undefined; // strict mode: an unknown or expired id is never adopted
    this.#phase = Phase.Fresh;
  }

  /** The TTL this session's writes and refreshes use: its own (`setTTL`) or the manager's, capped by what is left of `absoluteTTL`. */
  #effectiveTTL(): number {
    const ttl = this.#meta(TTL_KEY) ?? this.#context.getTTL();
    const absolute = this.#context.absoluteTTL;
    const created = absolute === undefined ? undefined : this.#meta(CREATED_KEY);
    if (absolute === undefined || created === undefined) return ttl;
    return Math.max(1, Math.min(ttl, created + absolute - Date.now()));
  }

  /** A reserved number as this request knows it: the write in progress, its own changes, then the load. */
  #meta(key: string): number | undefined {
    const text = this.#writing?.get(key) ?? this.#data.local(key) ?? this.#data.loaded(key);
    return text === undefined || text === null ? undefined : metaNumber(new Map([[key, text]]), key);
  }

  /** With `absoluteTTL`, a write to a session whose creation time is not known yet records it. */
  #stampDue(): boolean {
    return this.#context.absoluteTTL !== undefined && this.#meta(CREATED_KEY) === undefined;
  }

  /** Whether a loaded record is past its absolute lifetime. */
  #expiredAt(record: SessionRecord): boolean {
    const absolute = this.#context.absoluteTTL;
    if (absolute === undefined) return false;
    const created = metaNumber(record, CREATED_KEY);
    return created !== undefined && created + absolute <= Date.now();
  }

  async #ensureId(): Promise<string> {
    return (this.#id ??= await this.#io.newId(this.#idFunc));
  }

  async #read(key: string): Promise<string | undefined> {
    await this.#start();
    const local = this.#data.local(key);
    if (local !== undefined) return local ?? undefined;
    const loaded = this.#data.loaded(key);
    if (loaded !== undefined) return loaded; // getSession already brought it: no second round trip
    return this.#phase === Phase.Stored ? this.#io.get(this.#id as string, key) : undefined;
  }

  /** The whole session as this request sees it: stored data with this request's changes on top. */
  async #record(): Promise<Map<string, string>> {
    await this.#start();
    const base = this.#phase === Phase.Stored ? this.#io.data(this.#id as string) : undefined;
    return this.#data.merged(base && (await base));
  }

  /** -> Fresh (a logout) or Gone (a concurrent logout won): the id and every change are forgotten. */
  #forget(phase: Phase.Fresh | Phase.Gone): void {
    this.#phase = phase;
    this.#id = undefined;
    this.#origin = undefined;
    this.#data.clear();
  }

  #assertUnused(method: string): void {
    if (this.#queue.used) throw new SessionStateError(`${method}() must be called before the session is first used (before any get/set/id call).`);
  }
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The request's session, attached by `session()`. Lazy: nothing is read from storage until a method is awaited. */
      session: Session;
    }
  }
}
