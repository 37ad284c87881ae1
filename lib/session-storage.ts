/**
 * `SessionStorage`: how a session talks to its storage. It picks the optional capabilities a
 * storage has (per-key reads and writes), passes the current TTL, and turns every failure into a
 * `StorageError` naming the operation. No session state lives here.
 * @module
 */
import { SessionOptionsError, SessionValueError, StorageError, toStorageError } from './errors';
import { generateId, isValidId } from './id';
import type { IdFunc, SessionContext } from './session-context';
import type { CompareAndSetResult, SessionChanges, SessionRecord, Storage } from './storage/storage';

/** How long an old id forwards to the new one after `regenerate()`, at most. */
const MAX_FORWARD_TTL = 60_000;

/** @internal */
export class SessionStorage {
  readonly #storage: Storage;
  readonly #context: SessionContext;
  /** The TTL of this session's writes and refreshes: its own (`setTTL`, `absoluteTTL`) or the manager's. */
  readonly #ttl: () => number;

  constructor(context: SessionContext, ttl: () => number = () => context.getTTL()) {
    this.#context = context;
    this.#storage = context.getStorage();
    this.#ttl = ttl;
  }

  /** The storage itself (an identity for per-storage bookkeeping). */
  get storage(): Storage {
    return this.#storage;
  }

  /** Loads a session: its record, or `undefined` when the storage does not know `id`. */
  load(id: string): Promise<SessionRecord | undefined> {
    return this.#call('getSession', (s) => s.getSession(id, this.#context.getTTL()));
  }

  /** A new id from `idFunc`, the manager's `idFunc`, the storage's `new()`, or 192 random bits. */
  async newId(idFunc: IdFunc | undefined): Promise<string> {
    const ttl = this.#ttl();
    const fn = idFunc ?? this.#context.idFunc;
    const id = fn ? fn(ttl) : this.#storage.new ? await this.#call('new', async (s) => (s.new as NonNullable<Storage['new']>)(ttl)) : generateId();
    if (!isValidId(id)) throw new SessionOptionsError('the id function returned an invalid session id: it must be 8 to 128 characters of [A-Za-z0-9_-].');
    return id;
  }

  /**
   * Returns `key` when the storage can hold it (its optional `vetKey`).
   * @throws {SessionValueError} naming the key (escaped) when it cannot: nothing is written.
   */
  vet(key: string): string {
    const reason = this.#storage.vetKey?.(key);
    if (reason === undefined) return key;
    throw new SessionValueError(key, `the session key ${JSON.stringify(key)} cannot be stored by ${this.#storage.constructor.name}: ${reason}; nothing was written. Use another key name.`);
  }

  /** One key straight from a storage with per-key reads; `undefined` (not a promise) without them. */
  get(id: string, key: string): Promise<string | undefined> | undefined {
    const { get } = this.#storage;
    return get && this.#call('get', (s) => get.call(s, id, key));
  }

  /** Every key straight from a storage that reads them (`data`); `undefined` without it. */
  data(id: string): Promise<SessionRecord> | undefined {
    const { data } = this.#storage;
    return data && this.#call('data', (s) => data.call(s, id));
  }

  /** The number of keys from a storage that counts them (`getSize`); `undefined` without it. */
  size(id: string): Promise<number> | undefined {
    const { getSize } = this.#storage;
    return getSize && this.#call('getSize', (s) => getSize.call(s, id));
  }

  /**
   * Writes `texts` straight through when the storage writes per key (`setMap`, or `set` for one
   * key): resolves whether the write landed (`false`: dropped, the session is gone). `undefined`,
   * without waiting, when it cannot: the changes then wait for the commit.
   */
  writeThrough(id: string, texts: ReadonlyMap<string, string>, create: boolean): Promise<boolean> | undefined {
    const { set, setMap } = this.#storage;
    const ttl = this.#ttl();
    if (setMap) return this.#call('setMap', (s) => setMap.call(s, id, texts, ttl, { create }));
    const single = texts.size === 1 ? [...texts][0] : undefined;
    if (!set || !single) return undefined;
    return this.#call('set', (s) => set.call(s, id, single[0], single[1], ttl, { create }));
  }

  /** Removes keys straight through; resolves `false`, without I/O, when the storage cannot (the removal then waits for the commit). */
  async remove(id: string, keys: readonly string[]): Promise<boolean> {
    const { remove } = this.#storage;
    if (!remove) return false;
    await this.#call('remove', (s) => remove.call(s, id, keys));
    return true;
  }

  removeAll(id: string): Promise<boolean> {
    return this.#call('removeAll', (s) => s.removeAll(id));
  }

  /** Applies a session's changes at close; resolves `false` when the write was dropped (the session is gone). */
  commit(id: string, changes: SessionChanges, create: boolean): Promise<boolean> {
    return this.#call('setSession', (s) => s.setSession(id, changes, this.#ttl(), { create }));
  }

  /**
   * Moves a session to `newId` (`moveSession`, with a forward of at most a minute on the old id):
   * the record now under `newId`, or `undefined` when the old session was gone.
   */
  move(oldId: string, newId: string, changes: SessionChanges, keep: ReadonlySet<string> | undefined): Promise<SessionRecord | undefined> {
    const ttl = this.#ttl();
    const options = { keep, forwardTTL: Math.min(MAX_FORWARD_TTL, ttl) };
    return this.#call('moveSession', (s) => s.moveSession(oldId, newId, changes, ttl, options));
  }

  /** A `StorageError` when the storage cannot `move`, else `undefined`. */
  cannotMove(): StorageError | undefined {
    if (typeof (this.#storage as Partial<Storage>).moveSession === 'function') return undefined; // a storage written in JavaScript may lack it
    return new StorageError(this.#storage.constructor.name, 'moveSession', 'this storage does not implement moveSession(), which regenerate() needs to move a session atomically; implement it (see the Storage contract) or use a storage that has it.');
  }

  /** One key's compare-and-set (see `Storage.compareAndSet`); only after {@link SessionStorage.cannotCompareAndSet} said it can. */
  compareAndSet(id: string, key: string, expected: string | undefined, next: string | undefined, create: boolean): Promise<CompareAndSetResult> {
    const ttl = this.#context.getTTL();
    return this.#call('compareAndSet', (s) => (s.compareAndSet as NonNullable<Storage['compareAndSet']>).call(s, id, key, expected, next, ttl, { create }));
  }

  /** The stored text of one key, read again (after a lost compare-and-set): `get` where the storage has it, else the whole record. */
  async reread(id: string, key: string): Promise<string | undefined> {
    const one = this.get(id, key);
    if (one !== undefined) return one;
    return (await this.load(id))?.get(key);
  }

  /** A `StorageError` when the storage has no `compareAndSet` (which `update()` needs), else `undefined`. */
  cannotCompareAndSet(): StorageError | undefined {
    if (this.#storage.compareAndSet) return undefined;
    return new StorageError(this.#storage.constructor.name, 'compareAndSet', 'this storage does not implement compareAndSet(), which session.update() and increment() need to change a key atomically; implement it (see the Storage contract) or use a storage that has it.');
  }

  updateTTL(id: string): Promise<void> {
    return this.#call('updateTTL', (s) => s.updateTTL(id, this.#ttl()));
  }

  /** Calls the storage, turning any failure (a rejection, or a throw) into a `StorageError` naming `operation`. */
  #call<T>(operation: string, fn: (storage: Storage) => Promise<T>): Promise<T> {
    let result: Promise<T>;
    try {
      result = fn(this.#storage);
    } catch (err) {
      result = Promise.reject(err); // a storage that throws instead of rejecting
    }
    return result.catch((err: unknown) => {
      if (err instanceof SessionValueError) throw err; // a value this storage cannot hold (CookieStorage: the 4096-byte cookie)
      throw toStorageError(this.#storage.constructor.name, operation, err);
    });
  }
}
