/**
 * The express-session-compatible middleware: sessionware's core `session()` underneath (transport,
 * response hooks, storages, guarantees), express-session's `req.session` on top.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readClientId } from '../client-id';
import { generateId } from '../id';
import { nativeSession, session as coreSession, type NextFunction } from '../middleware';
import { MemoryStorage } from '../storage/memory';
import type { Storage } from '../storage/storage';
import { resolveCompat, type ExpressSessionOptions, type ResolvedCompat } from './compat-options';
import { BagControl } from './property-bag';
import { presentSessionId } from './session-id-property';

/** The middleware {@link session} returns. */
export interface ExpressSessionMiddleware {
  (req: IncomingMessage, res: ServerResponse, next: NextFunction): void;
  /** The storage sessions live in (the `store` option, or the default `MemoryStorage`). */
  readonly storage: Storage;
  /** Closes the storage; call it on shutdown. */
  close(): Promise<void>;
}

type CompatRequest = IncomingMessage & { session?: unknown; sessionID?: string; originalUrl?: string; secure?: boolean };

/**
 * express-session's middleware, on sessionware: same options, same `req.session`, with
 * sessionware's guarantees (only changed properties are written, a logout stays a logout, the
 * session is stored before the client sees the response complete).
 * @throws {SessionOptionsError} at once on an invalid or unknown option.
 * @example
 * ```ts
 * import express from 'express';
 * import { session, sessionOf } from 'sessionware/express-session';
 *
 * const app = express();
 * app.use(session({ secret: process.env.SESSION_SECRET!, saveUninitialized: false, cookie: { maxAge: 86_400_000 } }));
 * app.get('/', (req, res) => {
 *   const s = sessionOf(req);
 *   s['views'] = (Number(s['views']) || 0) + 1;
 *   res.send(`views: ${String(s['views'])}`);
 * });
 * ```
 */
export function session(options: ExpressSessionOptions): ExpressSessionMiddleware {
  const compat = resolveCompat(options);
  const core = coreSession(options.store ?? new MemoryStorage(), compat.core);
  const middleware = function expressSession(req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
    const r = req as CompatRequest;
    if (r.session !== undefined) return next(); // express-session: a session set by earlier code wins
    if (!pathMatches(r, compat.path)) return next();
    if (compat.proxy !== undefined) Object.defineProperty(r, 'secure', { value: isSecure(r, compat.proxy), configurable: true, writable: true });
    let failed: unknown;
    let ready = false;
    // The core calls this at once (its setup), and later with a commit failure: that goes to `next(err)`.
    core(req, res, function coreNext(err?: unknown) {
      if (ready) next(err);
      else failed = err;
    });
    ready = true;
    if (failed !== undefined) return next(failed);
    const found = nativeSession(req);
    if (found === undefined) return next();
    const { session: native, state } = found;
    const client = state.client ?? readClientId(req, state.options); // opening the session read it (one signature check)
    // The id a new session will get, made when first needed (a loaded session needs none): `req.sessionID` shows it before it is stored.
    let pending: string | undefined;
    const nextId = (): string => (pending ??= makeId(compat, r));
    native.setIdFunc(function compatId() {
      const id = nextId();
      pending = undefined;
      return id;
    });
    let ctl: BagControl | undefined;
    // express-session's shouldSetCookie for an id the client holds: rolling || (persistent && modified);
    // and a cookie whose lifetime this request changed, so that the browser learns it.
    state.resend = compat.rolling ? resendAlways : (persistent) => ctl !== undefined && ((persistent && ctl.isModified()) || ctl.lifetimeChanged());
    const end = (): void => {
      if (ctl !== undefined) beforeCommit(ctl, r, compat);
    };
    const open = (id: string): BagControl => {
      const made = new BagControl(native, state, req, compat.maxAge, compat.saveUninitialized, id);
      ctl = made;
      state.holdEnd(end);
      presentSessionId(r, state, id);
      return made;
    };
    if (client.id === undefined) {
      let made = false;
      state.present = () => {
        if (made) return undefined;
        made = true;
        return open(nextId()).bag;
      };
      return next();
    }
    // Hooked before the load, so the load's read adds no `finish` listener (the end hook closes the session).
    state.holdEnd(end);
    native.texts().then(
      (texts) => {
        const ctl = open(native.isNew() ? nextId() : (client.id as string));
        ctl.fill(texts);
        state.present = () => undefined;
        r.session = ctl.bag;
        next();
      },
      (err: unknown) => next(err),
    );
  };
  return Object.defineProperties(middleware, {
    storage: { get: () => core.storage, enumerable: true },
    close: { value: () => core.close() },
  }) as ExpressSessionMiddleware;
}

const resendAlways = (): boolean => true;

/** At the end of the response: `req.session` replaced or deleted (`unset`), else its changes handed over. */
function beforeCommit(ctl: BagControl, req: CompatRequest, compat: ResolvedCompat): void {
  if (ctl.bag === null) return; // destroyed
  const current = Object.hasOwn(req, 'session') ? req.session : undefined;
  if (current !== ctl.bag) {
    if (compat.unset === 'destroy') void ctl.native.removeAll().catch((err: unknown) => ctl.state.report(err));
    return;
  }
  void ctl.flush().catch(() => undefined); // the same failure surfaces from the commit
}

function makeId(compat: ResolvedCompat, req: IncomingMessage): string {
  return compat.genid ? compat.genid(req) : generateId();
}

/** express-session's path gate: the original URL's path must start with the cookie path. */
function pathMatches(req: CompatRequest, path: string): boolean {
  if (path === '/') return true;
  const url = req.originalUrl ?? req.url ?? '/';
  const q = url.indexOf('?');
  return (q === -1 ? url : url.slice(0, q)).startsWith(path);
}

/** express-session's `proxy`: `true` trusts the first `X-Forwarded-Proto`, `false` only a TLS socket. */
function isSecure(req: IncomingMessage, proxy: boolean): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted === true) return true;
  if (!proxy) return false;
  const header = req.headers['x-forwarded-proto'];
  const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0]?.trim().toLowerCase();
  return first === 'https';
}
