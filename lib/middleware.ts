/**
 * `session()`: the Express/Connect middleware. It attaches a lazy `req.session` and closes it when
 * the response ends: a dirty session is written *before* the end of the response is released to
 * the client; a clean one has its TTL refreshed after it.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SessionError, SessionStateError, StorageError } from './errors';
import { Manager } from './manager';
import { resolveOptions, type ResolvedOptions, type SessionOptions } from './options';
import { Session } from './session';
import type { Storage } from './storage/storage';
import { addVary, clearId, readClientId, sendId, type ClientId } from './transport';

/** A Connect/Express-style `next`. */
export type NextFunction = (err?: unknown) => void;

/** The middleware `session()` returns; works with Express 4 and 5, Connect and `node:http`. */
export type SessionMiddleware = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;

/** Per-request state, kept on the request under a symbol (the response hooks reach it through `res.req`). */
class RequestState {
  session: Session | undefined = undefined;
  client: ClientId | undefined = undefined;
  /** What was written to the response headers about the id (see `decide`), once they went out. */
  applied: string | undefined = undefined;
  /** Committing failed: the response must not advertise the session. */
  failed = false;
  /** The response's own `writeHead`/`end`, and the arguments `end()` was called with. */
  writeHead: ServerResponse['writeHead'] | undefined = undefined;
  end: ServerResponse['end'] | undefined = undefined;
  endArgs: IArguments | undefined = undefined;

  constructor(
    readonly options: ResolvedOptions,
    readonly manager: Manager,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly next: NextFunction,
  ) {}
}

const kState = Symbol('sessionware.state');
/** Headers that describe a response body; removed when a failed write replaces that body with an error. */
const BODY_HEADERS = ['content-type', 'content-length', 'content-encoding', 'etag', 'last-modified'];
type StatefulRequest = IncomingMessage & { [kState]?: RequestState };
/** A response whose `req` (Node ≥ 15.7) leads back to the state: no extra property on the response. */
type HookedResponse = ServerResponse & { req: StatefulRequest };

/**
 * Creates the session middleware.
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
  });
  return function sessionMiddleware(req, res, next) {
    const r = req as StatefulRequest;
    if (r[kState]) return next(); // mounted twice: the first one serves
    r[kState] = new RequestState(resolved, manager, req, res, next);
    Object.defineProperty(req, 'session', SESSION_PROPERTY);
    next();
  };
}

/** `req.session`: one shared accessor, so requests keep one hidden class. */
const SESSION_PROPERTY: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: StatefulRequest): Session | undefined {
    const state = this[kState];
    return state && (state.session ?? open(state));
  },
  set() {
    throw new SessionStateError('req.session is managed by sessionware and cannot be replaced; use req.session.removeAll() to log out.');
  },
};

/** First touch of `req.session`: read the id (no I/O) and hook the response. */
function open(state: RequestState): Session {
  state.client = readClientId(state.req, state.options);
  const session = new Session(state.manager, state.client.id, 'client');
  state.session = session;
  // First touched after the response ended: nothing could store it any more, so say so at once.
  if (state.res.writableEnded) void session.commit();
  else hookResponse(state);
  return session;
}

/**
 * Hooks `end` (the session commits before the end is released) and, when needed, `writeHead` (the
 * id goes into the headers as they leave). The hooks are shared functions that find their state
 * through `res.req`, so hooking allocates nothing per request.
 */
function hookResponse(state: RequestState): void {
  const res = state.res;
  state.end = res.end;
  res.end = sessionEnd as ServerResponse['end'];
  // The headers only need watching once the id the client holds may change, when every use
  // re-sends a sliding cookie, or when a rejected id must be cleared: a plain read of an existing
  // session leaves writeHead alone.
  const client = state.client as ClientId;
  if (state.options.cookie?.maxAge !== undefined || (client.via !== undefined && client.id === undefined)) hookWriteHead(state);
  else (state.session as Session).onIdChange = () => hookWriteHead(state);
}

function hookWriteHead(state: RequestState): void {
  if (state.writeHead !== undefined || state.res.headersSent) return;
  state.writeHead = state.res.writeHead;
  state.res.writeHead = sessionWriteHead as ServerResponse['writeHead'];
}

function sessionWriteHead(this: HookedResponse): ServerResponse {
  const state = this.req[kState] as RequestState;
  if (!state.failed) applyTransport(state);
  return Reflect.apply(state.writeHead as ServerResponse['writeHead'], this, arguments) as ServerResponse;
}

function sessionEnd(this: HookedResponse): ServerResponse {
  const state = this.req[kState] as RequestState;
  this.end = state.end as ServerResponse['end']; // a second end() behaves exactly as Node's own
  state.endArgs = arguments;
  const refresh = (state.session as Session).closeIfClean();
  if (refresh === undefined) {
    void finish(state); // changes to write first: the end waits for them
  } else {
    settleTransport(state); // nothing to write: end now, refresh the TTL after
    release(state);
    if (refresh) refreshTTL(state);
  }
  return this;
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
      // Drop what described the body that will now not be sent, so the handler starts clean.
      for (const name of BODY_HEADERS) state.res.removeHeader(name);
      state.next(err);
      return;
    }
    report(state, err);
    release(state);
    return;
  }
  settleTransport(state);
  release(state);
  if (refresh) refreshTTL(state);
}

/** Puts the id into the headers, or, if they already left, reports an id the client missed. */
function settleTransport(state: RequestState): void {
  if (!state.res.headersSent) {
    applyTransport(state);
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

/** Writes the id (or its removal) into the response headers, once. */
function applyTransport(state: RequestState): void {
  if (state.applied !== undefined) return;
  const decision = decide(state);
  if (decision === 'unused') return;
  const { client, options, req, res } = state;
  state.applied = decision;
  addVary(res, options);
  if (decision === 'clear') clearId(req, res, options, client as ClientId);
  else if (decision !== 'none') sendId(req, res, options, client as ClientId, decision.slice('send:'.length));
}

function report(state: RequestState, err: unknown): void {
  const error = err instanceof SessionError ? err : new StorageError('session', 'close', 'unexpected failure', { cause: err });
  try {
    state.options.onError(error, state.req);
  } catch (hookErr) {
    console.error('[sessionware] options.onError threw:', hookErr);
  }
}
