/**
 * `RedisHashStorage`: one Redis hash per session, one field per session key. Per-key reads and
 * writes go straight to Redis, and every write resets the TTL in the same atomic step.
 * @module
 */
import { RedisStorageBase, changeArgs, toTTL, type MoveSnapshot, type RedisBaseOptions } from './redis-base';
import { APPLY_MOVE_LUA, CREATE_LUA } from './redis-lua';
import { LuaScript, type RedisConnection } from './redis-client';
import { LOAD_AND_SET, loadAndSetArgs, unloadedWriteOf } from './redis-hash-unloaded';
import type { SessionChanges, SessionRecord, UnloadedWrite, WriteOptions } from '../storage';

/**
 * Options of {@link RedisHashStorage}: `prefix` (default `'session:'`), `updateTTLInterval`
 * (default `10_000`), `commandTimeout` (default `2_000`), `batchCommands` (default `true`) and `onError` (default: `console.error`).
 * See {@link RedisBaseOptions} for each.
 */
export interface RedisHashStorageOptions extends RedisBaseOptions {}

/**
 * The reserved field every session hash carries, so that a session with no keys still exists. Its
 * name is the single byte 0xFF, which never occurs in UTF-8: no user key (a well-formed UTF-16
 * string, encoded as UTF-8 by ioredis) can be named like it, and it is told apart by its bytes
 * (replies are read as `Buffer`s), not by its decoded text (ioredis would decode it as U+FFFD,
 * which *is* a valid user key). Its value is `s<version>`; every write changes the version.
 */
const META = '\\255';

/**
 * Lua prologue of the writes. KEYS = session hash, forward key. Sets `meta` (false for a hash of
 * an earlier version, which has none); returns from the script with the new id when the session
 * moved, with 0 when it is missing and ARGV[2] (create) is '0' or its deadline passed (`CREATE_LUA`).
 */
const OPEN_LUA = `${CREATE_LUA}
local META = '${META}'
local meta = redis.call('HGET', KEYS[1], META)
if not meta and redis.call('EXISTS', KEYS[1]) == 0 then
  local stop = absent()
  if stop then return stop end
end
local version = (meta and tonumber(string.sub(meta, 2)) or 0) + 1
-- the reserved field first, so removing the last user key leaves the hash in place
redis.call('HSET', KEYS[1], META, 's' .. version)
`;

/**
 * Writes fields and resets the TTL in one atomic step (see {@link OPEN_LUA} for KEYS). ARGV = ttl
 * (ms, or '' to keep the TTL), create (a deadline or '0'), number of set pairs, the pairs, then the removed
 * fields. A missing hash is created only when `create` is '1': a write never brings back a session
 * removed by a concurrent logout. `PEXPIRE` runs in the same script, so a hash is never left
 * without an expiry.
 */
const WRITE = new LuaScript(`${OPEN_LUA}
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
for j = i, #ARGV do redis.call('HDEL', KEYS[1], ARGV[j]) end
if ARGV[1] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return done()
`);

/**
 * Compare-and-set of one field. ARGV = ttl, create, field, has expected, expected, has next, next.
 * Returns 1 (written), 2 (conflict), 0 (gone) or the id the session moved to. Nothing is written
 * on a conflict.
 */
const CAS = new LuaScript(`${CREATE_LUA}
local META = '${META}'
local meta = redis.call('HGET', KEYS[1], META)
if not meta and redis.call('EXISTS', KEYS[1]) == 0 then
  local stop = absent()
  if stop then return stop end
end
local current = redis.call('HGET', KEYS[1], ARGV[3])
if ARGV[4] == '1' then
  if current ~= ARGV[5] then return 2 end
elseif current then
  return 2
end
redis.call('HSET', KEYS[1], META, 's' .. ((meta and tonumber(string.sub(meta, 2)) or 0) + 1))
if ARGV[6] == '1' then redis.call('HSET', KEYS[1], ARGV[3], ARGV[7]) else redis.call('HDEL', KEYS[1], ARGV[3]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return done()
`);

/** The number of user fields (the reserved one left out). */
const SIZE = new LuaScript(`
local n = redis.call('HLEN', KEYS[1])
if n > 0 and redis.call('HEXISTS', KEYS[1], '${META}') == 1 then n = n - 1 end
return n
`);

/** Standalone move: see `RedisStorageBase.moveSession`. Returns the moved record, flat, or nil. */
const MOVE = new LuaScript(`${APPLY_MOVE_LUA}
local META = '${META}'
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local all = redis.call('HGETALL', KEYS[1])
local data = {}
for i = 1, #all, 2 do
  if all[i] ~= META then data[all[i]] = all[i + 1] end
end
apply(data)
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], META, 's1')
local flat = {}
for k, v in pairs(data) do
  redis.call('HSET', KEYS[3], k, v)
  flat[#flat + 1] = k
  flat[#flat + 1] = v
end
redis.call('PEXPIRE', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
return flat
`);

/** Cluster move, step 2: replaces the hash with the moved record. ARGV = ttl, then the pairs. */
const REPLACE = new LuaScript(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], '${META}', 's1')
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`);

/** Cluster move, step 3: swaps the old hash for the forward if its version is unchanged ('' = none). */
const SWAP = new LuaScript(`
local meta = redis.call('HGET', KEYS[1], '${META}')
if not meta then
  if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
  meta = ''
end
if meta ~= ARGV[1] then return 2 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
`);

const NO_REMOVALS: ReadonlySet<string> = new Set();

/**
 * Keeps each session as a Redis hash under `prefix + id` (standalone, Sentinel or Cluster): one
 * field per session key, holding the value's JSON text, so types survive (a number stays a number),
 * plus one reserved field (named by the byte 0xFF, which no user key can be) that keeps a session
 * with no keys alive and versions it. Unlike gsession's hash storage, every write sets the TTL in
 * the same Lua script, so a session never outlives its TTL if the process dies mid-request.
 *
 * Commands: `getSession` is one `HGETALL` (it resolves the whole record; `undefined` when the hash
 * is missing or expired), and the session answers `get()` for keys it brought without another
 * round trip; `get` (`HGET`) is only used for keys written since the load. `data` is `HGETALL` and
 * `getSize` one script (`HLEN` less the reserved field): they read the current state in Redis,
 * including what overlapping requests wrote since. `set`/`setMap`/`setSession`/`remove`/
 * `compareAndSet` are one `EVALSHA` each (fields + `PEXPIRE`, honouring `create`, following a
 * forward left by `moveSession`); a request whose first operation is a `set()` on an existing
 * session writes and loads it with one `EVALSHA` (`loadAndSet`) instead of `HGETALL` + `EVALSHA`; `removeAll` is one script (`DEL`); `moveSession` one script (three
 * round trips on a Cluster, see {@link RedisStorageBase.moveSession}); clean closes queue a batched
 * `PEXPIRE` like {@link RedisStorage}. A read-only request therefore costs one command, as with
 * {@link RedisStorage}. The owner index is the same as {@link RedisStorage}'s (a sorted set per
 * owner; one script to add, one to list, pruning ended sessions as they go).
 *
 * A session whose last key is removed still exists (as every storage's does) until it expires or
 * is removed.
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
    return (await this.#all('getSession', id))?.record;
  }

  /** `HGET`: one value's JSON text, or `undefined`. */
  async get(id: string, key: string): Promise<string | undefined> {
    const value = await this.redis.call('get', 'HGET', this.key(id), key);
    return typeof value === 'string' ? value : undefined;
  }

  /** One script (`HLEN`): the number of keys. */
  async getSize(id: string): Promise<number> {
    const size = await this.redis.script('getSize', SIZE, this.key(id), []);
    return typeof size === 'number' ? size : 0;
  }

  /** `HGETALL`: every key of the session (an empty map when it does not exist). */
  async data(id: string): Promise<SessionRecord> {
    return (await this.#all('data', id))?.record ?? new Map();
  }

  /** One `EVALSHA`: `HSET` + `PEXPIRE`, atomically; resolves `false` when the write was dropped. */
  set(id: string, key: string, value: string, ttl: number, options: WriteOptions): Promise<boolean> {
    return this.#write('set', id, new Map([[key, value]]), NO_REMOVALS, ttl, options);
  }

  /** One `EVALSHA`: every field + `PEXPIRE`, atomically; resolves `false` when the write was dropped. */
  setMap(id: string, values: SessionRecord, ttl: number, options: WriteOptions): Promise<boolean> {
    return this.#write('setMap', id, values, NO_REMOVALS, ttl, options);
  }

  /**
   * One `EVALSHA`: the write of a request that did not load the session (its first operation is a
   * `set()`), checked against `maxBytes` and followed by the load, in one script: the same fields,
   * TTL and version as {@link RedisHashStorage.setMap} with `create: false`, and the record an
   * `HGETALL` would give, in one round trip instead of two. Never follows a forward, never creates.
   */
  async loadAndSet(id: string, values: SessionRecord, ttl: number, maxBytes: number): Promise<UnloadedWrite | undefined> {
    return unloadedWriteOf(await this.redis.script('loadAndSet', LOAD_AND_SET, this.key(id), loadAndSetArgs(values, ttl, maxBytes)));
  }

  /** One `EVALSHA` (`HDEL`, never creating a hash, TTL unchanged). The session outlives its last key. */
  async remove(id: string, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const args = changeArgs(1, false, new Map(), keys);
    args[0] = '';
    await this.writeFollowing('remove', WRITE, id, args);
  }

  /** One `EVALSHA`: applies `changes` field by field onto the stored hash and resets its TTL. */
  setSession(id: string, changes: SessionChanges, ttl: number, options: WriteOptions): Promise<boolean> {
    return this.#write('setSession', id, changes.set, changes.removed, ttl, options);
  }

  protected readonly casScript = CAS;
  protected readonly moveScript = MOVE;
  protected readonly swapScript = SWAP;

  protected async readForMove(id: string): Promise<MoveSnapshot | undefined> {
    const read = await this.#all('moveSession', id);
    return read && { record: read.record, version: read.meta };
  }

  protected async writeMoved(id: string, record: SessionRecord, ttl: number): Promise<void> {
    const args: string[] = [String(toTTL(ttl))];
    for (const [key, value] of record) args.push(key, value);
    await this.redis.script('moveSession', REPLACE, this.key(id), args);
  }

  async #write(operation: string, id: string, set: SessionRecord, removed: ReadonlySet<string>, ttl: number, options: WriteOptions): Promise<boolean> {
    const args = changeArgs(ttl, options.create, set, removed);
    return (await this.writeFollowing(operation, WRITE, id, args)) === 1;
  }

  /** `HGETALL` as `Buffer`s: the user fields, and the reserved field's value (`''` when absent); `undefined` for no hash. */
  async #all(operation: string, id: string): Promise<{ record: Map<string, string>; meta: string } | undefined> {
    // ioredis may answer HGETALL as a flat [field, value, ...] array or (RESP3) as a Map.
    const reply = await this.redis.callBuffer(operation, 'HGETALL', this.key(id));
    const entries: Array<[unknown, unknown]> = Array.isArray(reply) ? pairs(reply) : reply instanceof Map ? [...(reply as Map<unknown, unknown>)] : [];
    if (entries.length === 0) return undefined;
    const record = new Map<string, string>();
    let meta = '';
    for (const [field, value] of entries) {
      if (!Buffer.isBuffer(field) || !Buffer.isBuffer(value)) continue;
      if (field.length === 1 && field[0] === 0xff) meta = value.toString('latin1');
      else record.set(field.toString('utf8'), value.toString('utf8'));
    }
    return { record, meta };
  }
}

function pairs(flat: readonly unknown[]): Array<[unknown, unknown]> {
  const out: Array<[unknown, unknown]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}
