/**
 * `req.session` as express-session presents it: a plain object whose enumerable properties are the
 * session data, with express-session's callback methods (non-enumerable, on the prototype). What
 * the application changed is found at the end by comparing each top-level property's JSON text
 * with what was loaded, and only those properties are handed to the native session.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import { SessionStateError } from '../errors';
import type { RequestState } from '../request-state';
import type { Session } from '../session';
import { parseValue, serializeValue } from '../value';
import { presentSessionId } from './session-id-property';

/** A callback as express-session's methods take it. */
export type SessionCallback = (err?: unknown) => void;

/** The controller behind one request's property bag. @internal */
export class BagControl {
  /** JSON text of each property as loaded (or as last handed to the native session). */
  loaded = new Map<string, string>();
  /** `null` after `destroy()`. */
  bag: CompatSession | null;
  /**
   * The cookie lifetime this request gave the session (`req.session.cookie.maxAge`; `null`: a
   * browser-session cookie), `undefined` when it set none. Handed to the native session's own
   * lifetime (`setCookieLifetime`, the mechanism behind `setTTL()`): the storage TTL and the
   * cookie's `Max-Age` then both follow it, on this request and every later one.
   */
  maxAge: number | null | undefined = undefined;
  /** The session's own lifetime as the native session has it (loaded, or last handed over). */
  #own: number | null | undefined = undefined;
  /** A property or the cookie's lifetime changed in this request (express-session's "modified"). */
  modified = false;
  /** This request handed a new cookie lifetime over. */
  #lifetimeHanded = false;
  id: string;

  constructor(
    readonly native: Session,
    readonly state: RequestState,
    readonly req: IncomingMessage,
    readonly configuredMaxAge: number | undefined,
    readonly saveUninitialized: boolean,
    id: string,
  ) {
    this.id = id;
    this.bag = new CompatSession(this);
  }

  /**
   * Fills the bag from the session's stored JSON texts (a fresh copy per property), skipping names
   * of methods. The texts are kept as loaded: every storage holds what `serializeValue` wrote, so
   * they are the texts an unchanged value serialises to again.
   */
  fill(texts: ReadonlyMap<string, string>): void {
    const bag = this.bag as CompatSession;
    for (const key of Object.keys(bag)) delete (bag as Record<string, unknown>)[key];
    this.loaded.clear();
    this.maxAge = undefined;
    this.#own = this.native.transportState.maxAge;
    for (const [key, text] of texts) {
      if (key in bag) continue; // a stored `save` or `id` must not shadow a method
      (bag as Record<string, unknown>)[key] = parseValue(text);
      this.loaded.set(key, text);
    }
  }

  /**
   * After `regenerate()`: as in express-session, the new session's cookie has the configured
   * lifetime again (the native session keeps its own lifetime across a login; it is set back).
   */
  resetLifetime(): void {
    this.#own = this.native.transportState.maxAge;
    this.maxAge = this.#own === undefined ? undefined : (this.configuredMaxAge ?? null);
  }

  /** The lifetime the cookie is sent with (ms), `undefined` for a browser-session cookie. */
  get effectiveMaxAge(): number | undefined {
    const own = this.maxAge !== undefined ? this.maxAge : this.#own;
    return own === undefined ? this.configuredMaxAge : (own ?? undefined);
  }

  /** Whether this request changed the cookie's lifetime: the cookie must then reach the client, persistent or not. */
  lifetimeChanged(): boolean {
    return this.#lifetimeHanded || (this.bag !== null && this.maxAge !== undefined && this.maxAge !== this.#own);
  }

  /**
   * express-session's "modified", for `rolling: false`: whether a property or the cookie's lifetime
   * changed in this request. Before the end of the response it compares the bag with what was
   * loaded (the headers may go out first).
   */
  isModified(): boolean {
    if (this.modified) return true;
    const bag = this.bag;
    if (bag === null) return false;
    if (this.maxAge !== undefined && this.maxAge !== this.#own) return true;
    let seen = 0;
    for (const key of Object.keys(bag)) {
      const value = (bag as Record<string, unknown>)[key];
      if (value === undefined || typeof value === 'function') continue;
      seen++;
      let text: string | undefined;
      try {
        text = JSON.stringify(value);
      } catch {
        return true; // not JSON: the flush reports it
      }
      if (this.loaded.get(key) !== text) return true;
    }
    return seen !== this.loaded.size;
  }

  /**
   * Hands what changed since the load to the native session: `setMap` for new or changed
   * properties, `remove` for deleted ones, the cookie's lifetime if it changed. Throws a
   * `SessionValueError` naming the property for a non-JSON value (nothing is handed over then).
   */
  flush(): Promise<unknown> {
    const bag = this.bag;
    if (bag === null) return Promise.resolve();
    let set: Record<string, unknown> | undefined;
    let texts: Map<string, string> | undefined;
    for (const key of Object.keys(bag)) {
      const value = (bag as Record<string, unknown>)[key];
      if (value === undefined || typeof value === 'function') continue;
      const text = serializeValue(key, value);
      if (this.loaded.get(key) === text) continue;
      (set ??= {})[key] = parseValue(text);
      (texts ??= new Map()).set(key, text);
    }
    let removed: string[] | undefined;
    for (const key of this.loaded.keys()) {
      if (!Object.hasOwn(bag, key) || (bag as Record<string, unknown>)[key] === undefined) (removed ??= []).push(key);
    }
    let lifetime: number | null | undefined;
    if (this.maxAge !== undefined && this.maxAge !== this.#own) {
      lifetime = this.#own = this.maxAge;
      this.#lifetimeHanded = true;
    }
    if (set === undefined && removed === undefined && lifetime === undefined) {
      // saveUninitialized: an untouched new session is stored too, with the configured cookie lifetime.
      if (this.saveUninitialized && this.native.isNew() && !this.native.isDirty()) return this.native.setCookieLifetime(this.configuredMaxAge ?? null);
      return Promise.resolve();
    }
    this.modified = true;
    const work: Promise<unknown>[] = [];
    if (set !== undefined) work.push(this.native.setMap(set));
    if (removed !== undefined) work.push(this.native.remove(...removed));
    if (lifetime !== undefined) work.push(this.native.setCookieLifetime(lifetime));
    if (texts !== undefined) for (const [key, text] of texts) this.loaded.set(key, text);
    if (removed !== undefined) for (const key of removed) this.loaded.delete(key);
    return work.length === 1 ? (work[0] as Promise<unknown>) : Promise.all(work);
  }
}

function control(bag: object): BagControl {
  return CompatSession.controlOf(bag);
}

/** Runs `work`, then calls `cb` once on a later tick; an error goes to `cb(err)`, never thrown. */
function settle(work: () => Promise<unknown>, cb: SessionCallback | undefined, ctl: BagControl): void {
  let running: Promise<unknown>;
  try {
    running = work();
  } catch (err) {
    running = Promise.reject(err);
  }
  running.then(
    () => callBack(cb, undefined, ctl),
    (err: unknown) => callBack(cb, err, ctl),
  );
}

function callBack(cb: SessionCallback | undefined, err: unknown, ctl: BagControl): void {
  if (cb === undefined) {
    if (err !== undefined) ctl.state.report(err);
    return;
  }
  try {
    cb(err);
  } catch (thrown) {
    // A callback that throws is the application's bug; it must not become an unhandled rejection.
    process.nextTick(() => ctl.state.next(thrown));
  }
}

/**
 * `req.session` of `sessionware/express-session`: read and write its properties; the methods take
 * express-session's callbacks.
 * @example
 * ```ts
 * app.get('/', (req, res) => {
 *   req.session.views = (req.session.views ?? 0) + 1;
 *   res.send(`views: ${req.session.views}`);
 * });
 * ```
 */
export class CompatSession {
  [key: string]: unknown;
  /** A private field, not a WeakMap entry: invisible to `Object.keys`, spreading and JSON, and no ephemeron for the GC per request. */
  readonly #ctl: BagControl;

  /** @internal */
  constructor(ctl: BagControl) {
    this.#ctl = ctl;
  }

  /** The controller of a bag. @throws {SessionStateError} for anything else. @internal */
  static controlOf(bag: object): BagControl {
    if (typeof bag !== 'object' || bag === null || !(#ctl in bag)) throw new SessionStateError('this is not a sessionware/express-session session object.');
    return (bag as CompatSession).#ctl;
  }

  /** The session id (read-only), as `req.sessionID`. */
  get id(): string {
    return control(this).id;
  }

  /** The session cookie: `maxAge` (ms left; set it for "remember me"), `expires`, `originalMaxAge`. */
  get cookie(): SessionCookie {
    return new SessionCookie(control(this));
  }
  set cookie(_value: unknown) {
    // express-session rebuilds the cookie from its options; assigning it has no lasting effect there either.
  }

  /** Login: a new id and an **empty** session (the old one is moved out of reach atomically). */
  regenerate(cb?: SessionCallback): this {
    const ctl = control(this);
    settle(async () => {
      await ctl.native.regenerate({ keep: [] });
      ctl.bag = new CompatSession(ctl);
      ctl.loaded.clear();
      ctl.resetLifetime();
      ctl.id = await ctl.native.id();
      (ctl.req as { session?: unknown }).session = ctl.bag;
      presentSessionId(ctl.req, ctl.state, ctl.id);
    }, cb, ctl);
    return this;
  }

  /** Logout: the session is deleted now and the cookie cleared; `req.session` becomes `undefined`. */
  destroy(cb?: SessionCallback): this {
    const ctl = control(this);
    ctl.bag = null;
    (ctl.req as { session?: unknown }).session = undefined;
    settle(() => ctl.native.removeAll(), cb, ctl);
    return this;
  }

  /** Hands the changes to the session now (they are stored before the response completes in any case). */
  save(cb?: SessionCallback): this {
    const ctl = control(this);
    settle(() => ctl.flush(), cb, ctl);
    return this;
  }

  /** Reloads the session from the storage; fails with "failed to load session" when it is gone. */
  reload(cb?: SessionCallback): this {
    const ctl = control(this);
    settle(async () => {
      const texts = await ctl.native.texts();
      if (ctl.native.isNew()) throw new Error('failed to load session');
      ctl.fill(texts);
    }, cb, ctl);
    return this;
  }

  /** A no-op kept for compatibility: the storage TTL is refreshed whenever the session is used. */
  touch(): this {
    return this;
  }

  /** Same as {@link CompatSession.touch}. */
  resetMaxAge(): this {
    return this;
  }
}

/** `req.session.cookie`. */
export class SessionCookie {
  readonly #ctl: BagControl;
  /** @internal */
  constructor(ctl: BagControl) {
    this.#ctl = ctl;
  }

  /** Milliseconds left (from now); `null` for a browser-session cookie. Setting it changes this session's lifetime ("remember me"). */
  get maxAge(): number | null {
    return this.#ctl.effectiveMaxAge ?? null;
  }
  set maxAge(value: number | null) {
    if (value !== null && !(typeof value === 'number' && value > 0)) throw new TypeError('req.session.cookie.maxAge must be a positive number of milliseconds, or null');
    this.#ctl.maxAge = value;
  }

  /** The lifetime the cookie is (re)sent with. */
  get originalMaxAge(): number | null {
    return this.maxAge;
  }

  /** When the cookie sent with this response expires; `null` for a browser-session cookie. */
  get expires(): Date | null {
    const m = this.#ctl.effectiveMaxAge;
    return m === undefined ? null : new Date(Date.now() + m);
  }
  /** Set it to `null` or `false` for a browser-session cookie (express-session's `cookie.expires = false`), or a future `Date`. */
  set expires(value: Date | null | false) {
    this.maxAge = value === null || value === false ? null : Math.max(1, value.getTime() - Date.now());
  }

  /** The cookie's attributes, as express-session's `Cookie#toJSON`. */
  toJSON(): Record<string, unknown> {
    const c = this.#ctl.state.options.cookie;
    return { originalMaxAge: this.originalMaxAge, expires: this.expires, httpOnly: c?.httpOnly, path: c?.path, secure: c?.secure, sameSite: c?.sameSite };
  }
}
