/**
 * `sessionware/redis`: the Redis storages. A separate entry point, so `ioredis` (a peer dependency)
 * is loaded only by applications that use Redis.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { session } from 'sessionware';
 * import { RedisStorage } from 'sessionware/redis';
 *
 * app.use(session(new RedisStorage(new Redis())));
 * ```
 * @module
 */
export { RedisStorage, type RedisStorageOptions } from './storage/redis/redis-storage';
export { RedisHashStorage, type RedisHashStorageOptions } from './storage/redis/redis-hash-storage';
export type { RedisBaseOptions } from './storage/redis/redis-base';
export type { RedisConnection } from './storage/redis/redis-client';
