/**
 * `sessionware/memcache`: the memcached storage. A separate entry point, so `memcache-client` (a
 * peer dependency) is loaded only by applications that use memcached.
 *
 * @example
 * ```ts
 * import { session } from 'sessionware';
 * import { MemcacheStorage } from 'sessionware/memcache';
 *
 * app.use(session(new MemcacheStorage('127.0.0.1:11211')));
 * ```
 * @module
 */
export { MemcacheStorage } from './storage/memcache/memcache-storage';
export type { MemcacheStorageOptions } from './storage/memcache/memcache-options';
export type { MemcacheConnection } from './storage/memcache/memcache-client';
