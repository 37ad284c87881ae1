/**
 * `sessionware/express-session` for ES modules: the CommonJS module (`express-session.ts`)
 * re-exported, so `import session from 'sessionware/express-session'` is the middleware factory
 * and `import { session, sessionOf }` works too, with the very same functions `require()` gives.
 * @example
 * ```ts
 * import session, { sessionOf } from 'sessionware/express-session';
 * app.use(session({ secret: process.env.SESSION_SECRET! }));
 * ```
 * @module
 */
import expressSession from './express-session.js';

export default expressSession;

/** The middleware factory, also the default export. See `express-session.ts`. */
export const session: typeof expressSession.session = expressSession.session;

/** `req.session` typed as the property bag. See `express-session.ts`. */
export const sessionOf: typeof expressSession.sessionOf = expressSession.sessionOf;

export type { CompatSession, ExpressCookieOptions, ExpressSessionMiddleware, ExpressSessionOptions, SessionCallback, SessionCookie } from './express-session.js';
