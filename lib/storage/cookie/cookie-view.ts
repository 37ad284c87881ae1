/**
 * `CookieView`: one session of a `CookieStorage` during one request, presented as a `Storage` over
 * an in-memory record, so that `Session` (change tracking, `regenerate({ keep })`, `update()`, the
 * size limits) works unchanged. Writes land in the record at once; what the response must carry
 * (a new seal, a cleared cookie, nothing) is read from it when the response goes out.
 * @module
 */
import { SessionValueError } from '../../errors';
import type { CompareAndSetResult, MoveOptions, SessionChanges, SessionRecord, Storage, WriteOptions } from '../storage';
import type { OpenedSeal, SealedSession } from './cookie-seal';
import type { CookieStorage } from './cookie-storage';

/**
 * Where the view's session is: `sealed` (a cookie opened, not yet checked for revocation), `live`
 * (a record this request can read and write), `none` (no session: nothing opened, or it was
 * revoked), `removed` (logged out in this request).
 */
type ViewState = 'sealed' | 'live' | 'none' | 'removed';

/** What the response must carry for the session: a seal of `session`, a cleared cookie, or nothing. */
export type CookieOutcome = { readonly kind: 'seal'; readonly session: SealedSession } | { readonly kind: 'clear' } | { readonly kind: 'none' };

/** @internal */
export class CookieView implements Storage {
  readonly #storage: CookieStorage;
  readonly #opened: OpenedSeal | undefined;
  /** Whether the client sent a session value at all (a bad one is cleared once the session is used). */
  readonly #sent: boolean;
  /** The largest seal that still fits the `Set-Cookie` (characters). */
  readonly #budget: number;
  #state: ViewState;
  #sid: string | undefined;
  #abs = 0;
  #data: Map<string, string> = new Map();
  /** A clean request re-seals anyway: the idle TTL is more than half used, or an older key sealed it. */
  #resealDue = false;
  /** Bumped by every change: a seal made at one version is valid until the next. */
  version = 0;

  /**
   * @param opened the client's session, unsealed (expiry checked, revocation not yet).
   * @param sent whether the client sent any value under the cookie name or header.
   * @param budget the longest seal the response may carry (see `CookieManager`).
   * @param openedIndex which of the client's values opened (`-1`: none).
   */
  constructor(storage: CookieStorage, opened: OpenedSeal | undefined, sent: boolean, budget: number, readonly openedIndex = -1) {
    this.#storage = storage;
    this.#opened = opened;
    this.#sent = sent;
    this.#budget = budget;
    this.#state = opened ? 'sealed' : 'none';
  }

  /** The id of the opened session (the session is created with it), if a cookie opened. */
  get openedId(): string | undefined {
    return this.#opened?.sid;
  }

  /** The session's record as sealed now, at time `now` with idle TTL `ttl`. */
  sealed(now: number, ttl: number): SealedSession {
    return { sid: this.#sid as string, iat: now, exp: now + ttl, abs: this.#abs, data: this.#data };
  }

  /**
   * What the response must carry: a seal after a change (or when one is due: see `#resealDue`), a
   * cleared cookie when the client's value is no session (bad, expired, revoked, logged out), else
   * nothing. Only meaningful once the session was used.
   */
  outcome(now: number, ttl: number): CookieOutcome {
    switch (this.#state) {
      case 'live':
        return this.version > 0 || this.#resealDue ? { kind: 'seal', session: this.sealed(now, ttl) } : { kind: 'none' };
      case 'sealed':
        return { kind: 'none' }; // not loaded (or the revocation check failed): state unknown
      default:
        return this.#sent ? { kind: 'clear' } : { kind: 'none' };
    }
  }

  async getSession(id: string, ttl: number): Promise<SessionRecord | undefined> {
    const opened = this.#opened;
    if (this.#state !== 'sealed' || opened === undefined || id !== opened.sid) return this.#live(id) ? new Map(this.#data) : undefined;
    if (await this.#storage.isRevoked(opened)) {
      this.#state = 'none';
      return undefined;
    }
    this.#state = 'live';
    this.#sid = opened.sid;
    this.#abs = opened.abs;
    this.#data = new Map(opened.data);
    this.#resealDue = opened.staleKey || this.#storage.now() - opened.iat > ttl / 2;
    return new Map(this.#data);
  }

  async setSession(id: string, changes: SessionChanges, ttl: number, options: WriteOptions): Promise<boolean> {
    if (!this.#writable(id, options.create)) return false;
    const next = new Map(this.#data);
    for (const key of changes.removed) next.delete(key);
    for (const [key, text] of changes.set) next.set(key, text);
    this.#commit(next, ttl, changes.set.keys().next().value);
    return true;
  }

  async set(id: string, key: string, value: string, ttl: number, options: WriteOptions): Promise<boolean> {
    return this.setMap(id, new Map([[key, value]]), ttl, options);
  }

  async setMap(id: string, values: SessionRecord, ttl: number, options: WriteOptions): Promise<boolean> {
    if (!this.#writable(id, options.create)) return false;
    const next = new Map(this.#data);
    for (const [key, text] of values) next.set(key, text);
    this.#commit(next, ttl, values.keys().next().value, values.size);
    return true;
  }

  async remove(id: string, keys: readonly string[]): Promise<void> {
    if (!this.#live(id) || !keys.some((key) => this.#data.has(key))) return;
    const next = new Map(this.#data);
    for (const key of keys) next.delete(key);
    this.#commit(next, 0, undefined);
  }

  async compareAndSet(id: string, key: string, expected: string | undefined, next: string | undefined, ttl: number, options: WriteOptions): Promise<CompareAndSetResult> {
    if (!this.#live(id) && !options.create) return 'gone';
    if (this.#live(id) && this.#data.get(key) !== expected) return 'conflict';
    if (!this.#live(id) && expected !== undefined) return 'conflict';
    this.#writable(id, true);
    const record = new Map(this.#data);
    if (next === undefined) record.delete(key);
    else record.set(key, next);
    this.#commit(record, ttl, key);
    return 'ok';
  }

  /**
   * `regenerate()`: the record moves to `newId`, a new session (a fresh absolute lifetime); the old
   * id is revoked when it came from the client and a revocation storage is set.
   */
  async moveSession(oldId: string, newId: string, changes: SessionChanges, ttl: number, options: MoveOptions): Promise<SessionRecord | undefined> {
    if (!this.#live(oldId)) return undefined;
    const next = new Map(this.#data);
    for (const key of changes.removed) next.delete(key);
    for (const [key, text] of changes.set) next.set(key, text);
    if (options.keep) for (const key of [...next.keys()]) if (!options.keep.has(key)) next.delete(key);
    await this.#revokeOpened(oldId);
    this.#sid = newId;
    this.#abs = this.#storage.now() + this.#storage.absoluteTTL;
    this.#commit(next, ttl, changes.set.keys().next().value);
    return new Map(next);
  }

  async removeAll(id: string): Promise<boolean> {
    // A logout need not load the session first: the opened cookie's session is removed unread.
    const unread = this.#state === 'sealed' && this.#opened?.sid === id;
    if (!unread && !this.#live(id)) return false;
    await this.#revokeOpened(id);
    this.#state = 'removed';
    this.#sid = undefined;
    this.#data = new Map();
    this.version++;
    return true;
  }

  /** Nothing to do: whether a clean session is re-sealed is decided when it loads (`outcome`). */
  async updateTTL(): Promise<void> {}

  async close(): Promise<void> {}

  #live(id: string): boolean {
    return this.#state === 'live' && this.#sid === id;
  }

  /** Whether a write to `id` may go ahead; starts a new session when `create` allows it. */
  #writable(id: string, create: boolean): boolean {
    if (this.#live(id)) return true;
    if (!create) return false;
    this.#state = 'live';
    this.#sid = id;
    this.#abs = this.#storage.now() + this.#storage.absoluteTTL;
    this.#data = new Map();
    return true;
  }

  /**
   * Takes `next` as the record (sealed later with idle TTL `ttl`), or throws a `SessionValueError` naming `key` (nothing changed) when
   * its seal would not fit the cookie.
   */
  #commit(next: Map<string, string>, ttl: number, key: string | undefined, count = 1): void {
    const now = this.#storage.now();
    const length = this.#storage.sealedLength({ sid: this.#sid as string, iat: now, exp: now + ttl, abs: this.#abs, data: next });
    if (length > this.#budget && key !== undefined) {
      const what = count > 1 ? `session.setMap() of ${count} keys` : `session.set("${key}")`;
      throw new SessionValueError(key, `${what} would make the sealed session cookie ${length} characters, more than the ${this.#budget} that fit a 4096-byte Set-Cookie; nothing was written. CookieStorage keeps the whole session in the cookie: store large data server-side and keep a reference here.`);
    }
    this.#data = next;
    this.version++;
  }

  async #revokeOpened(id: string): Promise<void> {
    const opened = this.#opened;
    if (opened !== undefined && opened.sid === id) await this.#storage.revoke(id, opened.abs);
  }
}
