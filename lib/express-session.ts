/**
 * `sessionware/express-session`: a drop-in for express-session (same options, same `req.session`
 * property bag with callback methods) running on sessionware's core and storages.
 *
 * As in express-session, the module itself is the middleware factory, whichever way it is loaded:
 * `require('sessionware/express-session')` and the default import are callable, and `session` and
 * `sessionOf` are there as named exports too. CommonJS gets this module (`module.exports` is the
 * function, the named exports are its properties); ES modules get `express-session.mts`, which
 * re-exports it, so both see one and the same function.
 * @example
 * ```ts
 * import session from 'sessionware/express-session'; // or: const session = require('sessionware/express-session');
 * app.use(session({ secret: process.env.SESSION_SECRET! }));
 * ```
 * @module
 */
import type { IncomingMessage } from 'node:http';
import { session as createSession, type ExpressSessionMiddleware as Middleware } from './express-session/compat-middleware';
import type { ExpressCookieOptions as CookieOptions, ExpressSessionOptions as Options } from './express-session/compat-options';
import type { CompatSession as Bag, SessionCallback as Callback, SessionCookie as Cookie } from './express-session/property-bag';

/**
 * express-session's middleware, on sessionware: same options, same `req.session`, with
 * sessionware's guarantees (only changed properties are written, a logout stays a logout, the
 * session is stored before the client sees the response complete).
 * @throws {SessionOptionsError} at once on an invalid or unknown option.
 * @example
 * ```ts
 * import express from 'express';
 * import session from 'sessionware/express-session';
 *
 * const app = express();
 * app.use(session({ secret: process.env.SESSION_SECRET!, saveUninitialized: false, cookie: { maxAge: 86_400_000 } }));
 * app.get('/', (req, res) => {
 *   const s = session.sessionOf(req);
 *   s['views'] = (Number(s['views']) || 0) + 1;
 *   res.send(`views: ${String(s['views'])}`);
 * });
 * ```
 */
function expressSession(options: Options): Middleware {
  return createSession(options);
}

// eslint-disable-next-line @typescript-eslint/no-namespace
namespace expressSession {
  /** The middleware factory itself, for `import { session } from 'sessionware/express-session'`. */
  export const session: typeof expressSession = expressSession;

  /**
   * `req.session` typed as the property bag, for TypeScript: the `sessionware` package types
   * `req.session` as its promise-based `Session`. `undefined` after `destroy()` or without the middleware.
   * @example
   * ```ts
   * app.get('/', (req, res) => {
   *   const s = sessionOf(req);
   *   s['views'] = (Number(s['views']) || 0) + 1;
   *   res.send(String(s['views']));
   * });
   * ```
   */
  export function sessionOf(req: IncomingMessage): Bag {
    return (req as IncomingMessage & { session?: unknown }).session as Bag;
  }

  /** The middleware {@link session} returns. */
  export type ExpressSessionMiddleware = Middleware;
  /** Options of the express-session-compatible middleware. */
  export type ExpressSessionOptions = Options;
  /** express-session's `cookie` option. */
  export type ExpressCookieOptions = CookieOptions;
  /** `req.session`: the property bag with express-session's callback methods. */
  export type CompatSession = Bag;
  /** A callback as express-session's methods take it. */
  export type SessionCallback = Callback;
  /** `req.session.cookie`. */
  export type SessionCookie = Cookie;
}

export = expressSession;
