/**
 * `CookieManager`: the `Manager` of a `CookieStorage`. It opens a session from a sealed value
 * (outside HTTP too: a WebSocket handshake, a test) and says, after the session closed, what the
 * client's cookie must become.
 * @module
 */
import { serialize } from 'cookie';
import { SessionOptionsError, SessionStateError } from '../../errors';
import { Manager } from '../../manager';
import { resolveOptions, type ResolvedOptions, type SessionOptions } from '../../options';
import { Session, type SessionContext } from '../../session';
import type { Storage } from '../storage';
import type { CookieStorage } from './cookie-storage';
import { CookieView } from './cookie-view';

/** The most a whole `Set-Cookie` value (name, seal and attributes) may take, as browsers allow. */
export const MAX_COOKIE_BYTES = 4096;

/** A far expiry: the longest `Expires` attribute there is (four-digit years). */
const FAR = new Date(Date.UTC(9999, 11, 31, 23, 59, 59));

/** Stands in for the server-side storage a `CookieManager` does not have. */
const NO_STORAGE: Storage = {
  getSession: refuse,
  setSession: refuse,
  updateTTL: refuse,
  removeAll: refuse,
  moveSession: refuse,
  close: async () => {},
};

function refuse(): Promise<never> {
  return Promise.reject(new SessionStateError('a CookieManager has no server-side storage: open sessions with manager.new(sealedValue).'));
}

/**
 * Opens `CookieStorage` sessions. `session(new CookieStorage(...))` makes one for you; make your
 * own to use a sealed session outside HTTP. A plain `Manager` cannot: its `new(id)` takes ids,
 * and a seal is not one.
 *
 * @example
 * ```ts
 * import { CookieManager, CookieStorage } from 'sessionware';
 *
 * const manager = new CookieManager(new CookieStorage({ secrets: [process.env.COOKIE_SECRET!] }), { ttl: 60 * 60 * 1000 });
 * const s = manager.new(sealedValueFromTheCookie); // not a seal of ours, expired, revoked: an empty session
 * await s.set('seen', Date.now());
 * await s.close();
 * const next = manager.sealOf(s); // string: the new cookie value; null: clear the cookie; undefined: keep it
 * ```
 */
export class CookieManager extends Manager {
  /** The storage that seals and opens. */
  readonly cookieStorage: CookieStorage;
  /** The cookie name the seals are bound to. */
  readonly name: string;
  /** The longest seal that fits a 4096-byte `Set-Cookie` with this manager's name and attributes. */
  readonly maxSealLength: number;
  readonly #views = new WeakMap<Session, CookieView>();

  /**
   * @param storage the `CookieStorage`.
   * @param options the `session()` options that matter here: `ttl`, `name` (the seals are bound to
   *   it), `cookie` (its attributes count towards the 4096 bytes), `maxSessionBytes`, `idFunc`.
   * @throws {SessionOptionsError} on a bad option, and on `secret`/`signer` (a seal needs no signature).
   */
  constructor(storage: CookieStorage, options: SessionOptions = {}) {
    const resolved = resolveOptions(options);
    if (resolved.signer !== undefined) {
      throw new SessionOptionsError('options.secret and options.signer do not apply to CookieStorage: its cookie is sealed (encrypted and authenticated) with CookieStorage secrets. Remove them.');
    }
    super({ storage: NO_STORAGE, ...(resolved.ttl !== undefined && { ttl: resolved.ttl }), ...(resolved.idFunc && { idFunc: resolved.idFunc }), maxSessionBytes: resolved.maxSessionBytes });
    this.cookieStorage = storage;
    this.name = resolved.name;
    this.maxSealLength = MAX_COOKIE_BYTES - attributesLength(resolved);
  }

  /**
   * Opens the session sealed in `value` (the cookie's or header's value). Nothing is read from a
   * server yet (the revocation check, if any, runs at the first awaited call). A value that is not
   * an intact, unexpired seal for this cookie name gives an empty session.
   */
  override new(value?: string): Session {
    return this.open(value === undefined ? [] : [value]);
  }

  /** Opens the first of `values` that unseals (the client may send several). @internal */
  open(values: readonly string[]): Session {
    let opened;
    let index = 0;
    for (; index < values.length; index++) {
      const value = values[index] as string;
      opened = value.length > MAX_COOKIE_BYTES ? undefined : this.cookieStorage.unseal(value, this.name);
      if (opened) break;
    }
    const view = new CookieView(this.cookieStorage, opened, values.length > 0, this.maxSealLength, opened ? index : -1);
    const context: SessionContext = {
      getStorage: () => view,
      getTTL: () => this.getTTL(),
      idFunc: this.idFunc,
      maxSessionBytes: this.maxSessionBytes,
    };
    const session = new Session(context, view.openedId, 'client');
    this.#views.set(session, view);
    return session;
  }

  /** The view under a session opened here. @internal */
  viewOf(session: Session): CookieView | undefined {
    return this.#views.get(session);
  }

  /**
   * What the client must hold after `session` (from {@link CookieManager.new}) was used: the new
   * sealed value (after a change, or when a re-seal is due), `null` when its value is no session
   * (logged out, expired, forged: clear the cookie), or `undefined` when nothing changes.
   */
  sealOf(session: Session): string | null | undefined {
    const view = this.#views.get(session);
    if (view === undefined) throw new SessionStateError('sealOf(): this session was not opened by this CookieManager.');
    const outcome = view.outcome(this.cookieStorage.now(), this.getTTL());
    if (outcome.kind === 'seal') return this.cookieStorage.seal(outcome.session, this.name);
    return outcome.kind === 'clear' ? null : undefined;
  }

  /** A `CookieManager` has no server-side storage. @throws {SessionStateError} always. */
  override setStorage(): void {
    throw new SessionStateError('a CookieManager keeps sessions in the cookie; it has no storage to replace.');
  }
}

/** The characters of a `Set-Cookie` other than the seal, at their longest (Secure, a far Expires). */
function attributesLength(options: ResolvedOptions): number {
  const c = options.cookie;
  if (c === undefined) return options.name.length + 1;
  return serialize(options.name, '', {
    path: c.path,
    httpOnly: c.httpOnly,
    secure: true,
    sameSite: c.sameSite,
    partitioned: c.partitioned,
    ...(c.domain !== undefined && { domain: c.domain }),
    ...(c.priority !== undefined && { priority: c.priority }),
    ...(c.maxAge !== undefined && { maxAge: Math.floor(c.maxAge / 1000), expires: FAR }),
  }).length;
}
