/**
 * `sessionware/express-session`: a drop-in for express-session (same options, same `req.session`
 * property bag with callback methods) running on sessionware's core and storages.
 * @example
 * ```ts
 * import { session } from 'sessionware/express-session';
 * app.use(session({ secret: process.env.SESSION_SECRET! }));
 * ```
 * @module
 */
import type { IncomingMessage } from 'node:http';
import { session } from './express-session/compat-middleware';
import type { CompatSession } from './express-session/property-bag';

export { session };
export type { ExpressSessionMiddleware } from './express-session/compat-middleware';
export type { ExpressCookieOptions, ExpressSessionOptions } from './express-session/compat-options';
export type { CompatSession, SessionCallback, SessionCookie } from './express-session/property-bag';

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
export function sessionOf(req: IncomingMessage): CompatSession {
  return (req as IncomingMessage & { session?: unknown }).session as CompatSession;
}

