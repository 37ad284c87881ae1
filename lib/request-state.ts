/**
 * `RequestState`: one request's side of its session (the {@link SessionHost}). It watches the
 * response only as much as the session needs: nothing while unused, a `finish` listener after a
 * read, {@link ResponseHook}s once a change is coming (the end of the response then waits for the
 * session to be stored). The id goes into the response headers as soon as the operation that
 * decided it settles.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientId } from './client-id';
import { SessionError, SessionStateError, StorageError } from './errors';
import type { Manager } from './manager';
import type { ResolvedOptions } from './options';
import { hookWriteHead, ResponseHook, setHookFinder, type HookOwner } from './response-hook';
import type { Session, SessionHost } from './session';
import { addVary, clearId, restore, retract, sendId, type Written } from './transport';

/** A Connect/Express-style `next`. */
export type NextFunction = (err?: unknown) => void;

/** Where a request keeps its state (innermost `session()` first; see {@link RequestState.outer}). @internal */
export const kState = Symbol('sessionware.state');
/** @internal */
export type StatefulRequest = IncomingMessage & { [kState]?: RequestState };

setHookFinder((res) => {
  for (let s = (res.req as StatefulRequest | undefined)?.[kState]; s !== undefined; s = s.outer) if (s.hook?.onPrototype) return s.hook;
  return undefined;
});

/** Headers that describe a response body; removed when a failed write replaces that body with an error. */
const BODY_HEADERS = ['content-type', 'content-length', 'content-encoding', 'etag', 'last-modified'];

/** @internal */
export class RequestState implements SessionHost, HookOwner {
  session: Session | undefined = undefined;
  client: ClientId | undefined = undefined;
  /** What the response headers say about the id (see `decide`). */
  applied = 'unused';
  /** What was written into the headers for `applied`: taken back if the decision changes. */
  written: Written | undefined = undefined;
  /** Committing failed: the response must not advertise the session. */
  failed = false;
  /** A change was started in this request (a logout may then clear a duplicated cookie). */
  changed = false;
  /** A `finish` listener closes the session (it was used, and made no change so far). */
  listening = false;
  /** The response hooks, once a change is coming. */
  hook: ResponseHook | undefined = undefined;
  /** `writeHead` merges the session's `Set-Cookie` back in. */
  headersHooked = false;
  /**
   * Runs when the application ends the response, before the session commits: a front end over the
   * session (the express-session property bag) turns what it tracked into session calls here. A
   * throw fails the request as a failed commit would. Set with {@link RequestState.holdEnd}.
   */
  beforeCommit: (() => void) | undefined = undefined;
  /** `beforeCommit` is running: the session still takes calls although `end()` was called. */
  #preCommit = false;
  /**
   * Set by a front end that presents the session its own way (`sessionware/express-session`):
   * `req.session` is then a plain property, and its first read takes this function's result.
   */
  present: (() => unknown) | undefined = undefined;
  /**
   * Whether an id the client already holds is sent again (its cookie's lifetime renewed), given
   * whether the cookie is persistent. Unset: a persistent cookie is re-sent whenever the session is
   * used. A front end with its own rule sets it (`sessionware/express-session`'s `rolling`).
   */
  resend: ((persistent: boolean) => boolean) | undefined = undefined;
  /** The id a front end shows as `req.sessionID` (`sessionware/express-session`), once it has one. */
  sessionID: string | undefined = undefined;

  constructor(
    readonly options: ResolvedOptions,
    readonly manager: Manager,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly next: NextFunction,
    /** The `session()` middleware this state belongs to. */
    readonly owner: object,
    /** The state of an outer `session()` on the same request, if any. */
    readonly outer: RequestState | undefined,
  ) {}

  get ended(): boolean {
    return !this.#preCommit && (this.hook?.ended === true || this.res.writableEnded);
  }

  /**
   * Hooks the response now, without marking a change, so that its end waits for the session and
   * runs `beforeCommit` first: for front ends whose changes the session only learns at the end.
   */
  holdEnd(beforeCommit: () => void): void {
    this.beforeCommit = beforeCommit;
    if (this.hook !== undefined) return;
    const reachable = (this.res.req as StatefulRequest | undefined)?.[kState] !== undefined;
    this.hook = new ResponseHook(this.res, this, reachable);
  }

  willRun(change: boolean): void {
    if (change) this.changed = true;
    if (this.hook !== undefined) return;
    if (change) {
      const reachable = (this.res.req as StatefulRequest | undefined)?.[kState] !== undefined;
      this.hook = new ResponseHook(this.res, this, reachable); // ending() now closes the session
    } else if (!this.listening) {
      this.listening = true;
      this.res.on('finish', () => finished(this));
    }
  }

  settled(): void {
    if (this.failed) return;
    try {
      if (this.hook === undefined) applyTransport(this);
      else this.hook.internal(() => applyTransport(this));
    } catch (err) {
      this.report(err);
    }
  }

  /** `end()` was called on a hooked response. */
  ending(): void {
    if (this.beforeCommit !== undefined) {
      this.#preCommit = true;
      try {
        this.beforeCommit();
      } catch (err) {
        failed(this, err);
        return;
      } finally {
        this.#preCommit = false;
      }
    }
    const refresh = (this.session as Session).closeIfClean();
    if (refresh === undefined) void finish(this); // changes to write first: the end waits for them
    else conclude(this, refresh); // nothing to write: end now, refresh the TTL after
  }

  beforeHeaders(): void {
    if (this.written !== undefined && !this.failed) restore(this.res, this.written);
  }

  /**
   * What the response must tell the client (see `decide`); `CookieStorage`'s request state
   * answers with a seal instead of an id.
   */
  transportDecision(): string {
    return decide(this);
  }

  report(err: unknown): void {
    const error = err instanceof SessionError ? err : new StorageError('session', 'close', 'unexpected failure', { cause: err });
    try {
      this.options.onError(error, this.req);
    } catch (hookErr) {
      console.error('[sessionware] options.onError threw:', hookErr);
    }
  }
}

/**
 * The response is complete. A session that made no change closes here (once a read the handler
 * did not wait for has settled) and refreshes its TTL.
 */
function finished(state: RequestState): void {
  if (state.hook !== undefined) return; // the end hook closes it
  (state.session as Session).commit().then(
    (refresh) => conclude(state, refresh),
    (err: unknown) => state.report(err),
  );
}

/**
 * Commits the session, then releases the end of the response: a write of a dirty session lands
 * before the client can see the response complete (read-your-writes).
 */
async function finish(state: RequestState): Promise<void> {
  let refresh: boolean;
  try {
    refresh = await (state.session as Session).commit();
  } catch (err) {
    failed(state, err);
    return;
  }
  conclude(state, refresh);
}

/** Committing failed: the error handler answers if the response has not started, else `onError`. */
function failed(state: RequestState, err: unknown): void {
  state.failed = true;
  const { res, hook } = state;
  if (!(hook ? hook.internal(() => res.headersSent) : res.headersSent)) {
    hook?.bypass(); // the end the application called is dropped: the error handler answers
    // The response has not started: Express's error handler can still answer with the error.
    // Drop what described the body that will now not be sent, and the id, so the handler starts clean.
    for (const name of BODY_HEADERS) res.removeHeader(name);
    if (state.written !== undefined) retract(res, state.options, state.written);
    state.written = undefined;
    state.next(err);
    return;
  }
  state.report(err);
  state.hook?.release();
}

/**
 * After a successful close: the final word about the id into the headers, then the held-back end
 * of the response (when it is hooked), then the TTL refresh a clean close wants.
 */
function conclude(state: RequestState, refresh: boolean): void {
  if (state.hook === undefined) settleTransport(state);
  else state.hook.internal(() => settleTransport(state));
  state.hook?.release();
  if (refresh) (state.session as Session).refreshTTL().catch((err: unknown) => state.report(err));
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
  const wanted = state.transportDecision();
  if (wanted !== state.applied && wanted !== 'none' && wanted !== 'unused') {
    state.report(new SessionStateError('the session id changed after the response headers were sent, so the client did not receive it; finish session work before writing the response.'));
  }
}

/**
 * What the response must tell the client about its id: `send:<id>` (a new, regenerated or
 * app-chosen id; or the same id again to slide a persistent cookie), `clear` (the client holds an
 * id that is gone: logout, unknown or expired), `none`, or `unused` (the session was never used:
 * the response carries nothing of it, not even `Vary`). A client that sent several values under the
 * name is only told to clear after a change (a logout): a planted duplicate must not log it out.
 */
function decide(state: RequestState): string {
  const { session, client, options } = state;
  if (!session || !client) return 'unused';
  const { used, id, stored, known, maxAge } = session.transportState;
  if (!used) return 'unused';
  if (stored && id !== undefined) {
    // A session with its own lifetime gets a cookie of that age: `send:<id>;<ms>`, or `send:<id>;session` for a browser-session cookie.
    const send = maxAge === undefined ? `send:${id}` : `send:${id};${maxAge ?? 'session'}`;
    const held = id === client.id || client.candidates.includes(id); // a duplicate the client sent, found after an unknown first one
    if (!held) return send;
    const persistent = maxAge === undefined ? options.cookie?.maxAge !== undefined : maxAge !== null;
    const again = client.via === 'cookie' && (state.resend === undefined ? persistent : state.resend(persistent));
    return again ? send : 'none';
  }
  if (!known || client.via === undefined || (client.duplicates && !state.changed)) return 'none';
  return 'clear';
}

/**
 * Brings the response headers in line with the session, as soon as an operation settles: takes
 * back what an earlier decision wrote and writes the new one. Once the headers are sent nothing can
 * change; `settleTransport` reports what the client missed.
 */
function applyTransport(state: RequestState): void {
  const decision = state.transportDecision();
  const { client, req, res, options } = state;
  if (decision === state.applied || res.headersSent) return;
  if (state.written !== undefined) retract(res, options, state.written);
  state.written = undefined;
  if (decision === 'unused') return; // cannot follow a used state; guards the send branch below
  const first = state.applied === 'unused';
  state.applied = decision;
  if (first) addVary(res, options);
  if (decision === 'clear') state.written = clearId(req, res, options, client as ClientId);
  else if (decision !== 'none') {
    const [id, age] = decision.slice('send:'.length).split(';');
    state.written = sendId(req, res, options, client as ClientId, id as string, age === undefined ? undefined : age === 'session' ? null : Number(age));
  }
  if (state.written?.cookie !== undefined && !state.headersHooked && state.hook === undefined) {
    state.headersHooked = true; // a ResponseHook merges writeHead headers itself
    hookWriteHead(res, state);
  }
}
