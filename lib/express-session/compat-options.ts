/**
 * The options of `sessionware/express-session`, named as express-session names them, and their
 * translation into the core's `session()` options.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import { SessionOptionsError, type SessionError } from '../errors';
import { ExpressSessionSigner } from '../express-session-signer';
import type { CookieOptions, SessionOptions } from '../options';
import type { Storage } from '../storage/storage';

/** express-session's `cookie` option. Durations in milliseconds. */
export interface ExpressCookieOptions {
  /** Lifetime in milliseconds (`Max-Age` and `Expires`); `null` or left out: a browser-session cookie. @default null */
  readonly maxAge?: number | null;
  /** An absolute expiry; turned into the time left when the middleware is made (prefer `maxAge`). @default undefined */
  readonly expires?: Date | null;
  /** @default true */
  readonly httpOnly?: boolean;
  /** `true`, `false` or `'auto'` (Secure on HTTPS requests, see `proxy`). @default false (express-session leaves it unset) */
  readonly secure?: boolean | 'auto';
  /** `true` means `'strict'`; `false` sends no attribute. @default false */
  readonly sameSite?: boolean | 'lax' | 'strict' | 'none';
  /** @default '/' */
  readonly path?: string;
  /** @default undefined */
  readonly domain?: string;
  /** @default false */
  readonly partitioned?: boolean;
  /** @default undefined */
  readonly priority?: 'low' | 'medium' | 'high';
}

/** Options of the express-session-compatible middleware. */
export interface ExpressSessionOptions {
  /** Cookie name. @default 'connect.sid' */
  readonly name?: string;
  /**
   * Signs the id cookie in express-session's format (`s:<id>.<signature>`). An array rotates: the
   * first signs, every one verifies. Required, as in express-session.
   * @example `secret: [process.env.NEW_SECRET!, process.env.OLD_SECRET!]`
   */
  readonly secret: string | readonly string[];
  /** The session cookie. @default `{ path: '/', httpOnly: true, maxAge: null }` */
  readonly cookie?: ExpressCookieOptions;
  /**
   * Re-send the cookie on every response whose session was loaded (its expiry starts over). With
   * `false`, as in express-session, a client's id is sent again only when the cookie has a lifetime
   * and the session was modified (a property or the cookie's lifetime changed); a new id is sent
   * when the session is stored (see `saveUninitialized`).
   * @default false
   */
  readonly rolling?: boolean;
  /** Store a new session the handler looked at but did not change (and send its cookie). @default true */
  readonly saveUninitialized?: boolean;
  /** A no-op: only changed properties are written; an unchanged session only has its TTL refreshed. @default true */
  readonly resave?: boolean;
  /** Makes the id of a new session; must return 8 to 128 characters of `[A-Za-z0-9_-]`. @default 32 random base64url characters */
  readonly genid?: (req: IncomingMessage) => string;
  /** A sessionware `Storage` (for an express-session store, wrap it in `StoreAdapter`). @default a new `MemoryStorage` */
  readonly store?: Storage;
  /** What `req.session = null` (or `delete req.session`) means: `'keep'` drops this request's changes, `'destroy'` logs out. @default 'keep' */
  readonly unset?: 'keep' | 'destroy';
  /** How a request is judged secure (for `secure: 'auto'`): `true` trusts `X-Forwarded-Proto`, `false` only TLS, `undefined` `req.secure` (Express `trust proxy`). @default undefined */
  readonly proxy?: boolean;
  /** The session lifetime in the storage, in milliseconds; a session given its own `req.session.cookie.maxAge` lives that long instead. @default the cookie `maxAge`, else the storage's default TTL */
  readonly ttl?: number;
  /** Receives errors that can no longer reach `next(err)`. @default logs with `console.error` */
  readonly onError?: (err: SessionError, req: IncomingMessage) => void;
}

/** @internal */
export interface ResolvedCompat {
  readonly core: SessionOptions;
  readonly maxAge: number | undefined;
  readonly saveUninitialized: boolean;
  readonly rolling: boolean;
  readonly unset: 'keep' | 'destroy';
  readonly proxy: boolean | undefined;
  readonly genid: ((req: IncomingMessage) => string) | undefined;
  readonly path: string;
}

const KEYS = new Set(['name', 'secret', 'cookie', 'rolling', 'saveUninitialized', 'resave', 'genid', 'store', 'unset', 'proxy', 'ttl', 'onError']);
const COOKIE_KEYS = new Set(['maxAge', 'expires', 'httpOnly', 'secure', 'sameSite', 'path', 'domain', 'partitioned', 'priority']);

/** Checks the options once and maps them onto `session()`'s. @internal */
export function resolveCompat(options: ExpressSessionOptions): ResolvedCompat {
  if (typeof options !== 'object' || options === null) throw new SessionOptionsError('sessionware/express-session: pass an options object, e.g. session({ secret: process.env.SESSION_SECRET! }).');
  for (const key of Object.keys(options)) {
    if (!KEYS.has(key)) throw new SessionOptionsError(`sessionware/express-session: unknown option "${key}"; the options are ${[...KEYS].join(', ')}.`);
  }
  if (options.secret === undefined) throw new SessionOptionsError('sessionware/express-session: the secret option is required (a string, or an array whose first element signs).');
  const signer = new ExpressSessionSigner(options.secret);
  const c = options.cookie ?? {};
  if (typeof c !== 'object' || c === null) throw new SessionOptionsError('options.cookie must be an object of cookie attributes.');
  for (const key of Object.keys(c)) {
    if (!COOKIE_KEYS.has(key)) throw new SessionOptionsError(`options.cookie: unknown attribute "${key}"; the attributes are ${[...COOKIE_KEYS].join(', ')}.`);
  }
  const maxAge = cookieMaxAge(c);
  for (const flag of ['rolling', 'saveUninitialized', 'resave'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') throw new SessionOptionsError(`options.${flag} must be true or false.`);
  }
  if (options.unset !== undefined && options.unset !== 'keep' && options.unset !== 'destroy') throw new SessionOptionsError('options.unset must be "keep" or "destroy".');
  if (options.genid !== undefined && typeof options.genid !== 'function') throw new SessionOptionsError('options.genid must be a function (req) => string.');
  if (options.proxy !== undefined && typeof options.proxy !== 'boolean') throw new SessionOptionsError('options.proxy must be true, false or left out.');
  if (options.store !== undefined && (typeof options.store !== 'object' || options.store === null || typeof options.store.getSession !== 'function')) {
    throw new SessionOptionsError('options.store must be a sessionware Storage; wrap an express-session store in StoreAdapter from sessionware/express-session-store.');
  }
  const sameSite = c.sameSite === true ? 'strict' : c.sameSite === undefined ? false : c.sameSite;
  const cookie: CookieOptions = {
    path: c.path ?? '/',
    httpOnly: c.httpOnly ?? true,
    secure: c.secure ?? false,
    sameSite,
    ...(maxAge !== undefined && { maxAge }),
    ...(c.domain !== undefined && { domain: c.domain }),
    ...(c.partitioned !== undefined && { partitioned: c.partitioned }),
    ...(c.priority !== undefined && { priority: c.priority }),
  };
  const ttl = options.ttl ?? maxAge;
  const core: SessionOptions = {
    name: options.name ?? 'connect.sid',
    header: false,
    cookie,
    signer,
    ...(ttl !== undefined && { ttl }),
    ...(options.onError !== undefined && { onError: options.onError }),
  };
  return {
    core,
    maxAge,
    saveUninitialized: options.saveUninitialized ?? true,
    rolling: options.rolling ?? false,
    unset: options.unset ?? 'keep',
    proxy: options.proxy,
    genid: options.genid,
    path: cookie.path as string,
  };
}

function cookieMaxAge(c: ExpressCookieOptions): number | undefined {
  if (c.maxAge !== undefined && c.maxAge !== null) {
    if (typeof c.maxAge !== 'number' || !(c.maxAge > 0)) throw new SessionOptionsError('options.cookie.maxAge must be a positive number of milliseconds, or null for a browser-session cookie.');
    return c.maxAge;
  }
  if (c.expires !== undefined && c.expires !== null) {
    if (!(c.expires instanceof Date) || Number.isNaN(c.expires.getTime())) throw new SessionOptionsError('options.cookie.expires must be a valid Date.');
    const left = c.expires.getTime() - Date.now();
    if (left <= 0) throw new SessionOptionsError('options.cookie.expires is in the past; use maxAge for a lifetime.');
    return left;
  }
  return undefined;
}
