/**
 * `RedisStorage`: each session is one Redis string under `prefix + id` (length-prefixed entries,
 * see `kv-format`), with a native Redis expiry. Reads cost one command; dirty closes merge only
 * what changed, atomically, in a Lua script that touches only the changed entries.
 * @module
 */
import { CorruptSessionError } from '../../errors';
import { RedisStorageBase, changeArgs, toTTL, type MoveSnapshot, type RedisBaseOptions } from './redis-base';
import { APPLY_MOVE_LUA, CREATE_LUA } from './redis-lua';
import { LuaScript, type RedisConnection } from './redis-client';
import { KV_LUA, decodeKv, encodeKv, type KvValue } from './kv-format';
import { loadAndSetArgs, unloadedWriteOf } from './redis-hash-unloaded';
import { LOAD_AND_SET_KV, UNREADABLE } from './redis-kv-unloaded';
import type { SessionChanges, SessionRecord, UnloadedWrite, WriteOptions } from '../storage';

/**
 * Options of {@link RedisStorage}: `prefix` (default `'session:'`), `updateTTLInterval` (default
 * `10_000`), `commandTimeout` (default `2_000`), `batchCommands` (default `true`) and `onError` (default: `console.error`). See
 * {@link RedisBaseOptions} for each.
 */
export interface RedisStorageOptions extends RedisBaseOptions {}

/**
 * Merges a request's changes into the stored session, atomically (see `kv-format` for the layout:
 * only the changed entries are touched). KEYS = session key, forward key. ARGV = ttl (ms), create
 * (a deadline, or '0': see `CREATE_LUA`), number of set pairs, the pairs, then the removed keys. A
 * missing (or unreadable) session is created only before the `create` deadline; otherwise nothing is written and the script returns
 * 0, so a write never brings back a session removed by a concurrent logout. When the session moved
 * (a forward), the script returns the new id and writes nothing: the caller writes there.
 */
const MERGE = new LuaScript(`${KV_LUA}${CREATE_LUA}
local n = tonumber(ARGV[3])
local drop, adds = {}, {}
for i = 4, 3 + 2 * n, 2 do
  drop[ARGV[i]] = true
  adds[#adds + 1] = entry(ARGV[i], ARGV[i + 1])
end
for j = 4 + 2 * n, #ARGV do drop[ARGV[j]] = true end
local st = open(KEYS[1], drop)
if not st then
  local stop = absent()
  if stop then return stop end
end
commit(KEYS[1], st, drop, adds, ARGV[1])
return done()
`);

/**
 * Compare-and-set of one key. KEYS as {@link MERGE}. ARGV = ttl, create, key, has expected
 * ('1'/'0'), expected, has next, next. Returns 1 (written), 2 (conflict), 0 (gone) or the id the
 * session moved to.
 */
const CAS = new LuaScript(`${KV_LUA}${CREATE_LUA}
local st = open(KEYS[1], { [ARGV[3]] = true })
if not st then
  local stop = absent()
  if stop then return stop end
end
local e = st and st.live[ARGV[3]]
local current = e and value(st, e)
if ARGV[4] == '1' then
  if current ~= ARGV[5] then return 2 end
elseif current then
  return 2
end
local adds = {}
if ARGV[6] == '1' then adds[1] = entry(ARGV[3], ARGV[7]) end
commit(KEYS[1], st, { [ARGV[3]] = true }, adds, ARGV[1])
return done()
`);

/** Standalone move: see `RedisStorageBase.moveSession`. Returns the moved record, flat, or nil. */
const MOVE = new LuaScript(`${KV_LUA}${APPLY_MOVE_LUA}
local st = open(KEYS[1])
if not st then return false end
local data = {}
for k, e in pairs(st.live) do data[k] = value(st, e) end
apply(data)
local out, flat = { 'S' .. hex(1) .. hex(0) }, {}
for k, v in pairs(data) do
  out[#out + 1] = entry(k, v)
  flat[#flat + 1] = k
  flat[#flat + 1] = v
end
redis.call('SET', KEYS[3], table.concat(out), 'PX', ARGV[1])
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
return flat
`);

/** Cluster move, step 3: swaps the old session for the forward if its header (version) is unchanged. */
const SWAP = new LuaScript(`
local head = redis.call('GETRANGE', KEYS[1], 0, 16)
if string.sub(head, 1, 1) ~= 'S' then return 0 end
if head ~= ARGV[1] then return 2 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
`);

/** Rewrites a value of the old layout in the new one (what `open` does), expiry kept. */
const CONVERT = new LuaScript(`${KV_LUA}
open(KEYS[1])
return 1
`);

/**
 * Keeps each session as one Redis string under `prefix + id` (standalone, Sentinel or Cluster),
 * with its TTL as a native Redis expiry (`PX`). The value is a list of length-prefixed entries
 * (key, JSON text), so that a write never decodes or re-encodes the whole session inside Redis:
 * it marks the entries it replaces dead and appends the new ones (compacting now and then).
 *
 * - **Read** (`getSession`): one `GET`.
 * - **Dirty close** (`setSession`): one `EVALSHA` of a Lua script that applies only the changed and
 *   removed keys onto what is stored *now* and resets the TTL, so overlapping requests keep each
 *   other's changes, and that never re-creates a session removed meanwhile. Its cost grows with the
 *   number of keys and the size of the change, not with the size of the session.
 * - **Write before any read** (`loadAndSet`, a request whose first operation is a `set()`): one
 *   `EVALSHA` that writes the values onto the stored session and returns it, instead of `GET` +
 *   `EVALSHA`.
 * - **Update** (`compareAndSet`): one `EVALSHA`.
 * - **Login** (`moveSession`): one `EVALSHA` (three round trips on a Cluster: see
 *   {@link RedisStorageBase.moveSession}).
 * - **Clean close** (`updateTTL`): queued and sent with other refreshes every `updateTTLInterval`,
 *   so a read-only request costs one Redis command on average.
 * - **Logout** (`removeAll`): one `EVALSHA` (`DEL` of the session and of its forward, if it moved).
 * - **Count** (`count`): a `SCAN` of the keyspace (see {@link RedisStorageBase.count}).
 * - **Owner index** (`setOwner`, `sessionsOf`, `revoke`): a sorted set per owner under
 *   `prefix + 'owner:' + sha256(owner)`; `addOwner` and `ownerSessions` are one script each
 *   (pruning ended sessions as they go), `forgetOwner` one `ZREM`; reads and writes of sessions
 *   cost nothing more (see {@link RedisStorageBase.addOwner}).
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
    return (await this.#read('getSession', id))?.record;
  }

  /** One `EVALSHA`: merges `changes` into the stored session and resets its TTL (see the class doc). */
  async setSession(id: string, changes: SessionChanges, ttl: number, options: WriteOptions): Promise<boolean> {
    const args = changeArgs(ttl, options.create, changes.set, changes.removed);
    return (await this.writeFollowing('setSession', MERGE, id, args)) === 1;
  }

  /**
   * One `EVALSHA`: the write of a request that did not load the session (its first operation is a
   * `set()`), checked against `maxBytes` and followed by the load, in one script: the same entries,
   * TTL and version as {@link RedisStorage.setSession} with `create: false`, and the record a `GET`
   * would give, in one round trip instead of two. Never follows a forward, never creates. A stored
   * value it cannot read is a missing session, reported to `onError` as on a read.
   */
  async loadAndSet(id: string, values: SessionRecord, ttl: number, maxBytes: number): Promise<UnloadedWrite | undefined> {
    const reply = await this.redis.script('loadAndSet', LOAD_AND_SET_KV, this.key(id), loadAndSetArgs(values, ttl, maxBytes));
    if (reply === UNREADABLE) this.#corrupt('loadAndSet');
    return unloadedWriteOf(reply);
  }

  protected readonly casScript = CAS;
  protected readonly moveScript = MOVE;
  protected readonly swapScript = SWAP;

  protected async readForMove(id: string): Promise<MoveSnapshot | undefined> {
    let value = await this.#read('moveSession', id);
    if (value?.head === '') {
      // the old layout has no version: rewrite it in the new one and read again
      await this.redis.script('moveSession', CONVERT, this.key(id), []);
      value = await this.#read('moveSession', id);
    }
    return value && value.head !== '' ? { record: value.record, version: value.head } : undefined;
  }

  protected async writeMoved(id: string, record: SessionRecord, ttl: number): Promise<void> {
    await this.redis.call('moveSession', 'SET', this.key(id), encodeKv(record), 'PX', toTTL(ttl));
  }

  async #read(operation: string, id: string): Promise<KvValue | undefined> {
    const raw = await this.redis.callBuffer(operation, 'GET', this.key(id));
    if (!Buffer.isBuffer(raw)) return undefined;
    try {
      return decodeKv(raw);
    } catch (err) {
      this.#corrupt(operation, err);
      return undefined;
    }
  }

  /** Reports a stored value that cannot be decoded to `onError`. */
  #corrupt(operation: string, cause?: unknown): void {
    try {
      this.#onError(new CorruptSessionError('RedisStorage', operation, 'the stored session has an unknown layout; treating it as missing', cause === undefined ? undefined : { cause }));
    } catch (hookErr) {
      console.error('[sessionware] options.onError threw:', hookErr);
    }
  }
}
