/**
 * `RedisHashStorage.loadAndSet`: a write to a session the request has not loaded, and its load, in
 * one script (one round trip instead of `HGETALL` + the write script). Its arguments, its reply and
 * its choice of TTL are shared with `RedisStorage.loadAndSet` (`redis-kv-unloaded`).
 * @internal
 * @module
 */
import { LuaScript } from './redis-client';
import { recordOf } from './redis-lua';
import { toTTL } from './redis-base';
import type { SessionRecord, UnloadedWrite } from '../storage';

/**
 * Lua shared by the `loadAndSet` scripts: `pairsOf()` reads the pairs of ARGV (from ARGV[4], their
 * number in ARGV[3]) into `new` (key -> text, the last of a repeated key) and `order` (first
 * appearance); `ownTTL(text, fallback)` is the TTL a write sets, the session's own (`text`, the
 * JSON text of `$sw:ttl`, or nil/false) when it is a positive number, else `fallback`.
 */
export const LOAD_AND_SET_LUA = `
local function pairsOf()
  local new, order = {}, {}
  local i = 4
  for _ = 1, tonumber(ARGV[3]) do
    if new[ARGV[i]] == nil then order[#order + 1] = ARGV[i] end
    new[ARGV[i]] = ARGV[i + 1]
    i = i + 2
  end
  return new, order
end
local function ownTTL(text, fallback)
  local own = tonumber(text)
  if own and own == own and own > 0 and own ~= math.huge then return math.max(1, math.ceil(own)) end
  return fallback
end
`;

/**
 * KEYS = session hash. ARGV = ttl (ms), maxBytes, number of set pairs, the pairs. Never creates a
 * hash and never follows a forward: a missing hash replies 0. Otherwise it sums the UTF-8 bytes of
 * every user field (the reserved 0xFF field left out) with the pairs applied; beyond maxBytes it
 * replies `{ 2, record }` and writes nothing, else it bumps the version, writes the pairs, sets the
 * TTL (the session's own `$sw:ttl` when the pairs or the hash hold a positive number, else ARGV[1])
 * and replies `{ 1, record }`, `record` being the flat fields after the write.
 */
export const LOAD_AND_SET = new LuaScript(`${LOAD_AND_SET_LUA}
local META = '\\255'
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local new, order = pairsOf()
local all = redis.call('HGETALL', KEYS[1])
local flat = {}
local bytes = 0
local meta = false
for j = 1, #all, 2 do
  local k = all[j]
  if k == META then
    meta = all[j + 1]
  elseif new[k] == nil then
    bytes = bytes + #k + #all[j + 1]
    flat[#flat + 1] = k
    flat[#flat + 1] = all[j + 1]
  end
end
for _, k in ipairs(order) do bytes = bytes + #k + #new[k] end
if bytes > tonumber(ARGV[2]) then
  local current = {}
  for j = 1, #all, 2 do
    if all[j] ~= META then current[#current + 1] = all[j]; current[#current + 1] = all[j + 1] end
  end
  return { 2, current }
end
local version = (meta and tonumber(string.sub(meta, 2)) or 0) + 1
redis.call('HSET', KEYS[1], META, 's' .. version)
for _, k in ipairs(order) do
  redis.call('HSET', KEYS[1], k, new[k])
  flat[#flat + 1] = k
  flat[#flat + 1] = new[k]
end
redis.call('PEXPIRE', KEYS[1], ownTTL(new['$sw:ttl'] or redis.call('HGET', KEYS[1], '$sw:ttl'), ARGV[1]))
return { 1, flat }
`);

/** The arguments of both `loadAndSet` scripts: ttl, maxBytes, the number of pairs, the pairs. */
export function loadAndSetArgs(values: SessionRecord, ttl: number, maxBytes: number): string[] {
  const args = [String(toTTL(ttl)), String(Number.isFinite(maxBytes) ? Math.max(0, Math.floor(maxBytes)) : Number.MAX_SAFE_INTEGER), String(values.size)];
  for (const [key, value] of values) args.push(key, value);
  return args;
}

/** The reply of either `loadAndSet` script as {@link UnloadedWrite}; `undefined` for no session (any reply but `{ code, flat }`). */
export function unloadedWriteOf(reply: unknown): UnloadedWrite | undefined {
  if (!Array.isArray(reply)) return undefined;
  const [code, flat] = reply as unknown[];
  return { record: recordOf(Array.isArray(flat) ? flat : []), written: code === 1 };
}
