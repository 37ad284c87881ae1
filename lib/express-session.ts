/**
 * `sessionware/express-session`: a drop-in for express-session (same options, same `req.session`
 * property bag with callback methods) running on sessionware's core and storages.
 * @example
 * ```ts
 * import session from 'sessionware/express-session';
 * app.use(session({ secret: process.env.SESSION_SECRET! }));
 * ```
 * @module
 */
import { session } from './express-session/compat-middleware';

export { session };
export type { ExpressSessionMiddleware } from './express-session/compat-middleware';
export type { ExpressCookieOptions, ExpressSessionOptions } from './express-session/compat-options';
export type { CompatSession, SessionCallback, SessionCookie } from './express-session/property-bag';
export default session;
