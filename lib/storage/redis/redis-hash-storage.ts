/**
 * `RedisHashStorage`: one Redis hash per session, one field per session key. Per-key reads and
 * writes go straight to Redis, and every write resets the TTL in the same atomic step.
 * @module
 */
import { RedisStorageBase, changeArgs, type RedisBaseOptions } from './redis-base';
import { LuaScript, type RedisConnection } from './redis-client';
import type { SessionChanges, SessionRecord, WriteOptions } from '../storage';

/**
 * Options of {@link RedisHashStorage}: `prefix` (default `'session:'`), `updateTTLInterval`
 * (default `10_000`), `commandTimeout` (default `2_000`) and `onError` (default: `console.error`).
 * See {@link RedisBaseOptions} for each.
 */
export interface RedisHashStorageOptions extends RedisBaseOptions {}

/**
 * Writes fields and resets the TTL in one atomic step.
 * KEYS[1] = session hash. ARGV = ttl (ms), create ('1'/'0'), number of set pairs, the pairs, then
 * the removed fields. Unless `create` is '1', a missing hash is left missing and the script returns
 * 0: a write never brings back a session removed by a concurrent logout. `PEXPIRE` runs in the same
 * script, so a hash is never left without an expiry.
 */
const WRITE = new LuaScript(`
if ARGV[2] ~= '1' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
for j = i, #ARGV do redis.call('HDEL', KEYS[1], ARGV[j]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`);

const NO_REMOVALS: ReadonlySet<string> = new Set();

/**
 * Keeps each session as a Redis hash under `prefix + id` (standalone, Sentinel or Cluster): one
 * field per session key, holding the value's JSON text, so types survive (a number stays a number).
 * Unlike gsession's hash storage, every write sets the TTL in the same Lua script, so a session
 * never outlives its TTL if the process dies mid-request.
 *
 * Commands: `getSession` is one `HGETALL` (it resolves the whole record; `undefined` when the hash
 * is missing or expired), and the session answers `get()` for keys it brought without another
 * round trip; `get` (`HGET`) is only used for keys written since the load. `data` is `HGETALL` and
 * `getSize` is `HLEN`: they read the current state in Redis, including what overlapping requests
 * wrote since. `set`/`setMap`/`setSession` are one `EVALSHA` each (fields + `PEXPIRE`, honouring
 * `create`); `remove` is one `HDEL`; `removeAll` is `DEL`; clean closes queue a batched `PEXPIRE`
 * like {@link RedisStorage}. A read-only request therefore costs one command, as with
 * {@link RedisStorage}.
 *
 * A Redis hash cannot be empty: **a session whose last key is removed no longer exists** (its
 * next request starts a new session with a new id), and a session with no keys is never stored.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { session } from 'sessionware';
 * import { RedisHashStorage } from 'sessionware/redis';
 *
 * app.use(session(new RedisHashStorage(new Redis(), { prefix: 'myapp:sess:' })));
 * ```
 */
export class RedisHashStorage extends RedisStorageBase {
  /**
   * @param redis an ioredis `Redis` or `Cluster` client (left open by `close()`), or ioredis
   *   connection options / a `redis://` URL (the storage creates the client and closes it).
   * @throws {SessionOptionsError} on an invalid option.
   */
  constructor(redis: RedisConnection, options: RedisHashStorageOptions = {}) {
    super('RedisHashStorage', redis, options);
  }

  /** `HGETALL`: the whole session, or `undefined` when the hash does not exist. */
  async getSession(id: string, _ttl?: number): Promise<SessionRecord | undefined> {
    const record = await this.#all('getSession', id);
    return record.size > 0 ? record : undefined;
  }

  /** `HGET`: one value's JSON text, or `undefined`. */
  async get(id: string, key: string): Promise<string | undefined> {
    const value = await this.redis.call('get', 'HGET', this.key(id), key);
    return typeof value === 'string' ? value : undefined;
  }

  /** `HLEN`: the number of keys. */
  async getSize(id: string): Promise<number> {
    const size = await this.redis.call('getSize', 'HLEN', this.key(id));
    return typeof size === 'number' ? size : 0;
  }

  /** `HGETALL`: every key of the session (an empty map when it does not exist). */
  data(id: string): Promise<SessionRecord> {
    return this.#all('data', id);
  }

  /** One `EVALSHA`: `HSET` + `PEXPIRE`, atomically; resolves `false` when the write was dropped. */
  set(id: string, key: string, value: string, ttl: number, options: WriteOptions): Promise<boolean> {
    return this.#write('set', id, new Map([[key, value]]), NO_REMOVALS, ttl, options);
  }

  /** One `EVALSHA`: every field + `PEXPIRE`, atomically; resolves `false` when the write was dropped. */
  setMap(id: string, values: SessionRecord, ttl: number, options: WriteOptions): Promise<boolean> {
    return this.#write('setMap', id, values, NO_REMOVALS, ttl, options);
  }

  /** One `HDEL` (which never creates a hash). Removing the last key removes the session. */
  async remove(id: string, keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.redis.call('remove', 'HDEL', this.key(id), ...keys);
  }

  /** One `EVALSHA`: applies `changes` field by field onto the stored hash and resets its TTL. */
  setSession(id: string, changes: SessionChanges, ttl: number, options: WriteOptions): Promise<boolean> {
    return this.#write('setSession', id, changes.set, changes.removed, ttl, options);
  }

  async #write(operation: string, id: string, set: SessionRecord, removed: ReadonlySet<string>, ttl: number, options: WriteOptions): Promise<boolean> {
    const args = changeArgs(ttl, options.create, set, removed);
    return (await this.redis.script(operation, WRITE, this.key(id), args)) === 1;
  }

  async #all(operation: string, id: string): Promise<Map<string, string>> {
    // ioredis may answer HGETALL as an object or as a flat [field, value, ...] array.
    const reply = await this.redis.call(operation, 'HGETALL', this.key(id));
    const record = new Map<string, string>();
    const entries: unknown[] = Array.isArray(reply) ? pairs(reply) : reply instanceof Map ? [...(reply as Map<unknown, unknown>)] : reply !== null && typeof reply === 'object' ? Object.entries(reply) : [];
    for (const entry of entries) {
      const [field, value] = entry as [unknown, unknown];
      if (typeof field === 'string' && typeof value === 'string') record.set(field, value);
    }
    return record;
  }
}

function pairs(flat: readonly unknown[]): Array<[unknown, unknown]> {
  const out: Array<[unknown, unknown]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}
