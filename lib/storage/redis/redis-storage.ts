/**
 * `RedisStorage`: each session is one JSON value under `prefix + id`, with a native Redis expiry.
 * Reads cost one command; dirty closes merge only what changed, atomically, in a Lua script.
 * @module
 */
import { CorruptSessionError } from '../../errors';
import { decodeRecord } from '../record-codec';
import { RedisStorageBase, changeArgs, type RedisBaseOptions } from './redis-base';
import { LuaScript, type RedisConnection } from './redis-client';
import type { SessionChanges, SessionRecord, WriteOptions } from '../storage';

/**
 * Options of {@link RedisStorage}: `prefix` (default `'session:'`), `updateTTLInterval` (default
 * `10_000`), `commandTimeout` (default `2_000`) and `onError` (default: `console.error`). See
 * {@link RedisBaseOptions} for each.
 */
export interface RedisStorageOptions extends RedisBaseOptions {}

/**
 * Merges a request's changes into the stored session, atomically.
 * KEYS[1] = session key. ARGV = ttl (ms), create ('1'/'0'), number of set pairs, the pairs, then
 * the removed keys. The stored value is a JSON object whose values are JSON *strings* (see
 * `encodeRecord`), so cjson only ever handles strings and never rounds a number. A missing (or
 * unreadable) session is created only when `create` is '1'; otherwise nothing is written and the
 * script returns 0, so a write never brings back a session removed by a concurrent logout.
 */
const MERGE = new LuaScript(`
local raw = redis.call('GET', KEYS[1])
local data
if raw then
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' then data = decoded end
end
if not data then
  if ARGV[2] ~= '1' then return 0 end
  data = {}
end
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  data[ARGV[i]] = ARGV[i + 1]
  i = i + 2
end
for j = i, #ARGV do data[ARGV[j]] = nil end
local out = '{}'
if next(data) ~= nil then out = cjson.encode(data) end
redis.call('SET', KEYS[1], out, 'PX', ARGV[1])
return 1
`);

/**
 * Keeps each session as one JSON value under `prefix + id` in Redis (standalone, Sentinel or
 * Cluster), with its TTL as a native Redis expiry (`PX`).
 *
 * - **Read** (`getSession`): one `GET`.
 * - **Dirty close** (`setSession`): one `EVALSHA` of a Lua script that applies only the changed and
 *   removed keys onto what is stored *now* and resets the TTL, so overlapping requests keep each
 *   other's changes, and that never re-creates a session removed meanwhile.
 * - **Clean close** (`updateTTL`): queued and sent with other refreshes every `updateTTLInterval`,
 *   so a read-only request costs one Redis command on average.
 * - **Logout** (`removeAll`): one `DEL`.
 *
 * A stored value that cannot be decoded is treated as a missing session and reported to `onError`
 * as a `CorruptSessionError`.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { Redis } from 'ioredis';
 * import { session } from 'sessionware';
 * import { RedisStorage } from 'sessionware/redis';
 *
 * const storage = new RedisStorage(new Redis(process.env.REDIS_URL!), { prefix: 'myapp:sess:' });
 * const app = express();
 * app.use(session(storage));
 * process.on('SIGTERM', () => void storage.close()); // flushes pending TTL refreshes
 * ```
 * @example Let the storage create (and close) its client
 * ```ts
 * const storage = new RedisStorage({ host: '127.0.0.1', port: 6379 });
 * ```
 */
export class RedisStorage extends RedisStorageBase {
  readonly #onError: (err: CorruptSessionError) => void;

  /**
   * @param redis an ioredis `Redis` or `Cluster` client (left open by `close()`), or ioredis
   *   connection options / a `redis://` URL (the storage creates the client and closes it).
   * @throws {SessionOptionsError} on an invalid option.
   */
  constructor(redis: RedisConnection, options: RedisStorageOptions = {}) {
    super('RedisStorage', redis, options);
    this.#onError = options.onError ?? ((err) => console.error(`[sessionware] ${err.name} (${err.code}): ${err.message}`));
  }

  /** `GET`: resolves the whole session, or `undefined` when it is missing, expired or unreadable. */
  async getSession(id: string, _ttl?: number): Promise<SessionRecord | undefined> {
    const raw = await this.redis.call('getSession', 'GET', this.key(id));
    if (typeof raw !== 'string') return undefined;
    try {
      return decodeRecord(raw);
    } catch (err) {
      try {
        this.#onError(new CorruptSessionError('RedisStorage', 'getSession', 'the stored session is not a JSON object of JSON texts; treating it as missing', { cause: err }));
      } catch (hookErr) {
        console.error('[sessionware] options.onError threw:', hookErr);
      }
      return undefined;
    }
  }

  /** One `EVALSHA`: merges `changes` into the stored session and resets its TTL (see the class doc). */
  async setSession(id: string, changes: SessionChanges, ttl: number, options: WriteOptions): Promise<boolean> {
    const args = changeArgs(ttl, options.create, changes.set, changes.removed);
    return (await this.redis.script('setSession', MERGE, this.key(id), args)) === 1;
  }
}
