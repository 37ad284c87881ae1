/**
 * `RedisStorage.loadAndSet`: a write to a session the request has not loaded, and its load, in one
 * script (one round trip instead of `GET` + the write script). The arguments and the reply are
 * those of `RedisHashStorage.loadAndSet` (see `redis-hash-unloaded`).
 * @internal
 * @module
 */
import { LuaScript } from './redis-client';
import { KV_LUA } from './kv-format';
import { LOAD_AND_SET_LUA } from './redis-hash-unloaded';

/** The script's reply for a stored value it cannot read (the loaded path reports it as corrupt). */
export const UNREADABLE = -1;

/**
 * KEYS = session key. ARGV = ttl (ms), maxBytes, number of set pairs, the pairs (as
 * `loadAndSetArgs` builds them). Never creates a value and never follows a forward (the forward
 * key is not even touched): a missing value replies 0, one it cannot read {@link UNREADABLE}, both
 * writing nothing. Otherwise it sums the bytes of every live entry's key and JSON text with the
 * pairs applied (the bytes `maxSessionBytes` counts, as the session counts them before a loaded
 * write); beyond maxBytes it replies `{ 2, record }` and writes nothing, else it applies the pairs
 * as the merge script does (the replaced entries marked dead, the new ones appended, the version
 * bumped, compacting when due), sets the TTL (the session's own `$sw:ttl` when the pairs or the
 * stored entries hold a positive number, else ARGV[1]) and replies `{ 1, record }`, `record` being
 * the flat live entries after the write. A value of the layout before `kv-format` is rewritten in
 * it first (its content unchanged), as every write does.
 */
export const LOAD_AND_SET_KV = new LuaScript(`${KV_LUA}${LOAD_AND_SET_LUA}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local st = open(KEYS[1])
if not st then return ${UNREADABLE} end
local new, order = pairsOf()
local flat = {}
local bytes = 0
for k, e in pairs(st.live) do
  if new[k] == nil then
    flat[#flat + 1] = k
    flat[#flat + 1] = value(st, e)
    bytes = bytes + e.len - 18
  end
end
for _, k in ipairs(order) do bytes = bytes + #k + #new[k] end
if bytes > tonumber(ARGV[2]) then
  for _, k in ipairs(order) do
    local e = st.live[k]
    if e then flat[#flat + 1] = k; flat[#flat + 1] = value(st, e) end
  end
  return { 2, flat }
end
local stored = st.live['$sw:ttl']
local ttl = ownTTL(new['$sw:ttl'] or (stored and value(st, stored)), ARGV[1])
local adds = {}
for _, k in ipairs(order) do
  adds[#adds + 1] = entry(k, new[k])
  flat[#flat + 1] = k
  flat[#flat + 1] = new[k]
end
local failed = commit(KEYS[1], st, new, adds, ttl)
if failed then return failed end
return { 1, flat }
`);
