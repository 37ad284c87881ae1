/**
 * `session()`: the Express/Connect middleware. It attaches a lazy `req.session` and closes it when
 * the response ends: a dirty session is written *before* the end of the response is released to
 * the client; a clean one has its TTL refreshed after it. The id goes into the response headers as
 * soon as the operation that changed it settles.
 * @module
 */
import { IncomingMessage, type ServerResponse } from 'node:http';
import { SessionError, SessionStateError, StorageError } from './errors';
import { Manager } from './manager';
import { resolveOptions, type ResolvedOptions, type SessionOptions } from './options';
import { Session, type SessionHost } from './session';
import type { Storage } from './storage/storage';
import { addVary, clearId, readClientId, restore, retract, sendId, type ClientId, type Written } from './transport';

/** A Connect/Express-style `next`. */
export type NextFunction = (err?: unknown) => void;

/** The middleware `session()` returns; works with Express 4 and 5, Connect and `node:http`. */
export type SessionMiddleware = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;

/**
 * Per-request state, also the {@link SessionHost} of the request's session. Under Express it lives
 * in `res.locals` (see `attach`), elsewhere on the request under a symbol.
 */
class RequestState implements SessionHost {
  session: Session | undefined = undefined;
  client: ClientId | undefined = undefined;
  /** What the response headers say about the id (see `decide`). */
  applied = 'unused';
  /** What was written into the headers for `applied`: taken back if the decision changes. */
  written: Written | undefined = undefined;
  /** Committing failed: the response must not advertise the session. */
  failed = false;
  /** A `finish` listener closes the session (it was used, and made no change so far). */
  listening = false;
  /** The response's own `end` once it is hooked (a change was made), and the arguments `end()` got. */
  end: ServerResponse['end'] | undefined = undefined;
  endArgs: IArguments | undefined = undefined;

  constructor(
    readonly options: ResolvedOptions,
    readonly manager: Manager,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly next: NextFunction,
  ) {}

  get ended(): boolean {
    return this.res.writableEnded;
  }

  willRun(change: boolean): void {
    if (this.end !== undefined) return;
    if (change) {
      hookEnd(this); // sessionEnd now closes the session
    } else if (!this.listening) {
      this.listening = true;
      this.res.on('finish', sessionFinished);
    }
  }

  settled(): void {
    if (this.failed) return;
    try {
      applyTransport(this);
    } catch (err) {
      report(this, err);
    }
  }
}

const kState = Symbol('sessionware.state');
/** Headers that describe a response body; removed when a failed write replaces that body with an error. */
const BODY_HEADERS = ['content-type', 'content-length', 'content-encoding', 'etag', 'last-modified'];
type StatefulRequest = IncomingMessage & { [kState]?: RequestState; res?: { locals?: { [kState]?: RequestState } } };
/** A response whose `req` (Node >= 15.7) leads back to the state: no extra property on the response. */
type HookedResponse = ServerResponse & { req: StatefulRequest };

/**
 * Creates the session middleware.
 *
 * Under Express the per-request state is kept in `res.locals` (under a symbol) and `req.session` is
 * a getter on Express's request prototype; extend `res.locals`, or rebuild it from itself, but do not
 * replace it with an unrelated object.
 *
 * @param storage where sessions live; default: a `FileStorage` in `<os temp dir>/sessionware`.
 * @param options see {@link SessionOptions}; every option has a default.
 * @throws {SessionOptionsError} at once, on an invalid option.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { session, MemoryStorage } from 'sessionware';
 *
 * const app = express();
 * app.use(session(new MemoryStorage(), { ttl: 30 * 60 * 1000, cookie: { sameSite: 'strict' } }));
 * app.post('/cart', async (req, res) => {
 *   const cart = (await req.session.get<string[]>('cart')) ?? [];
 *   await req.session.set('cart', [...cart, String(req.query.item)]);
 *   res.json(cart);
 * });
 * ```
 */
export function session(storage?: Storage, options: SessionOptions = {}): SessionMiddleware {
  const resolved = resolveOptions(options);
  const manager = new Manager({
    ...(storage && { storage }),
    ...(resolved.ttl !== undefined && { ttl: resolved.ttl }),
    ...(resolved.idFunc && { idFunc: resolved.idFunc }),
    maxSessionBytes: resolved.maxSessionBytes,
  });
  return function sessionMiddleware(req, res, next) {
    if (stateOf(req as StatefulRequest) !== undefined) return next(); // mounted twice: the first one serves
    attach(req as StatefulRequest, res, new RequestState(resolved, manager, req, res, next));
    next();
  };
}

function stateOf(req: StatefulRequest): RequestState | undefined {
  return req.res?.locals?.[kState] ?? req[kState];
}

/**
 * Makes `state` reachable from `req.session`. Adding a property to a request or response object
 * costs several microseconds per request in V8 (it changes the object's shape), so under Express
 * the state goes into `res.locals` (a dictionary object made for per-request data) and
 * `req.session` is one accessor shared by all requests, on Express's request prototype. Elsewhere
 * (Connect, `node:http`) it is a symbol property plus an accessor on the request itself.
 */
function attach(req: StatefulRequest, res: ServerResponse, state: RequestState): void {
  const locals = (res as { locals?: unknown }).locals;
  if (typeof locals === 'object' && locals !== null && req.res === res && inheritsAccessor(req)) {
    (locals as { [kState]?: RequestState })[kState] = state;
    return;
  }
  req[kState] = state;
  Object.defineProperty(req, 'session', SESSION_PROPERTY);
}

/** The last request prototype known to inherit the shared accessor. */
let sharedProto: object | null = null;

/**
 * Tells whether `req` inherits the shared `session` accessor, installing it on Express's request
 * prototype (`express.request`, shared by an app and its sub-apps) on first sight:
 * `req -> app.request -> express.request -> http.IncomingMessage.prototype`. Declines (the caller
 * falls back to a property on the request) for any other shape, or when something else defines
 * `session` there.
 */
function inheritsAccessor(req: StatefulRequest): boolean {
  const proto = Object.getPrototypeOf(req) as object | null;
  if (proto === sharedProto) return true;
  const base = proto && (Object.getPrototypeOf(proto) as object | null);
  if (!proto || !base || Object.getPrototypeOf(base) !== IncomingMessage.prototype || Object.hasOwn(proto, 'session')) return false;
  const own = Object.getOwnPropertyDescriptor(base, 'session');
  if (own === undefined) Object.defineProperty(base, 'session', SESSION_PROPERTY);
  else if (own.get !== SESSION_PROPERTY.get) return false;
  sharedProto = proto;
  return true;
}

/** `req.session`: one shared accessor, so requests keep one hidden class. */
const SESSION_PROPERTY: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: StatefulRequest): Session | undefined {
    const state = stateOf(this);
    return state && (state.session ?? open(state));
  },
  set(this: StatefulRequest, value: unknown) {
    if (stateOf(this) === undefined) {
      // A request sessionware does not serve (the accessor is on Express's shared prototype): a plain property.
      Object.defineProperty(this, 'session', { value, writable: true, enumerable: true, configurable: true });
      return;
    }
    throw new SessionStateError('req.session is managed by sessionware and cannot be replaced; use req.session.removeAll() to log out.');
  },
};

/**
 * First touch of `req.session`: reads the id (no I/O). Nothing watches the response until the
 * session is used: a read adds one `finish` listener (a clean session closes there), a change
 * hooks `end` (the end then waits for the session to be stored).
 */
function open(state: RequestState): Session {
  state.client = readClientId(state.req, state.options);
  const session = new Session(state.manager, state.client.id, 'client');
  session.host = state;
  state.session = session;
  return session;
}

/** A change is coming: the end of the response must wait for the session to be stored. */
function hookEnd(state: RequestState): void {
  state.end = state.res.end;
  state.res.end = sessionEnd as ServerResponse['end'];
}

function sessionEnd(this: HookedResponse): ServerResponse {
  const state = stateOf(this.req) as RequestState;
  this.end = state.end as ServerResponse['end']; // a second end() behaves exactly as Node's own
  state.endArgs = arguments;
  const refresh = (state.session as Session).closeIfClean();
  if (refresh === undefined) void finish(state); // changes to write first: the end waits for them
  else conclude(state, refresh); // nothing to write: end now, refresh the TTL after
  return this;
}

/**
 * The response is complete. A session that made no change closes here (once a read the handler
 * did not wait for has settled) and refreshes its TTL.
 */
function sessionFinished(this: HookedResponse): void {
  const state = stateOf(this.req);
  if (state === undefined || state.end !== undefined) return; // the end hook closed it
  (state.session as Session).commit().then(
    (refresh) => conclude(state, refresh),
    (err: unknown) => report(state, err),
  );
}

/**
 * Commits the session, then releases the end of the response: a write of a dirty session lands
 * before the client can see the response complete (read-your-writes). A clean session's TTL is
 * refreshed after the response.
 */
async function finish(state: RequestState): Promise<void> {
  const session = state.session as Session;
  let refresh: boolean;
  try {
    refresh = await session.commit();
  } catch (err) {
    state.failed = true;
    if (!state.res.headersSent) {
      // The response has not started: Express's error handler can still answer with the error.
      // Drop what described the body that will now not be sent, and the id, so the handler starts clean.
      for (const name of BODY_HEADERS) state.res.removeHeader(name);
      if (state.written !== undefined) retract(state.res, state.options, state.written);
      state.next(err);
      return;
    }
    report(state, err);
    release(state);
    return;
  }
  conclude(state, refresh);
}

/**
 * After a successful close: the final word about the id into the headers, then the held-back end
 * of the response (when `end` was hooked), then the TTL refresh a clean close wants.
 */
function conclude(state: RequestState, refresh: boolean): void {
  settleTransport(state);
  if (state.end !== undefined) release(state);
  if (refresh) refreshTTL(state);
}

/**
 * The session is closed: puts the final word about the id into the headers (again, if the
 * application replaced `Set-Cookie` since), or, if they already left, reports an id the client missed.
 */
function settleTransport(state: RequestState): void {
  if (!state.res.headersSent) {
    applyTransport(state);
    if (state.written !== undefined) restore(state.res, state.written);
    return;
  }
  const wanted = decide(state);
  if (wanted !== state.applied && wanted !== 'none' && wanted !== 'unused') {
    report(state, new SessionStateError('the session id changed after the response headers were sent, so the client did not receive it; finish session work before writing the response.'));
  }
}

/** Lets the response end, with the arguments the application gave `end()`. */
function release(state: RequestState): void {
  Reflect.apply(state.end as ServerResponse['end'], state.res, state.endArgs as IArguments);
}

function refreshTTL(state: RequestState): void {
  (state.session as Session).refreshTTL().catch((err: unknown) => report(state, err));
}

/**
 * What the response must tell the client about its id: `send:<id>` (a new, regenerated or
 * app-chosen id; or the same id again to slide a persistent cookie), `clear` (the client holds an
 * id that is gone: logout, unknown or expired), `none`, or `unused` (the session was never used:
 * the response carries nothing of it, not even `Vary`).
 */
function decide(state: RequestState): string {
  const { session, client, options } = state;
  if (!session || !client) return 'unused';
  const { used, id, stored, known } = session.transportState;
  if (!used) return 'unused';
  if (stored && id !== undefined) {
    const rolling = options.cookie?.maxAge !== undefined && client.via === 'cookie';
    return id !== client.id || rolling ? `send:${id}` : 'none';
  }
  return known && client.via !== undefined ? 'clear' : 'none';
}

/**
 * Brings the response headers in line with the session, as soon as an operation settles (so no
 * `writeHead` hook is needed): takes back what an earlier decision wrote and writes the new one.
 * Once the headers are sent nothing can change; `settleTransport` reports what the client missed.
 */
function applyTransport(state: RequestState): void {
  const decision = decide(state);
  const { client, options, req, res } = state;
  if (decision === state.applied || res.headersSent) return;
  if (state.written !== undefined) retract(res, options, state.written);
  state.written = undefined;
  if (decision === 'unused') return; // cannot follow a used state; guards the send branch below
  const first = state.applied === 'unused';
  state.applied = decision;
  if (first) addVary(res, options);
  if (decision === 'clear') state.written = clearId(req, res, options, client as ClientId);
  else if (decision !== 'none') state.written = sendId(req, res, options, client as ClientId, decision.slice('send:'.length));
}

function report(state: RequestState, err: unknown): void {
  const error = err instanceof SessionError ? err : new StorageError('session', 'close', 'unexpected failure', { cause: err });
  try {
    state.options.onError(error, state.req);
  } catch (hookErr) {
    console.error('[sessionware] options.onError threw:', hookErr);
  }
}
