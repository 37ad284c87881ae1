/**
 * `sessionware/express-session-store`: {@link StoreAdapter}, which makes any express-session
 * `Store` (connect-redis, connect-pg-simple, connect-mongo, ...) a sessionware `Storage`. A separate
 * entry point: applications that do not use it load none of it.
 *
 * @example
 * ```ts
 * import { RedisStore } from 'connect-redis';
 * import { session } from 'sessionware';
 * import { StoreAdapter } from 'sessionware/express-session-store';
 *
 * app.use(session(new StoreAdapter(new RedisStore({ client }))));
 * ```
 * @module
 */
export { StoreAdapter, type StoreAdapterOptions, type TouchMode } from './storage/express-store/store-adapter';
export type { ExpressStore, ExpressStoreCallback, StoreSession, StoreCookie } from './storage/express-store/express-store-types';
