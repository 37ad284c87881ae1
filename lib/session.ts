/**
 * `Session`: one client's session during one request (or one job). Lazy: the storage is first
 * read by the first awaited call. Every operation of one session runs in call order.
 * @module
 */
import { SessionOptionsError, SessionStateError, toStorageError } from './errors';
import { generateId, isValidId } from './id';
import type { Manager } from './manager';
import type { SessionRecord, Storage } from './storage/storage';
import type { SessionData, SessionKey } from './types';
import { parseValue, serializeValue } from './value';

/** Creates a session id; receives the TTL in milliseconds. */
export type IdFunc = (ttl: number) => string;

/** Where the id a session was opened with came from. @internal */
export type IdOrigin = 'client' | 'app';

/**
 * The request a session belongs to, as the middleware presents it to the session. @internal
 */
export interface SessionHost {
  /** The response has ended: new work would be lost, so it is refused. */
  readonly ended: boolean;
  /**
   * An operation is about to start; `change` when it changes the session (the end of the response
   * must then wait for the session to be stored).
   */
  willRun(change: boolean): void;
  /** An operation settled: what the client must be told about its id may have changed. */
  settled(): void;
}

/** What an operation does, for {@link Session} bookkeeping. */
const enum Op {
  Read,
  Change,
  Close,
}

const EMPTY: SessionRecord = new Map();

/** `unknown` for keys not declared in `SessionData`, `never` for declared ones (they take their declared type). */
type UndeclaredKey<K extends string> = K extends SessionKey ? never : unknown;

/**
 * A session, as `req.session` or from `manager.new()`. All data methods are async and run in the
 * order they were called. Values are stored as JSON: `set` rejects what JSON would lose, and every
 * read returns a fresh copy, so mutating a returned object changes nothing until you `set` it.
 *
 * @example
 * ```ts
 * app.post('/login', async (req, res) => {
 *   await req.session.regenerate();              // new id against fixation, data kept
 *   await req.session.set('user', { id: 7 });
 *   res.redirect('/');
 * });
 * app.post('/logout', async (req, res) => {
 *   await req.session.removeAll();               // deleted now; the cookie is cleared
 *   res.redirect('/');
 * });
 * ```
 */
export class Session {
  readonly #manager: Manager;
  readonly #storage: Storage;
  #id: string | undefined;
  #origin: IdOrigin | undefined;
  #idFunc: IdFunc | undefined;
  #used = false;
  #started = false;
  #exists = false;
  #gone = false;
  #dirty = false;
  #closed = false;
  #closing: Promise<boolean> | undefined;
  #refreshed = false;
  /** A write-through write already reset the TTL in this request. */
  #ttlFresh = false;
  #base: SessionRecord = EMPTY;
  /** This request's changes, visible to its own reads; `null` marks a removed key. */
  #overlay: Map<string, string | null> | undefined;
  /** Keys of `#overlay` the storage has not received yet. */
  #pending: Set<string> | undefined;
  /** Settles after the last queued operation; only meaningful while `#active > 0`. */
  #queue: Promise<unknown> | undefined;
  /** Operations queued and not yet settled. */
  #active = 0;
  readonly #settled = (): void => {
    this.#active--;
    this.host?.settled();
  };
  /**
   * The request this session belongs to (set by the middleware): it learns when a change is about
   * to be made and when an operation settled, and tells whether the response has ended.
   * @internal
   */
  host: SessionHost | undefined = undefined;

  /**
   * Sessions are made by `session()` and `Manager.new()`; you rarely construct one yourself.
   * @param manager supplies the storage and the TTL.
   * @param id an id already checked with `isValidId`, or `undefined` for a new session.
   * @param origin `'client'` ids are only used if the storage knows them (strict mode);
   *   `'app'` ids are adopted.
   */
  constructor(manager: Manager, id?: string, origin: IdOrigin = 'client') {
    this.#manager = manager;
    this.#storage = manager.getStorage();
    this.#id = id;
    this.#origin = id === undefined ? undefined : origin;
  }

  /** Reads a value; resolves `def` (or `undefined`) when the key is absent. */
  get<K extends SessionKey>(key: K): Promise<SessionData[K] | undefined>;
  get<K extends SessionKey>(key: K, def: SessionData[K]): Promise<SessionData[K]>;
  get<T = unknown>(key: string): Promise<T | undefined>;
  get<T>(key: string, def: T): Promise<T>;
  get(key: string, def?: unknown): Promise<unknown> {
    return this.#run(Op.Read, async () => {
      const text = await this.#read(key);
      return text === undefined ? def : parseValue(text);
    });
  }

  /**
   * Stores a value. Rejects with a `SessionValueError` when the value is not JSON-serialisable
   * (functions, BigInt, cycles, Map/Set, non-finite numbers, `undefined`).
   */
  set<K extends SessionKey>(key: K, value: SessionData[K]): Promise<void>;
  set<K extends string>(key: K & UndeclaredKey<K>, value: unknown): Promise<void>;
  set(key: string, value: unknown): Promise<void> {
    let text: string;
    try {
      text = serializeValue(key, value);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#write(new Map([[key, text]]));
  }

  /** Stores several values at once; rejects without storing any if one of them is not JSON-serialisable. */
  setMap(values: Partial<SessionData> & Record<string, unknown>): Promise<void> {
    let texts: Map<string, string>;
    try {
      texts = new Map(Object.entries(values).map(([k, v]) => [k, serializeValue(k, v)]));
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#write(texts);
  }

  /** Stores serialised values: straight through where the storage writes per key, else at close. */
  #write(texts: Map<string, string>): Promise<void> {
    return this.#run(Op.Change, async () => {
      if (texts.size > 0) {
        if (!this.#started) await this.#start();
        if (this.#gone) return;
        const id = this.#id ?? (await this.#ensureId());
        const through = this.#writeThrough(id, texts);
        if (through) await through;
        if (this.#gone) return;
        for (const [key, text] of texts) this.#change(key, text, !through);
      }
      this.#dirty = true;
    });
  }

  /** Removes keys. Without a stored session this does nothing. */
  remove(...keys: string[]): Promise<void> {
    return this.#run(Op.Change, async () => {
      await this.#start();
      if (this.#id === undefined || this.#gone) return;
      const id = this.#id;
      const storage = this.#storage;
      const through = storage.remove !== undefined && this.#exists;
      if (through) await this.#call('remove', () => (storage.remove as NonNullable<Storage['remove']>)(id, keys));
      for (const key of keys) this.#change(key, null, !through);
      this.#dirty = true;
    });
  }

  /**
   * Logout: deletes the session from the storage **now** and forgets its id, so the client's
   * cookie (or header id) is cleared. Later writes in the same request start a new session with
   * a new id; no overlapping request can bring the removed one back.
   */
  removeAll(): Promise<void> {
    return this.#run(Op.Change, async () => {
      const id = this.#id;
      if (id !== undefined) await this.#call('removeAll', () => this.#storage.removeAll(id));
      this.#reset();
      this.#started = true;
      this.#dirty = true;
    });
  }

  /** Tells whether `key` holds a value. */
  contains(key: string): Promise<boolean> {
    return this.#run(Op.Read, async () => (await this.#read(key)) !== undefined);
  }

  /** Resolves a copy of all values, as a plain object. */
  data(): Promise<Record<string, unknown>> {
    return this.#run(Op.Read, async () => {
      const record = await this.#record();
      return Object.fromEntries([...record].map(([k, text]) => [k, parseValue(text)]));
    });
  }

  /** Resolves the number of keys. */
  size(): Promise<number> {
    return this.#run(Op.Read, async () => {
      const storage = this.#storage;
      if (storage.getSize && this.#exists && !this.#overlay?.size && this.#id !== undefined) {
        const id = this.#id;
        return this.#call('getSize', () => (storage.getSize as NonNullable<Storage['getSize']>)(id));
      }
      return (await this.#record()).size;
    });
  }

  /**
   * Resolves the session id, creating one if the session is new. An id created only by this call
   * is not sent to the client: nothing was stored under it yet.
   */
  id(): Promise<string> {
    return this.#run(Op.Read, async () => {
      await this.#start();
      return this.#ensureId();
    });
  }

  /**
   * Gives the session a new id and keeps its data (call it on login, against session fixation).
   * The data is written under the new id and the old id is deleted before this resolves.
   */
  regenerate(): Promise<void> {
    return this.#run(Op.Change, async () => {
      await this.#start();
      const oldId = this.#id;
      const hadSession = this.#exists;
      const record = this.#exists || this.#overlay?.size ? await this.#record() : EMPTY;
      this.#reset();
      const newId = await this.#ensureId();
      this.#dirty = true;
      if (this.#gone || (!hadSession && record.size === 0)) return;
      const ttl = this.#manager.getTTL();
      const changes = { set: record, removed: new Set<string>() };
      await this.#call('setSession', () => this.#storage.setSession(newId, changes, ttl, { create: true }));
      this.#base = record;
      this.#exists = true;
      if (oldId === undefined || !hadSession) return;
      if (!(await this.#call('removeAll', () => this.#storage.removeAll(oldId)))) {
        // A concurrent logout removed the old session first: do not carry its data on.
        await this.#call('removeAll', () => this.#storage.removeAll(newId));
        this.#lose();
      }
    });
  }

  /**
   * Ends the session: writes its changes (`setSession`) if it has any, otherwise refreshes the
   * TTL of an existing session (`updateTTL`). The middleware calls it when the response ends;
   * call it yourself for sessions from `Manager.new()`. Further calls do nothing; other methods
   * reject afterwards.
   */
  async close(): Promise<void> {
    if (await this.commit()) await this.refreshTTL();
  }

  /**
   * Writes pending changes and closes the session. Resolves `true` when the session closed clean
   * and only wants its TTL refreshed (see {@link Session.refreshTTL}).
   * @internal
   */
  commit(): Promise<boolean> {
    const settled = this.closeIfClean();
    if (settled !== undefined) return Promise.resolve(settled);
    this.#closing ??= this.#run(Op.Close, async () => {
      this.#closed = true;
      if (!this.#started || this.#gone || this.#id === undefined) return false;
      const pending = this.#pending;
      if (!pending?.size) return this.#refreshDue();
      const id = this.#id;
      const set = new Map<string, string>();
      const removed = new Set<string>();
      for (const key of pending) {
        const text = this.#overlay?.get(key);
        if (text == null) removed.add(key);
        else set.set(key, text);
      }
      const options = { create: !this.#exists };
      const ok = await this.#call('setSession', () => this.#storage.setSession(id, { set, removed }, this.#manager.getTTL(), options));
      pending.clear();
      if (!ok) this.#lose();
      else this.#exists = true;
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
    if (this.#closing !== undefined || this.#active !== 0 || this.#pending?.size) return undefined;
    this.#closed = true;
    const refresh = this.#refreshDue();
    this.#closing = Promise.resolve(refresh);
    return refresh;
  }

  /** A clean close of a stored session whose TTL no write reset in this request wants `updateTTL`. */
  #refreshDue(): boolean {
    return this.#started && !this.#gone && this.#id !== undefined && this.#exists && !this.#ttlFresh;
  }

  /** Refreshes the TTL of the session after a clean close; once. @internal */
  refreshTTL(): Promise<void> {
    const id = this.#id;
    if (id === undefined || this.#refreshed) return Promise.resolve();
    this.#refreshed = true;
    return this.#call('updateTTL', () => this.#storage.updateTTL(id, this.#manager.getTTL()));
  }

  /** Tells whether this request changed the session (set, remove, removeAll, regenerate). */
  isDirty(): boolean {
    return this.#dirty;
  }

  /** Tells whether the session has no stored counterpart (yet): no id, an unknown id, or removed. */
  isNew(): boolean {
    return this.#started ? !this.#exists : this.#id === undefined;
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

  /**
   * Sets the function that creates this session's id when it needs one. Only before the session is
   * first used.
   * @throws {SessionStateError} after the session started.
   */
  setIdFunc(fn: IdFunc): void {
    this.#assertUnused('setIdFunc');
    this.#idFunc = fn;
  }

  /**
   * What the transport needs to know when the response goes out, without any I/O: whether the
   * session was used, its current id, whether that id is (or is about to be) stored, and whether the session's state
   * is known (it loaded, or was removed; `false` after a storage failure).
   * @internal
   */
  get transportState(): { used: boolean; id: string | undefined; stored: boolean; known: boolean } {
    const stored = (this.#exists || (this.#pending?.size ?? 0) > 0) && !this.#gone;
    return { used: this.#used, id: this.#id, stored, known: this.#started };
  }

  #run<T>(kind: Op, op: () => Promise<T>): Promise<T> {
    if (kind !== Op.Close && (this.#closed || this.#closing !== undefined || this.host?.ended === true)) {
      return Promise.reject(new SessionStateError('the session is closed: it closes when the response ends, so finish session work before responding (or use Manager.new() outside requests).'));
    }
    this.host?.willRun(kind === Op.Change);
    this.#used = true;
    // Idle: run now (no extra microtask); busy: run after the operations queued before.
    const result = this.#active === 0 ? op() : (this.#queue as Promise<unknown>).then(op);
    this.#active++;
    this.#queue = result.then(this.#settled, this.#settled);
    return result;
  }

  async #start(): Promise<void> {
    if (this.#started) return;
    const id = this.#id;
    if (id !== undefined) {
      const record = await this.#call('getSession', () => this.#storage.getSession(id, this.#manager.getTTL()));
      if (record) {
        this.#base = record;
        this.#exists = true;
      } else if (this.#origin === 'client') {
        this.#id = undefined; // strict mode: an unknown or expired id is never adopted
        this.#origin = undefined;
      }
    }
    this.#started = true;
  }

  async #ensureId(): Promise<string> {
    if (this.#id !== undefined) return this.#id;
    const ttl = this.#manager.getTTL();
    const idFunc = this.#idFunc ?? this.#manager.idFunc;
    const storage = this.#storage;
    const id = idFunc ? idFunc(ttl) : storage.new ? await this.#call('new', async () => (storage.new as NonNullable<Storage['new']>)(ttl)) : generateId();
    if (!isValidId(id)) throw new SessionOptionsError('the id function returned an invalid session id: it must be 8 to 128 characters of [A-Za-z0-9_-].');
    this.#id = id;
    this.#origin ??= 'app';
    return id;
  }

  /**
   * Writes `texts` straight to a storage with per-key writes (`setMap`, or `set` for one key).
   * Returns `undefined`, without waiting, when the storage has no such capability: the caller then
   * keeps the change for `setSession` at close.
   */
  #writeThrough(id: string, texts: Map<string, string>): Promise<void> | undefined {
    const storage = this.#storage;
    const { set, setMap } = storage;
    const single = texts.size === 1 ? [...texts][0] : undefined;
    if (!setMap && !(set && single)) return undefined;
    const ttl = this.#manager.getTTL();
    const options = { create: !this.#exists };
    return this.#call(setMap ? 'setMap' : 'set', () =>
      setMap ? setMap.call(storage, id, texts, ttl, options) : (set as NonNullable<Storage['set']>).call(storage, id, ...(single as [string, string]), ttl, options),
    ).then((ok) => {
      if (ok) this.#exists = this.#ttlFresh = true;
      else this.#lose();
    });
  }

  async #read(key: string): Promise<string | undefined> {
    if (!this.#started) await this.#start();
    const local = this.#overlay?.get(key);
    if (local !== undefined) return local ?? undefined;
    const loaded = this.#base.get(key);
    if (loaded !== undefined) return loaded; // getSession already brought it: no second round trip
    const { get } = this.#storage;
    const id = this.#id;
    if (get && this.#exists && id !== undefined && !this.#gone) return this.#call('get', () => get.call(this.#storage, id, key));
    return undefined;
  }

  /** The whole session as this request sees it: stored data with this request's changes on top. */
  async #record(): Promise<Map<string, string>> {
    await this.#start();
    const { data } = this.#storage;
    const id = this.#id;
    const base = data && this.#exists && id !== undefined && !this.#gone ? await this.#call('data', () => data.call(this.#storage, id)) : this.#base;
    const record = new Map(base);
    for (const [key, text] of this.#overlay ?? EMPTY) {
      if (text === null) record.delete(key);
      else record.set(key, text);
    }
    return record;
  }

  /** A concurrent request removed the session: this one's writes are dropped, the logout wins. */
  #lose(): void {
    this.#reset();
    this.#gone = true;
  }

  #reset(): void {
    this.#id = undefined;
    this.#origin = undefined;
    this.#base = EMPTY;
    this.#exists = false;
    this.#overlay = undefined;
    this.#pending = undefined;
  }

  /** Records a change made by this request; `pending` when the storage has not received it yet. */
  #change(key: string, text: string | null, pending: boolean): void {
    (this.#overlay ??= new Map()).set(key, text);
    if (pending) (this.#pending ??= new Set()).add(key);
  }

  #assertUnused(method: string): void {
    if (this.#used) throw new SessionStateError(`${method}() must be called before the session is first used (before any get/set/id call).`);
  }

  /** Calls the storage, turning any failure into a `StorageError` naming `operation`. */
  #call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    let result: Promise<T>;
    try {
      result = fn();
    } catch (err) {
      result = Promise.reject(err); // a storage that throws instead of rejecting
    }
    return result.catch((err: unknown) => {
      throw toStorageError(this.#storage.constructor.name, operation, err);
    });
  }
}
