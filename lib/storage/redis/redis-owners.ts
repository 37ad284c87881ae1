/**
 * The owner index of the Redis storages ("log out everywhere"): one sorted set per owner, under
 * `prefix + 'owner:' + sha256(owner)` (base64url), whose members are session ids and whose scores
 * are the time (ms, Redis's clock) until which a member whose session key is missing is kept:
 * `addOwner` time + its TTL (the session may not be written yet: `setOwner()` comes before the
 * write), moved on to the session's expiry each time a member is found live.
 *
 * - `addOwner`: one script (`ZADD` keeping the later score, then checks the members whose score
 *   passed, at most {@link PRUNE} of them: a missing session is removed, a live one gets its
 *   current expiry as its score). So dead ids never pile up, and each addition costs O(1) checks.
 * - `ownerSessions`: one script: `PTTL` of each member's session key; live ones are listed with
 *   Redis's time + their `PTTL`; a forward (the session moved) or a missing key whose score passed
 *   is removed.
 * - `forgetOwner`: `ZREM`.
 *
 * The set has no expiry of its own: a session's TTL is extended by later requests (and batched
 * refreshes) that never touch the index, so an index key that expired with the TTL given at
 * `setOwner()` would forget live sessions and `revoke()` would miss them. It empties (and Redis
 * deletes it) as its sessions end and are pruned; an owner who never comes back leaves one small
 * key with the ids of their last sessions.
 *
 * On a Cluster the index and the sessions live in different slots, so no script can see both:
 * the same steps run as single-key commands (`ZRANGE`, then `PTTL` per member, then a script on
 * the index that removes only members whose score still allows it).
 * @internal
 * @module
 */
import { createHash } from 'node:crypto';
import type { OwnedSession } from '../storage';
import { LuaScript, type RedisClient } from './redis-client';

/** How many members whose score passed an `addOwner` checks. */
export const PRUNE = 8;

/** A session's key and its forward's key, from a member, in Lua (ARGV[1] = prefix, ARGV[2] = '1' when the prefix has a `{hash tag}`). */
const KEYS_LUA = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function session(m) return ARGV[1] .. m end
local function forward(m)
  if ARGV[2] == '1' then return ARGV[1] .. m .. '>' end
  return '{' .. ARGV[1] .. m .. '}>'
end
-- checks member m (score s): returns its expiry when live; removes it when it is gone for good
local function check(m, s)
  local pttl = redis.call('PTTL', session(m))
  if pttl == -1 then return 9007199254740991 end
  if pttl >= 0 then return now + pttl end
  if s < now or redis.call('EXISTS', forward(m)) == 1 then redis.call('ZREM', KEYS[1], m) end
  return nil
end
`;

/** KEYS = index; ARGV = prefix, tagged, id, ttl, prune. */
const ADD = new LuaScript(`${KEYS_LUA}
local until_ = now + tonumber(ARGV[4])
local s = redis.call('ZSCORE', KEYS[1], ARGV[3])
if not s or tonumber(s) < until_ then redis.call('ZADD', KEYS[1], until_, ARGV[3]) end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[5]))
for i = 1, #due, 2 do
  local at = check(due[i], tonumber(due[i + 1]))
  if at then redis.call('ZADD', KEYS[1], at, due[i]) end
end
return 1
`);

/** KEYS = index; ARGV = prefix, tagged. Replies `{ id, expiresAt, ... }`. */
const LIST = new LuaScript(`${KEYS_LUA}
local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #all, 2 do
  local at = check(all[i], tonumber(all[i + 1]))
  if at then
    out[#out + 1] = all[i]
    out[#out + 1] = at
  end
end
return out
`);

/** Cluster: adds one member. KEYS = index; ARGV = id, ttl. Replies Redis's time (ms). */
const ADD_ONLY = new LuaScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ = now + tonumber(ARGV[2])
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) < until_ then redis.call('ZADD', KEYS[1], until_, ARGV[1]) end
return now
`);

/**
 * Cluster: settles members checked with single-key commands. KEYS = index; ARGV = now, then
 * triples (id, expiry or '', forwarded '1'/'0'). A live member gets its expiry as score (never an
 * earlier one); a missing one is removed if forwarded or if its score (possibly raised by an
 * `addOwner` since the check) is before `now`.
 */
const SETTLE = new LuaScript(`
local now = tonumber(ARGV[1])
for i = 2, #ARGV, 3 do
  local m, at = ARGV[i], ARGV[i + 1]
  local s = redis.call('ZSCORE', KEYS[1], m)
  if s then
    if at ~= '' then
      if tonumber(s) < tonumber(at) then redis.call('ZADD', KEYS[1], at, m) end
    elseif ARGV[i + 2] == '1' or tonumber(s) < now then
      redis.call('ZREM', KEYS[1], m)
    end
  end
end
return 1
`);

/** How the owner index reaches the sessions: the client, and the storage's key naming. */
export interface OwnerKeys {
  readonly redis: RedisClient;
  readonly prefix: string;
  /** The key of session `id`. */
  key(id: string): string;
  /** The key of the forward `moveSession` leaves for `id`. */
  forwardKey(id: string): string;
}

/** The owner index of one Redis storage. @internal */
export class RedisOwnerIndex {
  readonly #keys: OwnerKeys;
  readonly #tagged: string;

  constructor(keys: OwnerKeys) {
    this.#keys = keys;
    this.#tagged = keys.forwardKey('x').startsWith('{') ? '0' : '1';
  }

  /** The index key of `owner`: any string becomes a fixed-length, Redis-safe name. */
  indexKey(owner: string): string {
    return `${this.#keys.prefix}owner:${createHash('sha256').update(owner, 'utf8').digest('base64url')}`;
  }

  async add(owner: string, id: string, ttl: number): Promise<void> {
    const { redis } = this.#keys;
    const key = this.indexKey(owner);
    if (!redis.isCluster) {
      await redis.script('addOwner', ADD, key, [this.#keys.prefix, this.#tagged, id, ttl, PRUNE]);
      return;
    }
    const now = Number(await redis.script('addOwner', ADD_ONLY, key, [id, ttl]));
    const due = (await redis.call('addOwner', 'ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, PRUNE)) as unknown[];
    await this.#settle('addOwner', key, now, due.map(String));
  }

  async list(owner: string): Promise<OwnedSession[]> {
    const { redis } = this.#keys;
    const key = this.indexKey(owner);
    if (!redis.isCluster) {
      const flat = (await redis.script('ownerSessions', LIST, key, [this.#keys.prefix, this.#tagged])) as unknown[];
      const listed: OwnedSession[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) listed.push({ id: String(flat[i]), expiresAt: Number(flat[i + 1]) });
      return listed;
    }
    const ids = ((await redis.call('ownerSessions', 'ZRANGE', key, 0, -1)) as unknown[]).map(String);
    return this.#settle('ownerSessions', key, await this.#time(), ids);
  }

  async forget(owner: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#keys.redis.call('forgetOwner', 'ZREM', this.indexKey(owner), ...ids);
  }

  /** Cluster: checks `ids` with single-key commands and settles the index; resolves the live ones. */
  async #settle(operation: string, key: string, now: number, ids: readonly string[]): Promise<OwnedSession[]> {
    if (ids.length === 0) return [];
    const { redis } = this.#keys;
    const checked = await Promise.all(
      ids.map(async (id) => {
        const pttl = Number(await redis.call(operation, 'PTTL', this.#keys.key(id)));
        if (pttl === -1) return { id, expiresAt: Number.MAX_SAFE_INTEGER, forwarded: false };
        if (pttl >= 0) return { id, expiresAt: now + pttl, forwarded: false };
        const forwarded = Number(await redis.call(operation, 'EXISTS', this.#keys.forwardKey(id))) === 1;
        return { id, expiresAt: undefined, forwarded };
      }),
    );
    const args: string[] = [String(now)];
    for (const c of checked) args.push(c.id, c.expiresAt === undefined ? '' : String(c.expiresAt), c.forwarded ? '1' : '0');
    await redis.script(operation, SETTLE, key, args);
    return checked.flatMap((c) => (c.expiresAt === undefined ? [] : [{ id: c.id, expiresAt: c.expiresAt }]));
  }

  async #time(): Promise<number> {
    const [s, us] = (await this.#keys.redis.call('ownerSessions', 'TIME')) as [string, string];
    return Number(s) * 1000 + Math.floor(Number(us) / 1000);
  }
}
