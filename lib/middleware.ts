/**
 * `session()`: the Express/Connect middleware. It attaches a lazy `req.session`; the request's
 * side of the session (response hooks, the id in the headers) is `request-state.ts`.
 * @module
 */
import { IncomingMessage, type ServerResponse } from 'node:http';
import { readClientId } from './client-id';
import { SessionStateError } from './errors';
import { Manager } from './manager';
import { resolveOptions, type ResolvedOptions, type SessionOptions } from './options';
import { kState, RequestState, type NextFunction, type StatefulRequest } from './request-state';
import { Session } from './session';
import { sharedAccessor } from './shared-accessor';
import { CookieManager } from './storage/cookie/cookie-manager';
import { CookieRequestState } from './storage/cookie/cookie-request';
import type { CookieStorage } from './storage/cookie/cookie-storage';
import { FileStorage } from './storage/file/file-storage';
import type { Storage } from './storage/storage';

export type { NextFunction } from './request-state';

/** The middleware `session()` returns; works with Express 4 and 5, Connect and `node:http`. */
export interface SessionMiddleware<S = Storage> {
  (req: IncomingMessage, res: ServerResponse, next: NextFunction): void;
  /** The storage this middleware keeps sessions in: the one you passed, or the default `FileStorage` it created. */
  readonly storage: S;
  /**
   * The {@link Manager} behind this middleware (its storage, TTL and limits): for work outside a
   * request, such as `await sessions.manager.count()`.
   */
  readonly manager: Manager;
  /**
   * Opens the session of a request this middleware does not serve (a WebSocket or other HTTP
   * upgrade, a raw `node:http` handler), with the middleware's own rules: the same cookie and
   * header names, signatures and strict ids (an unknown, expired or badly signed id gives an empty
   * session that is never adopted). Nothing is read until the first call; **close it** with
   * `await s.close()` when done (that writes its changes, as the middleware does at the end of a
   * response). Nothing is sent to the client: a new id created here never reaches it, so open a
   * fresh one for each unit of work (each socket message) to see logouts at once.
   * @example
   * ```ts
   * server.on('upgrade', async (req, socket, head) => {
   *   const s = sessions.open(req);
   *   const user = await s.get('user');
   *   await s.close();
   *   if (user === undefined) return socket.destroy();
   *   wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
   * });
   * ```
   */
  open(req: IncomingMessage): Session;
  /**
   * Closes {@link SessionMiddleware.storage} (timers stopped, pending TTL refreshes flushed,
   * connections it opened closed), also a storage you passed in. Call it on shutdown, after the
   * server stopped taking requests.
   * @example
   * ```ts
   * const sessions = session();
   * app.use(sessions);
   * process.once('SIGTERM', () => server.close(() => void sessions.close()));
   * ```
   */
  close(): Promise<void>;
}

/**
 * Creates the session middleware.
 *
 * Several `session()` middlewares may serve one request when they use different cookie and header
 * names (an admin area with its own cookie path and storage): each reads and writes its own id and
 * storage, and the last one the request passed through owns `req.session`. Two with the same
 * cookie or header name on one request fail that request with a `SessionStateError` (they would
 * overwrite each other's cookie); the same middleware mounted twice serves once.
 *
 * @param storage where sessions live; default: a new `FileStorage` in `<os temp dir>/sessionware`,
 *   reachable as `.storage` (close it with `.close()`). A `CookieStorage` keeps the whole session
 *   sealed in the cookie instead (nothing on the server; see its documentation for what holds).
 * @param options see {@link SessionOptions}; every option has a default.
 * @throws {SessionOptionsError} at once, on an invalid option.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { session, MemoryStorage } from 'sessionware';
 *
 * const app = express();
 * const sessions = session(new MemoryStorage(), { ttl: 30 * 60 * 1000, cookie: { sameSite: 'strict' } });
 * app.use(sessions);
 * app.post('/cart', async (req, res) => {
 *   const cart = (await req.session.get<string[]>('cart')) ?? [];
 *   await req.session.set('cart', [...cart, String(req.query.item)]);
 *   res.json(cart);
 * });
 * // on shutdown: await sessions.close();
 * ```
 */
export function session(storage: CookieStorage, options?: SessionOptions): SessionMiddleware<CookieStorage>;
export function session(storage?: Storage, options?: SessionOptions): SessionMiddleware;
export function session(storage?: Storage | CookieStorage, options: SessionOptions = {}): SessionMiddleware<Storage | CookieStorage> {
  const resolved = resolveOptions(options);
  // A client storage (the session travels sealed in the cookie) takes its own, short path.
  const cookies = isClientStorage(storage) ? new CookieManager(storage, options) : undefined;
  const manager = cookies ?? new Manager({
    storage: (storage as Storage | undefined) ?? new FileStorage(),
    ...(resolved.ttl !== undefined && { ttl: resolved.ttl }),
    ...(resolved.idFunc && { idFunc: resolved.idFunc }),
    maxSessionBytes: resolved.maxSessionBytes,
    ...(resolved.absoluteTTL !== undefined && { absoluteTTL: resolved.absoluteTTL }),
    maxConflicts: resolved.maxConflicts,
  });
  const middleware = function sessionMiddleware(req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
    const outer = (req as StatefulRequest)[kState];
    if (outer !== undefined) {
      if (servedBy(outer, middleware)) return next(); // mounted twice: the first one serves
      const clash = clashWith(outer, resolved);
      if (clash !== undefined) return next(clash);
    }
    const state = cookies ? new CookieRequestState(resolved, cookies, req, res, next, middleware, outer) : new RequestState(resolved, manager, req, res, next, middleware, outer);
    attach(req as StatefulRequest, state);
    next();
  };
  return Object.defineProperties(middleware, {
    storage: { get: () => cookies?.cookieStorage ?? manager.getStorage(), enumerable: true },
    close: { value: () => (cookies?.cookieStorage ?? manager.getStorage()).close() },
    manager: { value: manager, enumerable: true },
    open: { value: (req: IncomingMessage) => openOutside(req, resolved, manager) },
  }) as SessionMiddleware<Storage | CookieStorage>;
}

/** A storage that keeps sessions on the client (`kind: 'client'`: `CookieStorage`). */
function isClientStorage(storage: Storage | CookieStorage | undefined): storage is CookieStorage {
  return typeof storage === 'object' && storage !== null && (storage as { kind?: unknown }).kind === 'client';
}

function servedBy(state: RequestState, owner: object): boolean {
  for (let s: RequestState | undefined = state; s !== undefined; s = s.outer) if (s.owner === owner) return true;
  return false;
}

/** Two `session()`s on one request must not share a cookie or header name. */
function clashWith(state: RequestState, options: ResolvedOptions): SessionStateError | undefined {
  for (let s: RequestState | undefined = state; s !== undefined; s = s.outer) {
    const other = s.options;
    const cookie = other.cookie !== undefined && options.cookie !== undefined && other.name === options.name;
    const header = other.header !== undefined && other.header === options.header;
    if (cookie || header) {
      return new SessionStateError(
        `two session() middlewares with the same ${cookie ? `cookie name "${options.name}"` : `header "${String(options.header)}"`} serve this request; give the inner one its own name (and header), e.g. session(storage, { name: 'adminsid', cookie: { path: '/admin' } }).`,
      );
    }
  }
  return undefined;
}

/**
 * Makes `state` reachable from `req.session`: a symbol property on the request (found through a
 * `Proxy` around it, whatever happens to `res.locals`, in any app the request passes through), and
 * one `session` accessor shared by all requests on `http.IncomingMessage.prototype` (a property
 * defined per request costs more). A request whose prototype chain defines `session` itself gets
 * the accessor as its own property.
 */
function attach(req: StatefulRequest, state: RequestState): void {
  req[kState] = state;
  if (!inheritsAccessor(req)) Object.defineProperty(req, 'session', SESSION_PROPERTY);
}

/** `req.session`: one shared accessor, so requests keep one hidden class. */
const SESSION_PROPERTY: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: StatefulRequest): Session | undefined {
    const state = this[kState];
    if (state?.present !== undefined) {
      const value = state.present();
      Object.defineProperty(this, 'session', { value, writable: true, enumerable: true, configurable: true });
      return value as Session | undefined;
    }
    return state && (state.session ?? open(state));
  },
  set(this: StatefulRequest, value: unknown) {
    const state = this[kState];
    if (state === undefined || state.present !== undefined) {
      // A request sessionware does not serve (the accessor is shared), or a front end's: a plain property.
      Object.defineProperty(this, 'session', { value, writable: true, enumerable: true, configurable: true });
      return;
    }
    throw new SessionStateError('req.session is managed by sessionware and cannot be replaced; use req.session.removeAll() to log out.');
  },
};

const inheritsAccessor = sharedAccessor('session', SESSION_PROPERTY);

/**
 * First touch of `req.session`: reads the id (no I/O). Nothing watches the response until the
 * session is used: a read adds one `finish` listener (a clean session closes there), a change
 * hooks the response (its end then waits for the session to be stored).
 */
function open(state: RequestState): Session {
  if (state instanceof CookieRequestState) return state.open();
  state.client = readClientId(state.req, state.options);
  const session = new Session(state.manager, state.client.id, 'client', state.client.candidates);
  session.host = state;
  state.session = session;
  return session;
}

/** `sessions.open(req)`: the id as this middleware would read it, strict, with no response attached. */
function openOutside(req: IncomingMessage, options: ResolvedOptions, manager: Manager): Session {
  if (!(req instanceof IncomingMessage) && (typeof req !== 'object' || req === null || typeof (req as { headers?: unknown }).headers !== 'object')) {
    throw new SessionStateError('sessions.open(req) takes the incoming HTTP request (an http.IncomingMessage, e.g. the upgrade request of a WebSocket).');
  }
  return new Session(manager, readClientId(req, options).id, 'client');
}

/**
 * The request's native `Session` and its state, for front ends that present the session their own
 * way (`sessionware/express-session` defines its own `req.session`): opened as `req.session`'s first
 * touch would open it (no I/O). `undefined` when no `session()` serves the request.
 * @internal
 */
export function nativeSession(req: IncomingMessage): { session: Session; state: RequestState } | undefined {
  const state = (req as StatefulRequest)[kState];
  return state && { session: state.session ?? open(state), state };
}
