/**
 * `req.session` as express-session presents it: a plain object whose enumerable properties are the
 * session data, with express-session's callback methods (non-enumerable, on the prototype). What
 * the application changed is found at the end by comparing each top-level property's JSON text
 * with what was loaded, and only those properties are handed to the native session.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import { SessionStateError } from '../errors';
import type { ResolvedOptions } from '../options';
import type { RequestState } from '../request-state';
import type { Session } from '../session';
import { parseValue, serializeValue } from '../value';

/** Where the per-session cookie lifetime ("remember me") is kept; `cookie` is reserved by `StoreAdapter`. @internal */
export const META_KEY = '__sessionware_cookie';

/** A callback as express-session's methods take it. */
export type SessionCallback = (err?: unknown) => void;

/** The controller behind one request's property bag. @internal */
export class BagControl {
  /** JSON text of each property as loaded (or as last handed to the native session). */
  loaded = new Map<string, string>();
  /** `null` after `destroy()`. */
  bag: CompatSession | null;
  /** The per-session cookie lifetime, when it differs from the configured one (`null`: a browser-session cookie). */
  maxAge: number | null | undefined = undefined;
  #maxAgeSaved: string | undefined = undefined;
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

  /** Fills the bag from the session's data (a fresh copy per property), skipping names of methods. */
  fill(data: Record<string, unknown>): void {
    const bag = this.bag as CompatSession;
    for (const key of Object.keys(bag)) delete (bag as Record<string, unknown>)[key];
    this.loaded.clear();
    this.maxAge = undefined;
    this.#maxAgeSaved = undefined;
    for (const [key, value] of Object.entries(data)) {
      if (key === META_KEY) {
        this.#maxAgeSaved = JSON.stringify(value);
        const m = (value as { maxAge?: unknown } | null)?.maxAge;
        if (typeof m === 'number' || m === null) this.maxAge = m;
        continue;
      }
      if (key in bag) continue; // a stored `save` or `id` must not shadow a method
      (bag as Record<string, unknown>)[key] = value;
      this.loaded.set(key, JSON.stringify(value));
    }
    this.applyMaxAge();
  }

  /** Sends the id with the per-session lifetime, if there is one. */
  applyMaxAge(): void {
    const options = this.state.options;
    if (this.maxAge === undefined || options.cookie === undefined) {
      this.state.transportOptions = undefined;
      return;
    }
    const cookie = { ...options.cookie, maxAge: this.maxAge ?? undefined };
    this.state.transportOptions = { ...options, cookie } satisfies ResolvedOptions;
  }

  /** The lifetime the cookie is sent with. */
  get effectiveMaxAge(): number | undefined {
    return this.maxAge === undefined ? this.configuredMaxAge : (this.maxAge ?? undefined);
  }

  /**
   * Hands what changed since the load to the native session: `setMap` for new or changed
   * properties, `remove` for deleted ones. Throws a `SessionValueError` naming the property for a
   * non-JSON value (nothing is handed over then).
   */
  flush(): Promise<unknown> {
    const bag = this.bag;
    if (bag === null) return Promise.resolve();
    const set: Record<string, unknown> = {};
    const texts = new Map<string, string>();
    let changed = false;
    for (const key of Object.keys(bag)) {
      const value = (bag as Record<string, unknown>)[key];
      if (value === undefined || typeof value === 'function') continue;
      const text = serializeValue(key, value);
      if (this.loaded.get(key) === text) continue;
      set[key] = parseValue(text);
      texts.set(key, text);
      changed = true;
    }
    const removed = [...this.loaded.keys()].filter((key) => !Object.hasOwn(bag, key) || (bag as Record<string, unknown>)[key] === undefined);
    const meta = this.maxAge === undefined ? undefined : JSON.stringify({ maxAge: this.maxAge });
    if (meta !== undefined && meta !== this.#maxAgeSaved) {
      set[META_KEY] = { maxAge: this.maxAge };
      this.#maxAgeSaved = meta;
      changed = true;
    }
    if (!changed && removed.length === 0 && this.saveUninitialized && this.native.isNew() && !this.native.isDirty()) {
      set[META_KEY] = {}; // saveUninitialized: an untouched new session is stored too
      this.#maxAgeSaved = '{}';
      changed = true;
    }
    const work: Promise<unknown>[] = [];
    if (changed) work.push(this.native.setMap(set));
    if (removed.length > 0) work.push(this.native.remove(...removed));
    for (const [key, text] of texts) this.loaded.set(key, text);
    for (const key of removed) this.loaded.delete(key);
    return Promise.all(work);
  }
}

const controls = new WeakMap<object, BagControl>();

function control(bag: object): BagControl {
  const ctl = controls.get(bag);
  if (ctl === undefined) throw new SessionStateError('this is not a sessionware/express-session session object.');
  return ctl;
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

  /** @internal */
  constructor(ctl: BagControl) {
    controls.set(this, ctl);
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
      ctl.maxAge = undefined;
      ctl.applyMaxAge();
      ctl.id = await ctl.native.id();
      (ctl.req as { session?: unknown }).session = ctl.bag;
      (ctl.req as { sessionID?: unknown }).sessionID = ctl.id;
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
      const data = await ctl.native.data();
      if (ctl.native.isNew()) throw new Error('failed to load session');
      ctl.fill(data);
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
    this.#ctl.applyMaxAge();
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
  set expires(value: Date | null) {
    this.maxAge = value === null ? null : Math.max(1, value.getTime() - Date.now());
  }

  /** The cookie's attributes, as express-session's `Cookie#toJSON`. */
  toJSON(): Record<string, unknown> {
    const c = this.#ctl.state.options.cookie;
    return { originalMaxAge: this.originalMaxAge, expires: this.expires, httpOnly: c?.httpOnly, path: c?.path, secure: c?.secure, sameSite: c?.sameSite };
  }
}
