/**
 * The shape of an express-session `Store`, typed here so that sessionware depends on neither
 * `express-session` nor `@types/express-session`. Any store written for express-session fits:
 * connect-redis, connect-pg-simple, connect-mongo, express-session's own `MemoryStore`...
 * @module
 */

/** The Node-style callback of a store method: `(err)` or `(null, value)`. */
export type ExpressStoreCallback = (err?: unknown, value?: unknown) => void;

/**
 * The `cookie` the adapter puts in every session it writes. Stores compute their expiry from it
 * (`expires`, or `maxAge` in milliseconds), as they do for express-session's own cookie.
 */
export interface StoreCookie {
  /** The session's TTL in milliseconds, as express-session names it. */
  readonly originalMaxAge: number;
  /** The same TTL, for stores that read `cookie.maxAge` (connect-memcached, better-sqlite3-session-store). */
  readonly maxAge: number;
  /** When the session expires: now + TTL. */
  readonly expires: Date;
  readonly httpOnly: boolean;
  readonly path: string;
}

/** A session as an express-session store keeps it: the data's keys at top level, plus `cookie`. */
export interface StoreSession {
  readonly cookie: StoreCookie;
  readonly [key: string]: unknown;
}

/**
 * An express-session store: `get`, `set` and `destroy`, and optionally `touch` and `length`. Each
 * method may answer through its callback, through a returned Promise, or both. Stores are usually
 * `EventEmitter`s that emit `'connect'` and `'disconnect'`.
 */
export interface ExpressStore {
  get(sid: string, callback: ExpressStoreCallback): unknown;
  set(sid: string, session: StoreSession, callback: ExpressStoreCallback): unknown;
  destroy(sid: string, callback: ExpressStoreCallback): unknown;
  touch?(sid: string, session: StoreSession, callback: ExpressStoreCallback): unknown;
  length?(callback: ExpressStoreCallback): unknown;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener?(event: string, listener: (...args: unknown[]) => void): unknown;
}
