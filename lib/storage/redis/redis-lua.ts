/**
 * Lua shared by the Redis storages' scripts: logout, the arguments of a move, and the deadline of
 * the writes that may create a session.
 * @internal
 * @module
 */
import { LuaScript } from './redis-client';

/**
 * Logout. KEYS = session key, forward key. Deletes both; replies `{ deleted, target }`, `target`
 * being the id the session moved to (the caller deletes that one too), or nil.
 */
export const DELETE = new LuaScript(`
local target = redis.call('GET', KEYS[2])
if target then redis.call('DEL', KEYS[2]) end
return { redis.call('DEL', KEYS[1]), target }
`);

/**
 * Lua shared by the move scripts: ARGV = ttl, forwardTTL, newId, nset, nremoved, keep ('1': keep
 * only the listed keys), then the set pairs, the removed keys and the kept keys. Applies them to
 * the table `data` (key -> JSON text).
 */
export const APPLY_MOVE_LUA = `
local function apply(data)
  local i = 7
  for _ = 1, tonumber(ARGV[4]) do data[ARGV[i]] = ARGV[i + 1]; i = i + 2 end
  for _ = 1, tonumber(ARGV[5]) do data[ARGV[i]] = nil; i = i + 1 end
  if ARGV[6] == '1' then
    local keep = {}
    for j = i, #ARGV do keep[ARGV[j]] = true end
    for k in pairs(data) do if not keep[k] then data[k] = nil end end
  end
end
`;

/**
 * Lua shared by the writes that may create a session. ARGV[2] is '0' (never create) or the Redis
 * time (ms) after which this call may no longer create it: a write that timed out on the client
 * (and answered an error) but reaches Redis later is dropped, so it can never bring back a session
 * that was removed meanwhile. `creatable()` returns the reply to give up with, or nil; `done()` the
 * success reply (with Redis's time when it created, from which the client learns the clock offset).
 * `absent()`, for a write that found no session under KEYS[1]: the id it moved to (KEYS[2] is its
 * forward key; the client follows it), else what `creatable()` says.
 */
export const CREATE_LUA = `
local created = false
local function creatable()
  if ARGV[2] == '0' then return 0 end
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  created = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if created > tonumber(ARGV[2]) then return { 3, created } end
  return nil
end
local function done()
  if created then return { 1, created } end
  return 1
end
local function absent()
  local target = redis.call('GET', KEYS[2])
  if target then return target end
  return creatable()
end
`;

/** A flat `[key, value, ...]` script reply as a record. */
export function recordOf(flat: readonly unknown[]): Map<string, string> {
  const record = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) record.set(String(flat[i]), String(flat[i + 1]));
  return record;
}
