/**
 * `SessionOptions`: every option of `session()`, its default, and the one-time validation that
 * turns them into a resolved configuration (bad options throw at start-up, never per request).
 * @module
 */
import type { IncomingMessage } from 'node:http';
import { SessionOptionsError, type SessionError } from './errors';
import type { IdSigner } from './express-session-signer';
import { checkMaxSessionBytes, DEFAULT_MAX_SESSION_BYTES } from './manager';
import type { IdFunc } from './session';
import { checkMaxConflicts, DEFAULT_MAX_CONFLICTS } from './session-update';
import { Signer } from './signer';

/** Attributes of the session cookie. */
export interface CookieOptions {
  /**
   * `Path` attribute.
   * @default '/'
   */
  readonly path?: string;
  /**
   * `Domain` attribute; leave it out to keep the cookie on the exact host.
   * @default undefined
   */
  readonly domain?: string;
  /**
   * `HttpOnly` attribute: scripts cannot read the id. While it is on, the id is never echoed in a
   * response header to a cookie client either.
   * @default true
   */
  readonly httpOnly?: boolean;
  /**
   * `Secure` attribute. `'auto'` sets it when the request came over HTTPS (`req.secure` under
   * Express's `trust proxy`, otherwise a TLS socket).
   * @default 'auto'
   */
  readonly secure?: boolean | 'auto';
  /**
   * `SameSite` attribute. `'none'` requires `secure` not to be `false`; with `secure: 'auto'` it is
   * only sent on HTTPS requests (browsers reject `SameSite=None` without `Secure`), so a plain-HTTP
   * request (local development) gets a cookie without `SameSite`, which browsers treat as `Lax`.
   * @default 'lax'
   */
  readonly sameSite?: 'lax' | 'strict' | 'none' | false;
  /**
   * Lifetime of the cookie in milliseconds, sent as `Max-Age` and `Expires`. Left out, the cookie
   * lasts until the browser closes. When set, the cookie is re-sent whenever the session is used,
   * so it slides along with the session's TTL.
   * @default undefined
   */
  readonly maxAge?: number;
  /**
   * `Partitioned` attribute (CHIPS). Requires `secure` not to be `false`; with `secure: 'auto'` it
   * is only sent on HTTPS requests (browsers reject `Partitioned` without `Secure`).
   * @default false
   */
  readonly partitioned?: boolean;
  /**
   * `Priority` attribute.
   * @default undefined
   */
  readonly priority?: 'low' | 'medium' | 'high';
}

/** Options of `session()`. Durations are milliseconds. */
export interface SessionOptions {
  /**
   * How long a session lives after its last use, in milliseconds.
   * @default 86_400_000 (24 hours)
   */
  readonly ttl?: number;
  /**
   * Name of the cookie that carries the session id. When the client sends several cookies of this
   * name (a duplicate planted from a sibling subdomain or a longer path), the first of them (at most
   * 4 are looked at) that passes the signature and syntax checks and that the storage knows is used
   * (an unknown one is never adopted), and a cookie is never cleared because of a duplicate.
   * @default 'sessionid'
   */
  readonly name?: string;
  /**
   * Name of the request header the id is read from when there is no cookie, and of the response
   * header a new id is sent back in to clients that use it. `false` reads no header.
   * @default the cookie `name`
   */
  readonly header?: string | false;
  /**
   * Cookie attributes, or `false` for header-only APIs (ids then always travel in the header).
   * @default { path: '/', httpOnly: true, secure: 'auto', sameSite: 'lax' }
   */
  readonly cookie?: CookieOptions | false;
  /**
   * Signs the id the client holds (`<id>.<HMAC-SHA256>`), so forged ids are rejected before any
   * storage access. Several secrets rotate: the first signs, all verify. At least 32 characters each.
   * @default undefined (ids are unsigned: 192 random bits and strict mode already stop guessing)
   */
  readonly secret?: string | readonly string[];
  /**
   * Signs ids in another format instead of `secret`'s: `new ExpressSessionSigner(secret)` reads
   * and writes express-session's `s:<id>.<signature>` cookies, so users logged in under
   * express-session stay logged in after the switch (see the README's migration section). Any
   * object with `sign(id)` and `unsign(token)` fits. Give `secret` or `signer`, not both.
   * @default undefined (`secret` decides)
   * @example `{ name: 'connect.sid', signer: new ExpressSessionSigner(process.env.SESSION_SECRET!) }`
   */
  readonly signer?: IdSigner;
  /**
   * Creates session ids. Must return 8 to 128 characters of `[A-Za-z0-9_-]`, unguessable.
   * @default 24 bytes from `crypto`, base64url-encoded
   */
  readonly idFunc?: IdFunc;
  /**
   * The most a session may hold, in bytes: the UTF-8 length of each key plus the JSON text of its
   * value, over the session as the request knows it (as loaded, with its own changes on top). A
   * `set`/`setMap` that would exceed it rejects with a `SessionValueError` before anything is
   * written. `Infinity` disables the limit.
   * @default 1_048_576 (1 MiB)
   * @example `{ maxSessionBytes: 64 * 1024 }` for sessions that only hold ids and flags
   */
  readonly maxSessionBytes?: number;
  /**
   * The absolute lifetime of a session in milliseconds (OWASP's absolute timeout): it ends this long
   * after it was created, however active, and is then treated exactly like an unknown id (deleted,
   * cookie cleared, a new id on the next write). The creation time survives `regenerate()` unless
   * it is called with `{ renew: true }`. See `ManagerOptions.absoluteTTL`.
   * @default undefined (no absolute limit)
   * @example `{ ttl: 30 * 60 * 1000, absoluteTTL: 12 * 60 * 60 * 1000 }`
   */
  readonly absoluteTTL?: number;
  /**
   * How many times `req.session.update()` / `increment()` may lose its compare-and-set to another
   * request's write of the same key (it then re-reads the key and runs the function again) before
   * it rejects with a `SessionConflictError`. `0` rejects at the first conflict.
   * @default 10
   * @example `{ maxConflicts: 50 }` for a counter many requests of one session bump at once
   */
  readonly maxConflicts?: number;
  /**
   * Receives session errors that can no longer reach Express's error handler (the response had
   * already started, or a TTL refresh after the response failed).
   * @default logs the error's name, code and message with `console.error`
   */
  readonly onError?: (err: SessionError, req: IncomingMessage) => void;
}

/** The cookie attributes after defaults. @internal */
export interface ResolvedCookie {
  readonly path: string;
  readonly domain: string | undefined;
  readonly httpOnly: boolean;
  readonly secure: boolean | 'auto';
  readonly sameSite: 'lax' | 'strict' | 'none' | false;
  readonly maxAge: number | undefined;
  readonly partitioned: boolean;
  readonly priority: 'low' | 'medium' | 'high' | undefined;
}

/** `SessionOptions` after defaults and validation. @internal */
export interface ResolvedOptions {
  readonly ttl: number | undefined;
  readonly name: string;
  /** Lower-cased header name, or `undefined` when headers are off. */
  readonly header: string | undefined;
  readonly cookie: ResolvedCookie | undefined;
  readonly signer: IdSigner | undefined;
  readonly idFunc: IdFunc | undefined;
  readonly maxSessionBytes: number;
  readonly absoluteTTL: number | undefined;
  readonly maxConflicts: number;
  readonly onError: (err: SessionError, req: IncomingMessage) => void;
  /** The request headers the session depends on (lower case), for `Vary`. */
  readonly vary: readonly string[];
  /** `vary`, joined for a response that has no `Vary` yet. */
  readonly varyHeader: string;
}

/** RFC 7230 `token`: the syntax of cookie and header names. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Applies defaults and checks every option once.
 * @throws {SessionOptionsError} naming the option and what to do.
 * @internal
 */
export function resolveOptions(options: SessionOptions): ResolvedOptions {
  checkShape(options);
  const name = options.name ?? 'sessionid';
  if (typeof name !== 'string' || !TOKEN.test(name)) {
    throw new SessionOptionsError(`options.name "${String(name)}" is not a valid cookie name: use letters, digits and !#$%&'*+.^_\`|~-.`);
  }
  const header = options.header === undefined ? name : options.header;
  if (header !== false && (typeof header !== 'string' || !TOKEN.test(header))) {
    throw new SessionOptionsError(`options.header "${String(header)}" is not a valid header name; pass a token such as "x-session-id", or false.`);
  }
  const cookie = options.cookie === false ? undefined : resolveCookie(name, options.cookie ?? {});
  if (!cookie && header === false) {
    throw new SessionOptionsError('options.cookie and options.header are both false: the session id would have no way to travel. Enable one of them.');
  }
  const headerName = header === false ? undefined : header.toLowerCase();
  const vary = [cookie ? 'cookie' : undefined, headerName].filter((n): n is string => n !== undefined);
  return {
    ttl: options.ttl,
    name,
    header: headerName,
    cookie,
    signer: resolveSigner(options),
    idFunc: options.idFunc,
    maxSessionBytes: checkMaxSessionBytes(options.maxSessionBytes ?? DEFAULT_MAX_SESSION_BYTES),
    absoluteTTL: options.absoluteTTL,
    maxConflicts: checkMaxConflicts(options.maxConflicts ?? DEFAULT_MAX_CONFLICTS),
    onError: options.onError ?? logError,
    vary,
    varyHeader: vary.join(', '),
  };
}

function resolveSigner({ secret, signer }: SessionOptions): IdSigner | undefined {
  if (signer === undefined) return secret === undefined ? undefined : new Signer(secret);
  if (secret !== undefined) throw new SessionOptionsError('options.secret and options.signer are both set: give the secret to the signer, e.g. signer: new ExpressSessionSigner(secret).');
  if (typeof signer !== 'object' || signer === null || typeof signer.sign !== 'function' || typeof signer.unsign !== 'function') {
    throw new SessionOptionsError('options.signer must have sign(id) and unsign(token) methods, e.g. new ExpressSessionSigner(secret).');
  }
  return signer;
}

function resolveCookie(name: string, c: CookieOptions): ResolvedCookie {
  checkCookieShape(c);
  const resolved: ResolvedCookie = {
    path: c.path ?? '/',
    domain: c.domain,
    httpOnly: c.httpOnly ?? true,
    secure: c.secure ?? 'auto',
    sameSite: c.sameSite ?? 'lax',
    maxAge: c.maxAge,
    partitioned: c.partitioned ?? false,
    priority: c.priority,
  };
  if (!resolved.path.startsWith('/') || /[;\s]/.test(resolved.path)) {
    throw new SessionOptionsError(`options.cookie.path "${resolved.path}" must start with "/" and contain no ";" or spaces.`);
  }
  if (resolved.domain !== undefined && !/^\.?[A-Za-z0-9.-]+$/.test(resolved.domain)) {
    throw new SessionOptionsError(`options.cookie.domain "${resolved.domain}" is not a host name.`);
  }
  if (resolved.maxAge !== undefined && !(Number.isFinite(resolved.maxAge) && resolved.maxAge > 0)) {
    throw new SessionOptionsError('options.cookie.maxAge must be a positive number of milliseconds, or left out for a browser-session cookie.');
  }
  if (![true, false, 'auto'].includes(resolved.secure)) {
    throw new SessionOptionsError('options.cookie.secure must be true, false or "auto".');
  }
  if (!['lax', 'strict', 'none', false].includes(resolved.sameSite)) {
    throw new SessionOptionsError('options.cookie.sameSite must be "lax", "strict", "none" or false.');
  }
  if ((resolved.sameSite === 'none' || resolved.partitioned) && resolved.secure === false) {
    throw new SessionOptionsError('options.cookie: sameSite "none" and partitioned cookies need Secure; set secure to true or "auto".');
  }
  if (name.startsWith('__Secure-') && resolved.secure !== true) {
    throw new SessionOptionsError('a "__Secure-" cookie name requires options.cookie.secure: true.');
  }
  if (name.startsWith('__Host-') && (resolved.secure !== true || resolved.path !== '/' || resolved.domain !== undefined)) {
    throw new SessionOptionsError('a "__Host-" cookie name requires options.cookie.secure: true, path "/" and no domain.');
  }
  return resolved;
}

/** Every option of `session()`: a misspelt name is an error, not a silently ignored setting. */
const OPTION_KEYS: Record<keyof SessionOptions, true> = { ttl: true, name: true, header: true, cookie: true, secret: true, signer: true, idFunc: true, maxSessionBytes: true, maxConflicts: true, absoluteTTL: true, onError: true };
const COOKIE_KEYS: Record<keyof CookieOptions, true> = { path: true, domain: true, httpOnly: true, secure: true, sameSite: true, maxAge: true, partitioned: true, priority: true };

/** Types of the options `resolveCookie` and the `Signer` do not check themselves. */
function checkShape(options: SessionOptions): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new SessionOptionsError('session(storage, options): options must be an object, e.g. { ttl: 30 * 60 * 1000 }.');
  }
  checkKeys(options, OPTION_KEYS, 'options');
  const { ttl, idFunc, onError, secret, cookie, absoluteTTL } = options;
  if (ttl !== undefined && !(typeof ttl === 'number' && Number.isFinite(ttl) && ttl >= 1)) {
    throw new SessionOptionsError(`options.ttl must be a positive number of milliseconds (got ${describe(ttl)}), e.g. 30 * 60 * 1000 for 30 minutes.`);
  }
  if (absoluteTTL !== undefined && !(typeof absoluteTTL === 'number' && Number.isFinite(absoluteTTL) && absoluteTTL >= 1)) {
    throw new SessionOptionsError(`options.absoluteTTL must be a positive number of milliseconds, or left out for no absolute limit (got ${describe(absoluteTTL)}), e.g. 12 * 60 * 60 * 1000 for 12 hours.`);
  }
  if (idFunc !== undefined && typeof idFunc !== 'function') {
    throw new SessionOptionsError(`options.idFunc must be a function (ttl) => id (got ${describe(idFunc)}); leave it out for 192-bit random ids.`);
  }
  if (onError !== undefined && typeof onError !== 'function') {
    throw new SessionOptionsError(`options.onError must be a function (err, req) => void (got ${describe(onError)}); leave it out to log with console.error.`);
  }
  if (secret !== undefined && typeof secret !== 'string' && !Array.isArray(secret)) {
    throw new SessionOptionsError(`options.secret must be a string or an array of strings (got ${describe(secret)}).`);
  }
  if (cookie !== undefined && cookie !== false && (typeof cookie !== 'object' || cookie === null || Array.isArray(cookie))) {
    throw new SessionOptionsError(`options.cookie must be an object of cookie attributes, or false for header-only ids (got ${describe(cookie)}).`);
  }
}

function checkCookieShape(c: CookieOptions): void {
  checkKeys(c, COOKIE_KEYS, 'options.cookie');
  if (c.path !== undefined && typeof c.path !== 'string') throw new SessionOptionsError(`options.cookie.path must be a string such as "/" (got ${describe(c.path)}).`);
  if (c.domain !== undefined && typeof c.domain !== 'string') throw new SessionOptionsError(`options.cookie.domain must be a host name string (got ${describe(c.domain)}).`);
  if (c.httpOnly !== undefined && typeof c.httpOnly !== 'boolean') throw new SessionOptionsError(`options.cookie.httpOnly must be true or false (got ${describe(c.httpOnly)}).`);
  if (c.partitioned !== undefined && typeof c.partitioned !== 'boolean') throw new SessionOptionsError(`options.cookie.partitioned must be true or false (got ${describe(c.partitioned)}).`);
  if (c.priority !== undefined && !['low', 'medium', 'high'].includes(c.priority)) {
    throw new SessionOptionsError(`options.cookie.priority must be "low", "medium" or "high" (got ${describe(c.priority)}).`);
  }
}

function checkKeys(given: object, known: Record<string, true>, where: string): void {
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(known, key)) {
      throw new SessionOptionsError(`${where}.${key} is not an option; the options are: ${Object.keys(known).join(', ')}. Check the spelling.`);
    }
  }
}

/** A short, safe description of a bad option value for messages (never the value of a secret). */
function describe(value: unknown): string {
  if (typeof value === 'string') return `the string "${value.length > 20 ? `${value.slice(0, 20)}…` : value}"`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function logError(err: SessionError): void {
  console.error(`[sessionware] ${err.name} (${err.code}): ${err.message}`);
}
